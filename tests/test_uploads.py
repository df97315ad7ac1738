"""*Your gallery*'s upload area (no app, no model): flattening and limits, zip bombs, quotas,
replacement and clean-up, sessions without a heartbeat."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from lightclip_core.errors import LightCLIPError
from lightclip_core.gallery import Gallery
from lightclip_core.app.uploads import MAX_RATIO, UploadArea, ingest_uploads


def _png(color=(255, 0, 0), size=(32, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def test_uploads_are_flattened_limited_and_listed(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(_png())
    (src / "notes.txt").write_text("hello")
    (src / "broken.jpg").write_bytes(b"not really a jpeg")
    zpath = src / "people.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../../escape.png", _png((0, 255, 0)))
        zf.writestr("/abs/path.png", _png((0, 0, 255)))
        zf.writestr("dir/ok.png", _png())
        zf.writestr("readme.md", "x")
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    dest = tmp_path / "dest"
    res = ingest_uploads([src / "a.png", src / "notes.txt", src / "broken.jpg", zpath], dest)
    files = sorted(p.name for p in dest.iterdir())
    assert all(p.parent == dest for p in dest.rglob("*"))  # nothing outside, nothing nested
    assert not (tmp_path / "escape.png").exists() and not Path("/abs/path.png").exists()
    assert len(files) == res.added == 5  # a.png, broken.jpg (decoded later), 3 zip images
    reasons = dict(res.skipped)
    assert "not an image or zip file" in reasons["notes.txt"]
    assert reasons["people.zip:link.png"] == "a link inside the zip"
    gallery = Gallery.load(dest, dataset="folder")
    assert len(gallery) == 4 and any("broken" in p for p, _ in gallery.skipped)
    res = ingest_uploads([src / "a.png"] * 3, tmp_path / "d2", max_images=2)
    assert res.added == 2 and "over the limit of 2 images" in res.skipped[0][1]


def test_a_zip_bomb_writes_nothing(tmp_path):
    """Members of zeros inflate 1000x: refused from the zip's directory, before a byte is written."""
    zpath = tmp_path / "zeros.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(20):
            zf.writestr(f"person_{i}.png", b"\0" * (10 * 2**20))
        zf.writestr("real.png", _png())
    assert zpath.stat().st_size < 300_000
    res = ingest_uploads([zpath], tmp_path / "dest")
    assert res.added == 1 and len(res.skipped) == 20
    assert all(f"compressed more than {MAX_RATIO}×" in why for _, why in res.skipped)
    assert sum(p.stat().st_size for p in (tmp_path / "dest").iterdir()) == len(_png())


def test_upload_area_quotas_replacement_and_clean_up(tmp_path):
    area = UploadArea(tmp_path / "up", session_bytes=1000, total_bytes=2500, max_age_s=3600)
    a1, room = area.open()
    assert room == 1000 and a1.is_dir()
    (a1 / "x.png").write_bytes(b"x" * 900)
    area.keep("alice", a1)
    a2, _ = area.open()
    (a2 / "y.png").write_bytes(b"y" * 500)
    area.keep("alice", a2)  # a session holds one gallery: its previous one goes
    assert not a1.exists() and a2.is_dir()
    b1, room = area.open()
    assert room == 1000  # 2500 - 500 held
    (b1 / "z.png").write_bytes(b"z" * 600)  # b1 half written: it counts as its promise, not twice
    c1, room = area.open()
    assert room == 1000  # 2500 - 500 held - 1000 promised to b1
    with pytest.raises(LightCLIPError, match="holds all the uploads it may"):
        area.open()  # 500 held + 2000 promised
    area.discard(c1)
    assert not c1.exists()
    area.keep("bob", b1)
    area.end_session("bob")
    assert not b1.exists()
    area.end_session("nobody")  # no gallery: nothing to do
    old = time.time() - 7200
    os.utime(a2, (old, old))
    assert area.reap() == [a2] and not a2.exists()
    area.end_session("alice")  # already reaped: nothing left to delete, no error


def test_sessions_without_a_heartbeat_give_way_and_every_stored_byte_counts(tmp_path):
    """Seven REST clients fill the app and never say goodbye: an eighth can upload once they sit idle,
    the one idle longest going first, and a gallery unused for idle_s goes by itself."""
    area = UploadArea(tmp_path / "up", session_bytes=300, total_bytes=2200, idle_s=3600, evict_idle_s=0.2)
    folders = []
    for i in range(7):
        folder, _ = area.open()
        (folder / "x.png").write_bytes(b"x" * 280)
        area.keep(f"rest-{i}", folder)
        folders.append(folder)
    (area.root / "gradio").mkdir()
    (area.root / "gradio" / "raw-upload.bin").write_bytes(b"r" * 100)  # Gradio's own upload route: counted
    small, room = area.open()  # 7 x 280 + 100 held, and every gallery was used a moment ago: what is left
    assert room == 2200 - 7 * 280 - 100
    area.discard(small)
    time.sleep(0.3)
    area.touch("rest-0")  # rest-0 searched its gallery just now: it stays
    folder, room = area.open()
    assert room == 300 and not folders[1].exists() and folders[0].exists()
    assert all(f.exists() for f in folders[2:])
    assert area.reap() == [] and (area.root / "gradio").is_dir()  # Gradio's folder is never reaped as a session's
    area.idle_s = 0.1
    time.sleep(0.2)
    assert sorted(area.reap()) == sorted([folders[0], *folders[2:]])
    area.discard(folder)
