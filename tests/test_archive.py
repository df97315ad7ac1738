"""Footage archives: many videos into one gallery, resumable, here or on local Ray workers; the
gallery equals the one the single-process path writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from lightclip_core import create_model  # noqa: E402
from lightclip_core.archive import (PARTS, archive_sources, build_archive_gallery, read_manifest,  # noqa: E402
                                    _check_address)
from lightclip_core.checkpoints import save_checkpoint  # noqa: E402
from lightclip_core.footage import (FOOTAGE_FILE, FootageError, build_footage_gallery,  # noqa: E402
                                    make_detector, probe_video, sample_video, video_segments)

from test_footage import make_clip, vtest_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_runtime(monkeypatch):
    """Every path here embeds on PyTorch. Under `auto`, a query graph missing from the cache is exported
    in the background while the calls made meanwhile run on PyTorch, so two runs compared byte for byte
    could embed on different runtimes (a difference in the last bits; footage.json differed once on a
    busy machine, when the export took longer than the first run)."""
    monkeypatch.setenv("LIGHTCLIP_RUNTIME", "torch")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    for n, first in enumerate((0, 300, 600)):
        vtest_clip(folder / f"cam{n + 1}.mp4", 30, first)  # 3 s each: 6 sampled frames at 2 per second
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32)).eval()
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny")


def gallery_files(root: Path) -> dict[str, bytes]:
    """Everything a gallery holds except its parts and the run's own timings."""
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
             if p.is_file() and p.relative_to(root).parts[0] != PARTS}
    meta = json.loads(files.pop(FOOTAGE_FILE))
    meta.pop("summary")
    meta["options"].pop("checkpoint", None)
    files[FOOTAGE_FILE] = json.dumps(meta, sort_keys=True).encode()
    return files


def single_process(sources, out: Path, checkpoint: Path):
    from lightclip_core import load_checkpoint

    return build_footage_gallery(sources, out, load_checkpoint(checkpoint), make_detector(), sample_fps=2.0)


def test_sources_from_folders_lists_and_files(tmp_path, archive):
    sub = tmp_path / "more"
    sub.mkdir()
    (sub / "x.mp4").write_bytes((archive / "cam1.mp4").read_bytes())
    listing = tmp_path / "videos.txt"
    listing.write_text(f"# cameras\n{archive / 'cam2.mp4'}\nmore/x.mp4\n\n")
    got = [Path(s.path).name for s in archive_sources([archive, listing])]
    assert got == ["cam1.mp4", "cam2.mp4", "cam3.mp4", "x.mp4"]  # cam2 once
    (sub / "cam1.mp4").write_bytes(b"x")
    with pytest.raises(FootageError, match="share the file name cam1.mp4"):
        archive_sources([archive, sub])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FootageError, match="No videos"):
        archive_sources([tmp_path / "empty"])


def test_a_segment_reads_the_frames_the_whole_video_samples_there(tmp_path):
    for clip in (make_clip(tmp_path / "walk.avi"), make_clip(tmp_path / "walk.mp4")):
        info = probe_video(clip)
        whole = [(i, t, f) for i, t, f in sample_video(clip, 3.0, info=info)]
        parts = [x for a, b in video_segments(info, 1.3) for x in sample_video(clip, 3.0, info=info, start=a, stop=b)]
        assert [i for i, _, _ in parts] == [i for i, _, _ in whole]
        assert all(np.array_equal(f, g) for (_, _, f), (_, _, g) in zip(whole, parts)), clip.name
    assert video_segments(info, 1.3) == [(0, 13), (13, 26), (26, 39), (39, None)]
    assert video_segments(info, None) == [(0, None)]


