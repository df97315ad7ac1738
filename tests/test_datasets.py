"""Loaders on tiny fixtures written in each dataset's published format, and bad-input messages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from lightclip_core import UnknownNameError
from lightclip_core.data import DataError, load_dataset, load_image


def write_image(path: Path, colour=(200, 30, 30), size=(32, 64)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


@pytest.fixture
def cuhk(tmp_path) -> Path:
    entries = [
        {"split": "train", "captions": ["a man in red", "red jacket man"], "file_path": "CUHK01/0001.png", "processed_tokens": [], "id": 1},
        {"split": "train", "captions": ["same man in red"], "file_path": "CUHK01/0002.png", "processed_tokens": [], "id": 1},
        {"split": "train", "captions": ["a woman in blue"], "file_path": "CUHK03/0003.png", "processed_tokens": [], "id": 5},
        {"split": "val", "captions": ["val person"], "file_path": "test_query/0004.png", "processed_tokens": [], "id": 7},
        {"split": "test", "captions": ["test one", "test one again"], "file_path": "test_query/0005.png", "processed_tokens": [], "id": 9},
        {"split": "test", "captions": ["test two"], "file_path": "test_query/0006.png", "processed_tokens": [], "id": 10},
    ]
    (tmp_path / "reid_raw.json").write_text(json.dumps(entries))
    for e in entries:
        write_image(tmp_path / "imgs" / e["file_path"])
    return tmp_path


def test_cuhkpedes(cuhk):
    ds = load_dataset("cuhkpedes", cuhk)
    assert ds.stats()["train"] == {"ids": 2, "images": 3, "captions": 4, "words_per_caption": 3.8}
    assert {s.pid for s in ds.split("train")} == {0, 4}  # ids from 1 in the file, from 0 here
    pairs = ds.train_pairs()
    assert len(pairs) == 4 and sorted({label for *_, label in pairs}) == [0, 1]
    ev = ds.eval_split("test")
    assert ev.queries == ["test one", "test one again", "test two"]
    assert ev.query_pids == [8, 8, 9] and ev.gallery_pids == [8, 9]
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in ev.gallery)


def test_icfgpedes_makes_val_from_training_ids(tmp_path):
    entries = [{"split": "train", "captions": [f"person {i}"], "file_path": f"train/{i:04d}/a.jpg", "id": i} for i in range(40)]
    entries += [{"split": "test", "captions": ["t"], "file_path": "test/0100/a.jpg", "id": 100}]
    (tmp_path / "ICFG-PEDES.json").write_text(json.dumps(entries))
    for e in entries:
        write_image(tmp_path / "imgs" / e["file_path"])
    ds = load_dataset("icfgpedes", tmp_path)
    assert {s.pid for s in ds.split("val")} == {0, 20}
    assert {s.pid for s in ds.split("train")} == set(range(40)) - {0, 20}
    assert ds.splits() == ["train", "val", "test"]


@pytest.mark.parametrize("prefix", ["", "imgs/"])
def test_rstpreid_accepts_paths_relative_to_imgs_or_root(tmp_path, prefix):
    entries = [
        {"id": 0, "img_path": f"{prefix}0000_c14_0031.jpg", "captions": ["a", "b"], "split": "train"},
        {"id": 1, "img_path": f"{prefix}0001_c3_0001.jpg", "captions": ["c", "d"], "split": "test"},
    ]
    (tmp_path / "data_captions.json").write_text(json.dumps(entries))
    for name in ("0000_c14_0031.jpg", "0001_c3_0001.jpg"):
        write_image(tmp_path / "imgs" / name)
    ds = load_dataset("rstpreid", tmp_path)
    assert [Path(s.img_path).name for s in ds.samples] == ["0000_c14_0031.jpg", "0001_c3_0001.jpg"]
    assert all(os.path.isfile(s.img_path) for s in ds.samples)


def test_bundled_gallery_loads_as_synthpedes():
    root = Path(__file__).resolve().parents[1] / "gallery"
    ds = load_dataset("synthpedes", root)
    stats = ds.stats()["test"]
    assert stats["images"] == 2000 and stats["ids"] == 500
    assert ds.notes["synthetic"] and ds.notes["attributes"]


def test_flickr30k_from_local_parquet(tmp_path):
    import datasets

    def jpeg(colour):
        import io

        buf = io.BytesIO()
        Image.new("RGB", (20, 10), colour).save(buf, "JPEG")
        return {"bytes": buf.getvalue(), "path": None}

    table = datasets.Dataset.from_dict(
        {
            "image": [jpeg((255, 0, 0)), jpeg((0, 255, 0)), jpeg((0, 0, 255))],
            "caption": [["red", "a red square"], ["green"], ["blue"]],
            "split": ["train", "validation", "test"],
            "filename": ["r.jpg", "g.jpg", "b.jpg"],
        }
    ).cast_column("image", datasets.Image())
    (tmp_path / "data").mkdir()
    table.to_parquet(str(tmp_path / "data" / "test-00000.parquet"))
    ds = load_dataset("flickr30k", str(tmp_path))
    assert [s.split for s in ds.samples] == ["train", "val", "test"]
    assert [s.pid for s in ds.samples] == [0, 1, 2]
    assert ds.samples[0].captions == ("red", "a red square")
    assert load_image(ds.samples[0].img_path).size == (20, 10)


def test_flickr30k_offline_hub_id_fails_in_one_sentence(monkeypatch):
    from lightclip_core import OfflineError, hub

    monkeypatch.setattr(hub, "hub_unreachable_reason", lambda *a, **k: "HF_HUB_OFFLINE is set")
    with pytest.raises(OfflineError, match="parquet mirror once and pass its directory"):
        load_dataset("flickr30k", "someone/flickr30k-parquet")


def test_folder_gallery_skips_bad_files_and_reads_captions(tmp_path):
    write_image(tmp_path / "a.jpg")
    write_image(tmp_path / "street" / "cam1" / "b.png", (0, 0, 200))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden.jpg").write_bytes(b"")
    outside = tmp_path.parent / f"{tmp_path.name}_outside.jpg"
    write_image(outside)
    (tmp_path / "escape.jpg").symlink_to(outside)
    (tmp_path / "captions.jsonl").write_text(
        json.dumps({"file": "street/cam1/b.png", "captions": ["a blue square"], "id": 42}) + "\n"
        + json.dumps({"file": "gone.jpg", "captions": ["x"]}) + "\n"
    )
    ds = load_dataset("folder", tmp_path)
    by_name = {Path(s.img_path).name: s for s in ds.samples}
    assert set(by_name) == {"a.jpg", "b.png"}
    assert by_name["b.png"].pid == 42 and by_name["b.png"].captions == ("a blue square",)
    assert by_name["a.jpg"].pid == 43 and by_name["a.jpg"].captions == ()
    reasons = {Path(p).name: why for p, why in ds.notes["skipped"]}
    assert "corrupt" in reasons["broken.jpg"] or "not an image" in reasons["broken.jpg"]
    assert "not an image file type" in reasons["notes.txt"]
    assert "outside the folder" in reasons["escape.jpg"]
    assert "line 2" in reasons["gone.jpg"]
    assert ".hidden.jpg" not in reasons


def test_folder_limits_and_bad_jsonl(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"{i}.jpg")
    ds = load_dataset("folder", tmp_path, max_images=2)
    assert len(ds.samples) == 2 and any("limit of 2" in why for _, why in ds.notes["skipped"])
    (tmp_path / "captions.jsonl").write_text('{"file": "0.jpg"}\n{broken\n')
    with pytest.raises(DataError, match="Line 2 of .*captions.jsonl is not valid JSON"):
        load_dataset("folder", tmp_path)


def test_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="No readable images"):
        load_dataset("folder", tmp_path)


def test_bad_inputs_name_the_file_and_the_problem(tmp_path, cuhk):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("rstpreid", tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"expects .*data_captions.json .*id, split, captions, img_path.*missing"):
        load_dataset("rstpreid", cuhk)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "data_captions.json").write_text(json.dumps([{"id": 0, "img_path": "a.jpg", "split": "train"}]))
    with pytest.raises(DataError, match="Entry 0 of .*lacks the field.*captions"):
        load_dataset("rstpreid", tmp_path / "bad")
    (tmp_path / "bad" / "data_captions.json").write_text("{not json")
    with pytest.raises(DataError, match="is not valid JSON"):
        load_dataset("rstpreid", tmp_path / "bad")
    (tmp_path / "bad" / "data_captions.json").write_text(json.dumps([{"id": 0, "img_path": "a.jpg", "captions": "one", "split": "train"}]))
    with pytest.raises(DataError, match="'captions' should be list"):
        load_dataset("rstpreid", tmp_path / "bad")
    (tmp_path / "bad" / "data_captions.json").write_text(json.dumps([{"id": 0, "img_path": "a.jpg", "captions": ["x"], "split": "dev"}]))
    with pytest.raises(DataError, match="split 'dev'"):
        load_dataset("rstpreid", tmp_path / "bad")
    os.remove(cuhk / "imgs" / "CUHK01" / "0002.png")
    with pytest.raises(DataError, match=r"1 of the 6 images listed for CUHK-PEDES are missing: .*0002.png"):
        load_dataset("cuhkpedes", cuhk)
    with pytest.raises(DataError, match="has no 'val' split"):
        load_dataset("rstpreid", Path(__file__).resolve().parents[1] / "gallery").split("val")


def test_load_image_errors(tmp_path):
    with pytest.raises(DataError, match="missing"):
        load_image(tmp_path / "nope.jpg")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match=r"^bad.png is a corrupt image \(OSError\)\.$"):
        load_image(tmp_path / "bad.png")
    good = tmp_path / "good.jpg"
    write_image(good)
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(DataError, match="^trunc.jpg (is a corrupt image|cannot be decoded)"):
        load_image(trunc)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownNameError, match="synthpedes, rstpreid, cuhkpedes, icfgpedes, flickr30k, folder"):
        load_dataset("market1501", ".")
