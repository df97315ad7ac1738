"""fileio: atomic writes, directory swaps and the safetensors disk caches every cache in LightCLIP uses."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from lightclip_core import fileio


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "a" / "state.json"
    fileio.atomic_write_json(path, {"epoch": 1})
    assert json.loads(path.read_text()) == {"epoch": 1}

    def torn(fd):  # the process dies between write and rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", torn)
    with pytest.raises(KeyboardInterrupt):
        fileio.atomic_write_json(path, {"epoch": 2})
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary file left behind


def test_replace_dir_swaps_a_finished_directory_in(tmp_path):
    dest, new = tmp_path / "best", tmp_path / ".best.tmp"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    new.mkdir()
    (new / "new.txt").write_text("new")
    fileio.replace_dir(new, dest)
    assert [p.name for p in dest.iterdir()] == ["new.txt"] and not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]  # the .old copy is gone too


def test_replace_dir_never_removes_a_folder_it_did_not_make(tmp_path):
    dest, new = tmp_path / "out", tmp_path / ".out.tmp"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    theirs = tmp_path / ".out.old"  # a user's folder that happens to bear the name of the old swap
    theirs.mkdir()
    (theirs / "mine.txt").write_text("precious")
    new.mkdir()
    (new / "new.txt").write_text("new")
    fileio.replace_dir(new, dest)
    assert (theirs / "mine.txt").read_text() == "precious"
    assert [p.name for p in dest.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.old", "out"]


@pytest.mark.parametrize("framework", ["pt", "numpy"])
def test_cache_round_trip_and_every_reason_to_rebuild(tmp_path, framework):
    path = tmp_path / "cache" / "x.safetensors"
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    tensors = {"features": x if framework == "pt" else x.numpy()}
    fits = lambda t: tuple(t["features"].shape) == (3, 4)  # noqa: E731
    assert fileio.read_cache(path, fits, framework) is None  # missing
    fileio.write_cache(path, tensors, {"note": "test"}, framework)
    got = fileio.read_cache(path, fits, framework)
    assert got is not None and np.array_equal(np.asarray(got["features"]), x.numpy())
    assert isinstance(got["features"], torch.Tensor if framework == "pt" else np.ndarray)
    assert fileio.read_cache(path, lambda t: tuple(t["features"].shape) == (3, 5), framework) is None  # other width
    assert fileio.read_cache(path, lambda t: t["missing"] is not None, framework) is None  # other content
    path.write_bytes(path.read_bytes()[:40])  # a truncated file
    assert fileio.read_cache(path, fits, framework) is None


def test_write_cache_best_effort_ignores_a_read_only_directory(tmp_path, monkeypatch):
    def read_only(path, data):
        raise PermissionError(13, "Read-only file system", str(path))

    monkeypatch.setattr(fileio, "atomic_write_bytes", read_only)
    fileio.write_cache(tmp_path / "x.safetensors", {"a": torch.zeros(2)}, best_effort=True)  # no error
    with pytest.raises(OSError):
        fileio.write_cache(tmp_path / "x.safetensors", {"a": torch.zeros(2)})


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LIGHTCLIP_CACHE", str(tmp_path / "c"))
    assert fileio.cache_root() == tmp_path / "c"
    monkeypatch.delenv("LIGHTCLIP_CACHE")
    assert fileio.cache_root() == fileio.Path("~/.cache/lightclip").expanduser()


def test_portable_record_leaves_no_absolute_path_at_any_depth():
    record = {"train": {"root": "/home/ann/data/synth", "out": "runs/x", "lr": 1e-3,
                        "teachers": ["/srv/ckpt/teacher", "checkpoints/t2"]},
              "recipe": {"init_from": {"path": "/work/init/lite0", "recipe": {"teachers": [{"path": "/a/b/t"}]}}},
              "note": "/not/a/path/key"}
    clean = fileio.portable_record(record)
    assert clean["train"] == {"root": "synth", "out": "runs/x", "lr": 1e-3, "teachers": ["teacher", "checkpoints/t2"]}
    assert clean["recipe"]["init_from"]["path"] == "lite0"
    assert clean["recipe"]["init_from"]["recipe"]["teachers"] == [{"path": "t"}]
    assert clean["note"] == "/not/a/path/key"  # only the keys that name paths
    assert record["train"]["root"] == "/home/ann/data/synth"  # a copy: the input is untouched


def test_export_records_no_absolute_path_of_the_trainer(tmp_path):
    from lightclip_core import create_model
    from lightclip_core.checkpoints import export_checkpoint, read_config, save_checkpoint

    src = save_checkpoint(create_model("mobilenetv3_small_100", image_size=(64, 32)).eval(), tmp_path / "run" / "best",
                          {"recipe": {"init_from": {"path": str(tmp_path / "init" / "lite0")}}})
    dst = export_checkpoint(src, tmp_path / "out", dtype="int8")
    assert str(tmp_path) not in json.dumps(read_config(dst))
    assert read_config(dst)["recipe"]["init_from"]["path"] == "lite0"


def test_read_json_says_what_is_wrong_in_one_sentence(tmp_path):
    from lightclip_core.errors import LightCLIPError
    from lightclip_core.fileio import read_json

    class MyError(LightCLIPError):
        pass

    good = tmp_path / "good.json"
    good.write_text('{"a": [1, 2]}')
    assert read_json(good) == {"a": [1, 2]}
    with pytest.raises(LightCLIPError, match=r"nope\.json is missing\.$"):
        read_json(tmp_path / "nope.json")
    with pytest.raises(MyError, match="^no table here$"):
        read_json(tmp_path / "nope.json", MyError, missing="no table here")
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": ')
    with pytest.raises(MyError, match=r"bad\.json is not valid JSON \(Expecting value.*\); delete it\.$"):
        read_json(bad, MyError, advice="delete it")
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"caf\xe9": 1}')
    with pytest.raises(LightCLIPError, match=r"latin\.json is not UTF-8 text\.$"):
        read_json(latin)
    with pytest.raises(LightCLIPError, match="is missing"):  # a folder is not a JSON file
        read_json(tmp_path)