@pytest.mark.slow
def test_an_archive_here_equals_the_single_process_gallery_and_a_rerun_reuses_its_parts(tmp_path, archive, checkpoint):
    sources = archive_sources([archive])
    want, want_emb = single_process(sources, tmp_path / "single", checkpoint)
    got, got_emb = build_archive_gallery(sources, tmp_path / "archive", checkpoint)
    assert got.tracks == want.tracks > 0 and got.crops == want.crops
    assert gallery_files(tmp_path / "archive") == gallery_files(tmp_path / "single")
    assert np.array_equal(got_emb, want_emb)
    man = read_manifest(tmp_path / "archive")
    assert sorted(v["file"] for v in man["done"].values()) == ["cam1.mp4", "cam2.mp4", "cam3.mp4"]
    again, _ = build_archive_gallery(sources, tmp_path / "archive", checkpoint)  # nothing left to index
    assert again.frames_read == got.frames_read and again.detect_seconds == pytest.approx(got.detect_seconds)
    assert gallery_files(tmp_path / "archive") == gallery_files(tmp_path / "single")


def test_a_corrupt_video_is_reported_and_the_others_indexed(tmp_path, archive, checkpoint):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "cam1.mp4").write_bytes((archive / "cam1.mp4").read_bytes())
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    summary, _ = build_archive_gallery(archive_sources([folder]), tmp_path / "g", checkpoint)
    assert [name for name, _ in summary.skipped] == ["broken.mp4"]
    assert "broken.mp4" in summary.skipped[0][1] and summary.tracks > 0
    meta = json.loads((tmp_path / "g" / FOOTAGE_FILE).read_text())
    assert [s["file"] for s in meta["sources"]] == ["cam1.mp4"]


def test_out_holding_other_files_is_refused(tmp_path, archive, checkpoint):
    out = tmp_path / "g"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FootageError, match="not a footage gallery"):
        build_archive_gallery(archive_sources([archive]), out, checkpoint)
    assert (out / "notes.txt").read_text() == "mine"


def footage_cli(videos: Path, out: Path, checkpoint: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lightclip_core", "footage", "--videos", str(videos), "--out", str(out),
            "--checkpoint", str(checkpoint), "--no-progress", *extra]


@pytest.mark.slow
def test_a_killed_job_resumes_to_the_gallery_an_uninterrupted_run_writes(tmp_path, archive, checkpoint):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    whole = tmp_path / "whole"
    subprocess.run(footage_cli(archive, whole, checkpoint), check=True, env=env, capture_output=True, timeout=600)
    out = tmp_path / "killed"
    job = subprocess.Popen(footage_cli(archive, out, checkpoint), env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and job.poll() is None:
        man = read_manifest(out) if (out / PARTS / "manifest.json").is_file() else None
        if man and len(man["done"]) >= 1:
            break
        time.sleep(0.05)
    assert job.poll() is None, "the job ended before it could be killed"
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert not (out / FOOTAGE_FILE).exists() and 1 <= len(read_manifest(out)["done"]) < 3
    done = subprocess.run(footage_cli(archive, out, checkpoint), check=True, env=env, capture_output=True,
                          text=True, timeout=600)
    assert "already indexed" in done.stderr
    assert gallery_files(out) == gallery_files(whole)


def test_ray_missing_and_an_unreachable_cluster_are_one_sentence(tmp_path, archive, checkpoint, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    with pytest.raises(FootageError, match=f"No Ray cluster answers at 127.0.0.1:{port}"):
        _check_address(f"127.0.0.1:{port}", timeout_s=1.0)
    assert time.perf_counter() - t0 < 5
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(FootageError, match="pip install -r requirements-scale.txt"):
        build_archive_gallery(archive_sources([archive]), tmp_path / "g", checkpoint, ray="local")


@pytest.mark.slow
def test_local_ray_workers_write_the_single_process_gallery(tmp_path, archive, checkpoint):
    """Two local Ray workers, each video cut into 1-second segments that the tracker joins back."""
    pytest.importorskip("ray")
    sources = archive_sources([archive])
    _, want_emb = single_process(sources, tmp_path / "single", checkpoint)
    summary, got_emb = build_archive_gallery(sources, tmp_path / "ray", checkpoint, ray="local", workers=2,
                                             segment_s=1.0)
    assert gallery_files(tmp_path / "ray") == gallery_files(tmp_path / "single")
    assert np.array_equal(got_emb, want_emb) and summary.tracks > 0
