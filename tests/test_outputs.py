"""One rule for every writer (issue 49, item 1): an output goes to a new place or to one this project
made, never over or beside a file it did not write; never into the root or a system folder; never
into, over or around one of its own inputs. Every case is one sentence on stderr (exit 2) and leaves
every file as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import make_gallery
from lightclip_core import create_model
from lightclip_core.checkpoints import SHIPPED_EMBEDDINGS, save_checkpoint
from lightclip_core.cli import main
from lightclip_core.errors import LightCLIPError


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A tiny checkpoint (with a text head, as bundled ones have), a second one to soup toward, a tiny
    SynthPedes gallery and a folder of two photos."""
    import cv2
    import numpy as np

    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    for name in ("ckpt", "other"):
        save_checkpoint(create_model("mobilenetv3_small_100", image_size=(64, 32), text_head="tokens").eval(), root / name)
    make_gallery(root / "gallery", people=3, seed=1)
    (root / "photos").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(root / "photos" / f"p{i}.jpg"), rng.integers(0, 255, (96, 64, 3), dtype=np.uint8))
    return {"ckpt": root / "ckpt", "other": root / "other", "gallery": root / "gallery", "photos": root / "photos"}


# Each folder writer: its command line for `out`, and the input an output may not lie inside (None: it has none).
WRITERS = {
    "synth": (lambda i, out: ["synth", "--out", str(out), "--ids", "3", "--images-per-id", "1", "--size", "64x32",
                              "--test-ids", "3", "--val-ids", "0", "--splits", "test", "--workers", "1"], None),
    "export": (lambda i, out: ["export", "--checkpoint", str(i["ckpt"]), "--out", str(out), "--dtype", "int8"], "ckpt"),
    "export-onnx": (lambda i, out: ["export", "--format", "onnx", "--checkpoint", str(i["ckpt"]), "--out", str(out)], "ckpt"),
    "wise": (lambda i, out: ["wise", "--checkpoint", str(i["ckpt"]), "--alpha", "0.5", "--toward", str(i["other"]),
                             "--out", str(out)], "other"),
    "train": (lambda i, out: ["train", "--preset", "cpu-synth", "--backbone", "mobilenetv3_small_100", "--root",
                              str(i["gallery"]), "--out", str(out), "--no-progress"], "gallery"),
    "footage": (lambda i, out: ["footage", "--crops", str(i["photos"]), "--checkpoint", str(i["ckpt"]), "--out",
                                str(out), "--no-progress"], "photos"),
}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(argv: list[str], capsys, *words: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words), err
    return err


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_folder_with_a_file_we_did_not_write_is_refused_and_kept(writer, inputs, tmp_path, capsys):
    argv, _ = WRITERS[writer]
    out = tmp_path / "out"
    (out / "imgs").mkdir(parents=True)
    (out / "config.json").write_text('{"mine": true}')  # a name a checkpoint would use, a user's content
    (out / "imgs" / "holiday.jpg").write_bytes(b"precious")
    before = snapshot(out)
    refused(argv(inputs, out), capsys, str(out), "config.json")
    assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
@pytest.mark.parametrize("where", ["/", "/proc/nope/x", "/etc/lightclip", "~"])
def test_the_root_home_and_system_folders_are_refused(writer, where, inputs, capsys):
    argv, _ = WRITERS[writer]
    refused(argv(inputs, Path(where)), capsys, "system folder")


def test_windows_and_macos_system_folders_are_known():
    from lightclip_core.outputs import refuse_system_path, windows_system_folders

    env = {"SystemDrive": "C:", "SystemRoot": "C:\\Windows", "ProgramFiles": "C:\\Program Files",
           "USERPROFILE": "C:\\Users\\ann", "TEMP": "C:\\Users\\ann\\AppData\\Local\\Temp"}
    exact, trees = windows_system_folders(env)
    assert exact == {"C:\\", "C:\\Users\\ann"} and trees == {"C:\\Windows", "C:\\Program Files"}
    for where in ("/System/Library/x", "/Library/y", "/Applications/z"):  # macOS's own, refused here too
        with pytest.raises(LightCLIPError, match="system folder"):
            refuse_system_path(where)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_file_in_the_way_is_refused_and_kept(writer, inputs, tmp_path, capsys):
    argv, _ = WRITERS[writer]
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    refused(argv(inputs, blocker), capsys, str(blocker))
    assert blocker.read_text() == "in the way" and sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("writer", [w for w, (_, source) in sorted(WRITERS.items()) if source])
