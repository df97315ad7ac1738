"""Hostile input, CLI and library: every bad argument or damaged config answers in one sentence and
loses nothing (issue 33, item 5). The app's per-request isolation is tested in test_app.py, footage
--out safety in test_footage.py, torn saves in test_train.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO
from lightclip_core import LightCLIPError, create_model
from lightclip_core.checkpoints import load_checkpoint, save_checkpoint
from lightclip_core.cli import build_parser, main


@pytest.mark.parametrize("argv, message", [
    (["eval", "--checkpoint", "x", "--batch-size", "0"], "argument --batch-size: must be a whole number of at least 1 (got '0')"),
    (["eval", "--checkpoint", "x", "--threads", "-3"], "argument --threads: must be a whole number of at least 0"),
    (["eval", "--checkpoint", "x", "--workers", "-1"], "argument --workers: must be a whole number of at least 0"),
    (["train", "--batch-size", "0"], "argument --batch-size: must be a whole number of at least 1"),
    (["train", "--lr", "nan"], "argument --lr: must be a finite number above 0 (got 'nan')"),
    (["train", "--lr", "inf"], "argument --lr: must be a finite number above 0"),
    (["train", "--temperature", "0"], "argument --temperature: must be a finite number above 0"),
    (["train", "--epochs", "0"], "argument --epochs: must be a whole number of at least 1"),
    (["train", "--negatives", "-1"], "argument --negatives: must be a finite number at least 0"),
    (["footage", "--out", "g", "--crops-per-track", "0"], "argument --crops-per-track: must be a whole number of at least 1"),
    (["synth", "--size", "20000x20000"], "argument --size: at most 1024 pixels a side"),
    (["synth", "--jpeg-quality", "101"], "argument --jpeg-quality: must be a whole number from 1 to 100"),
    (["search", "--checkpoint", "x", "-q", "a", "-k", "0"], "argument -k: must be a whole number of at least 1"),
])
def test_a_bad_number_stops_in_one_line_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_every_numeric_flag_has_a_range():
    """build_parser gives each int/float flag its range from commands.RANGES (a new flag without one fails)."""
    import argparse

    def flags(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from flags(sub)
            else:
                yield action

    assert not [a.dest for a in flags(build_parser()) if a.type in (int, float)]


@pytest.fixture()
def checkpoint(tmp_path) -> Path:
    ckpt = tmp_path / "ckpt"
    save_checkpoint(create_model("mobilenetv3_small_100", image_size=(64, 32)).eval(), ckpt)
    return ckpt


def damage(ckpt: Path, edit) -> None:
    path = ckpt / "config.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


@pytest.mark.parametrize("edit, message", [
    (lambda c: [c], "not a LightCLIP checkpoint config (a JSON list, not an object)"),
    (lambda c: "text", "a JSON str, not an object"),
    (lambda c: {**c, "model": [1, 2]}, "not a LightCLIP checkpoint config"),
    (lambda c: {**c, "model": {**c["model"], "head_hidden_dim": -5}}, "head_hidden_dim must be null or a whole number of at least 1 (got -5)"),
    (lambda c: {**c, "model": {**c["model"], "image_size": "big"}}, "image_size must be [height, width] in pixels"),
    (lambda c: {**c, "model": {**c["model"], "stripes": "4"}}, "stripes must be a whole number of at least 0"),
    (lambda c: {**c, "model": {**c["model"], "init_temperature": 0}}, "init_temperature must be a number above 0"),
    (lambda c: {**c, "model": {**c["model"], "attribute_classes": {"gender": 0}}}, "attribute_classes['gender'] must be"),
])
def test_a_damaged_checkpoint_config_is_one_sentence(checkpoint, edit, message, capsys):
    damage(checkpoint, edit)
    with pytest.raises(LightCLIPError) as exc:
        load_checkpoint(checkpoint)
    assert message in str(exc.value) and str(checkpoint) in str(exc.value)
    assert main(["search", "--checkpoint", str(checkpoint), "-q", "a man in red"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_a_damaged_bundled_checkpoint_is_listed_unavailable_with_its_reason(checkpoint, tmp_path):
    from lightclip_core.app import views
    from lightclip_core.app.pool import EnginePool
    from lightclip_core.checkpoints import bundled_checkpoints

    root = tmp_path / "checkpoints"
    shutil.copytree(checkpoint, root / "mobilenetv3_small_100")
    shutil.copytree(checkpoint, root / "mobilenetv2_100")
    (root / "mobilenetv2_100" / "config.json").write_text("[1, 2, 3]")
    assert sorted(bundled_checkpoints(root)) == ["mobilenetv2_100", "mobilenetv3_small_100"]
    pool = EnginePool(root, REPO / "gallery")
    info = pool.info("mobilenetv2_100")
    assert info["available"] is False and "damaged" in info["message"] and "not an object" in info["message"]
    assert pool.info("mobilenetv3_small_100")["available"] is True
    labels = dict((key, label) for label, key in views.model_choices(pool))
    assert "unavailable: damaged checkpoint" in labels["mobilenetv2_100"]
    with pytest.raises(LightCLIPError, match="not an object"):
        pool.get("mobilenetv2_100")


def test_export_onto_its_own_source_is_refused_and_loses_nothing(checkpoint, capsys):
    before = (checkpoint / "model.safetensors").read_bytes()
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(checkpoint / "." ), "--dtype", "int8"]) == 2
    err = capsys.readouterr().err
    assert "is the input" in err and len(err.strip().splitlines()) == 1
    assert (checkpoint / "model.safetensors").read_bytes() == before


def test_an_unwritable_out_is_one_sentence_before_any_work(checkpoint, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")  # a file where --out needs a folder: unwritable for root too
    assert main(["index", "--checkpoint", str(checkpoint), "--gallery", str(REPO / "gallery"),
                 "--out", str(blocker / "idx")]) == 2
    err = capsys.readouterr().err
    assert f"--out {blocker} cannot be written" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--preset", "cpu-synth", "--backbone", "mobilenetv3_small_100", "--root", str(tmp_path / "data"),
                 "--out", str(blocker / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--out {blocker / 'run'} cannot be written" in err and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "in the way"


def bomb_png(path: Path, width: int = 50_000, height: int = 50_000) -> Path:
    """A real 1x1 PNG whose header claims `width` x `height` pixels (CRC fixed): 70 bytes that would
    decode to gigabytes."""
    import io
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    at = data.index(b"IHDR")
    data[at + 4 : at + 12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[at + 17 : at + 21] = zlib.crc32(bytes(data[at : at + 17])).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return path


def cut_jpeg(path: Path) -> Path:
    """A real JPEG cut in half: its header reads, PIL's verify() passes it, decoding it fails."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.effect_noise((64, 128), 60).convert("RGB").save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def people_folder(root: Path) -> Path:
    from PIL import Image

    root.mkdir()
    for i, colour in enumerate([(200, 30, 30), (30, 30, 200), (30, 160, 30)]):
        Image.new("RGB", (64, 128), colour).save(root / f"person{i}.png")
    bomb_png(root / "bomb.png")
    bomb_png(root / "big.png", 10_000, 6_000)  # under PIL's own bomb limit, over ours
    cut_jpeg(root / "cut.jpg")
    return root