def test_an_output_inside_or_onto_an_input_is_refused(writer, inputs, capsys):
    argv, source = WRITERS[writer]
    before = snapshot(inputs[source])
    refused(argv(inputs, inputs[source] / "out"), capsys, "lies inside the input")
    refused(argv(inputs, inputs[source]), capsys, "is the input")
    assert snapshot(inputs[source]) == before


@pytest.mark.parametrize("writer", ["synth", "export", "wise", "footage"])
def test_our_own_output_is_replaced_whole(writer, inputs, tmp_path, capsys):
    argv, _ = WRITERS[writer]
    out = tmp_path / "out"
    again = ["--overwrite"] if writer == "synth" else []
    assert main(argv(inputs, out)) == 0
    first = snapshot(out)
    if writer in ("export", "wise"):
        (out / SHIPPED_EMBEDDINGS).write_bytes(b"stale")  # listed by a checkpoint's manifest: replaced with it
    assert main(argv(inputs, out) + again) == 0
    assert set(snapshot(out)) == set(first) and not list(tmp_path.glob(".out.*"))
    capsys.readouterr()


def test_synth_asks_before_replacing_and_replaces_only_its_pictures(inputs, tmp_path, capsys):
    argv, _ = WRITERS["synth"]
    out = tmp_path / "d"
    assert main(argv(inputs, out)) == 0
    capsys.readouterr()
    refused(argv(inputs, out), capsys, "--overwrite")
    (out / "imgs" / "mine.jpg").write_bytes(b"precious")
    refused(argv(inputs, out) + ["--overwrite"], capsys, "mine.jpg")
    assert (out / "imgs" / "mine.jpg").read_bytes() == b"precious"
    # another dataset's annotations in RSTPReid's format are not ours, even with --overwrite
    other = tmp_path / "rstp"
    (other / "imgs").mkdir(parents=True)
    (other / "imgs" / "00000_00.jpg").write_bytes(b"real photo")
    (other / "data_captions.json").write_text(json.dumps([{"id": 0, "img_path": "00000_00.jpg", "captions": ["a"],
                                                           "split": "test"}]))
    refused(argv(inputs, other) + ["--overwrite"], capsys, "not a SynthPedes dataset")
    assert (other / "imgs" / "00000_00.jpg").read_bytes() == b"real photo"


def test_a_stopped_synth_run_is_resumable_but_guards_a_users_file(inputs, tmp_path, capsys):
    from lightclip_core.synthpedes.writer import PARTIAL_FILE

    argv, _ = WRITERS["synth"]
    out = tmp_path / "d"
    (out / "imgs").mkdir(parents=True)
    (out / PARTIAL_FILE).write_text('{"generator": "SynthPedes", "complete": false}')  # killed after two pictures
    (out / "imgs" / "00000_00.jpg").write_bytes(b"half")
    (out / "imgs" / "00001_00.jpg").write_bytes(b"half")
    (out / "imgs" / "cat.png").write_bytes(b"mine")
    refused(argv(inputs, out) + ["--overwrite"], capsys, "imgs/cat.png")
    (out / "imgs" / "cat.png").unlink()
    assert main(argv(inputs, out) + ["--overwrite"]) == 0
    assert not (out / PARTIAL_FILE).exists() and (out / "imgs" / "00000_00.jpg").read_bytes() != b"half"


def test_index_writes_its_pair_only_over_an_index_of_ours(inputs, tmp_path, capsys):
    gal = make_gallery(tmp_path / "g", people=2, seed=3)
    argv = ["index", "--checkpoint", str(inputs["ckpt"]), "--gallery", str(gal), "--out"]
    (tmp_path / "config.json").write_text('{"mine": true}')
    refused(argv + [str(tmp_path / "config")], capsys, "config.json", "not an index")
    (tmp_path / "x.faiss").write_bytes(b"someone's")
    refused(argv + [str(tmp_path / "x")], capsys, "x.faiss")
    refused(argv + [str(gal / "idx")], capsys, "lies inside the input")
    assert main(argv + [str(tmp_path / "idx")]) == 0
    assert main(argv + [str(tmp_path / "idx")]) == 0  # our own pair: replaced
    assert (tmp_path / "config.json").read_text() == '{"mine": true}' and (tmp_path / "x.faiss").read_bytes() == b"someone's"
    capsys.readouterr()