@pytest.mark.parametrize("make, message", [
    (lambda p: bomb_png(p / "bomb.png"), "bomb.png claims more pixels than a picture may have"),
    (lambda p: bomb_png(p / "big.png", 10_000, 6_000), "big.png is 10000x6000 pixels, more than the 50,000,000"),
    (lambda p: cut_jpeg(p / "cut.jpg"), "cut.jpg cannot be decoded (OSError"),
])
def test_a_hostile_picture_is_one_sentence_naming_the_file_not_its_folder(tmp_path, make, message):
    from lightclip_core.data import load_image
    from lightclip_core.data.base import PictureError

    with pytest.raises(PictureError) as exc:
        load_image(make(tmp_path))
    assert str(exc.value).startswith(message) and str(tmp_path) not in str(exc.value)


def test_index_and_search_skip_hostile_pictures_by_name(checkpoint, tmp_path, capsys):
    folder = people_folder(tmp_path / "pictures")
    assert main(["index", "--checkpoint", str(checkpoint), "--gallery", str(folder), "--out", str(tmp_path / "idx")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["images"] == 3 and json.loads(out)["skipped"] == 3
    for name in ("bomb.png", "big.png", "cut.jpg"):
        assert f"skipped {name}: " in err
    assert str(folder) not in err
    # a query holding a lone surrogate (what a shell passes for an undecodable byte) still searches
    assert main(["search", "--checkpoint", str(checkpoint), "--gallery", str(folder), "-q", "a man \udcff in red",
                 "-k", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)[0]["hits"]) == 2


def test_footage_skips_hostile_pictures_by_name(checkpoint, tmp_path, capsys):
    """Through `--crops`, which reads pictures as `--photos` does (read_photo) but needs no detection."""
    pytest.importorskip("cv2")
    import torch

    folder = people_folder(tmp_path / "people")
    threads = torch.get_num_threads()
    code = main(["footage", "--crops", str(folder), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "g")])
    assert torch.get_num_threads() == threads  # indexing ran on one PyTorch thread, then gave them back
    err = capsys.readouterr().err
    assert code == 0, err
    for name in ("bomb.png", "big.png", "cut.jpg"):
        assert f"skipped {name}: {name} " in err
    assert "Traceback" not in err and str(folder) not in err
    # sources are recorded by name: the gallery does not tell where its owner keeps files (issue 33, item 8)
    meta = (tmp_path / "g" / "footage.json").read_text()
    assert str(tmp_path) not in meta and {s["file"] for s in json.loads(meta)["sources"]} == {
        "person0.png", "person1.png", "person2.png"}
    assert main(["footage", "--crops", str(folder), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "g"),
                 "--record-paths"]) == 0
    sources = json.loads((tmp_path / "g" / "footage.json").read_text())["sources"]
    assert {s["path"] for s in sources} == {str((folder / f"person{i}.png").resolve()) for i in range(3)}


def _rstpreid(root: Path, entries: list[dict]) -> Path:
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    for e in entries:
        if "/" not in e["img_path"]:
            (root / "imgs" / e["img_path"]).write_bytes(b"x")
    (root / "data_captions.json").write_text(json.dumps(entries))
    return root


@pytest.mark.parametrize("img_path", ["../../../../etc/passwd", "/etc/passwd", "a/../../../outside.jpg"])
def test_an_annotation_path_that_leaves_the_root_is_refused_naming_its_entry(img_path, tmp_path):
    from lightclip_core.data import load_dataset

    good = {"id": 0, "img_path": "a.jpg", "captions": ["a man"], "split": "test"}
    root = _rstpreid(tmp_path / "ds", [good, {**good, "id": 1, "img_path": img_path}])
    with pytest.raises(LightCLIPError, match=r"Entry 1 of .* lies outside the dataset root"):
        load_dataset("rstpreid", root)


def test_a_repeated_annotation_entry_is_counted_once_and_reported(tmp_path, capsys):
    from lightclip_core.data import load_dataset

    e = {"id": 0, "img_path": "a.jpg", "captions": ["a man"], "split": "test"}
    root = _rstpreid(tmp_path / "ds", [e, {**e, "id": 1, "img_path": "b.jpg"}, e])
    assert len(load_dataset("rstpreid", root).split("test")) == 2
    assert "1 entry repeats an earlier entry's image (first: entry 2)" in capsys.readouterr().err
    _rstpreid(root, [e, {**e, "id": 5}])
    with pytest.raises(LightCLIPError, match="Entries 0 and 1 .* different people or splits"):
        load_dataset("rstpreid", root)


def test_synth_refuses_sizes_with_no_bound(capsys):
    assert main(["synth", "--out", "never-made", "--ids", "1000000000000"]) == 2
    assert "at most 1,000,000 identities" in capsys.readouterr().err and not Path("never-made").exists()


def test_footage_archive_names_what_is_missing(tmp_path, capsys):
    assert main(["footage", "--videos", str(tmp_path / "nonexistent"), "--out", str(tmp_path / "g")]) == 2
    assert "--videos" in capsys.readouterr().err
    listing = tmp_path / "list.txt"
    listing.write_text("gone.mp4\n")
    assert main(["footage", "--videos", str(listing), "--out", str(tmp_path / "g"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "None of the 1 videos given exists (first: gone.mp4)" in err and len(err.strip().splitlines()) == 1


def test_milvus_names_are_checked_and_search_creates_no_store(checkpoint, tmp_path, capsys):
    pytest.importorskip("pymilvus")
    gallery = str(REPO / "gallery")
    argv = ["index", "--checkpoint", str(checkpoint), "--gallery", gallery, "--store", "milvus"]
    assert main(argv + ["--uri", str(tmp_path / "s.db"), "--collection", "../x y;drop"]) == 2
    assert "is not a Milvus collection name" in capsys.readouterr().err
    assert main(["search", "--checkpoint", str(checkpoint), "--gallery", gallery, "--store", "milvus", "--uri",
                 str(tmp_path / "missing.db"), "-q", "a man"]) == 2
    assert "There is no Milvus store at" in capsys.readouterr().err and not (tmp_path / "missing.db").exists()


def test_the_third_passes_cli_cases_are_one_sentence_each(checkpoint, tmp_path, capsys):
    """Issue 49's tracebacks: each is now exit 2 and one line, and writes nothing."""
    a_file = tmp_path / "a-file"
    a_file.write_text("keep")
    listing = tmp_path / "list.txt"
    listing.write_text("missing.mp4\n")
    ck = str(checkpoint)
    cases = [
        ["synth", "--out", str(a_file), "--ids", "4"],
        ["synth", "--out", "/proc/nope/x", "--ids", "4"],
        ["export", "--checkpoint", ck, "--out", "/proc/nope"],
        ["export", "--checkpoint", ck, "--out", "/proc/nope", "--format", "onnx"],
        ["export", "--checkpoint", ck, "--out", str(a_file)],
        ["export", "--checkpoint", ck, "--out", str(a_file), "--format", "onnx"],
        ["footage", "--videos", str(listing), "--out", str(tmp_path / "g"), "--no-progress"],
        ["footage", "--videos", str(tmp_path / "nonexistent"), "--out", str(tmp_path / "g"), "--no-progress"],
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and a_file.read_text() == "keep"
