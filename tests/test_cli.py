"""The command line: the backbones table and clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO
from lightclip_core.cli import image_size_arg, main


def test_backbones_json_gives_params_gflops_and_width(capsys):
    assert main(["backbones", "mobilenetv3_small_100", "timm:resnet18", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "2 x MACs" in data["flops_note"]
    small, resnet = data["backbones"]
    assert small["display_name"] == "MobileNetV3-Small"
    assert small["feature_dim"] == 1024 and resnet["feature_dim"] == 512
    assert 1.0 < small["params_m"] < 2.0 and 0.03 < small["gflops"] < 0.15
    assert small["image_size"] == [256, 128]


def test_backbones_table_lists_every_key(capsys):
    assert main(["backbones", "--no-flops"]) == 0
    out = capsys.readouterr().out
    for key in ["mobilenetv2_100", "inception_v3", "coatnet_0_rw_224", "vit_base_patch32_clip_224"]:
        assert key in out
    assert "CoAtNet-0" in out


@pytest.mark.slow
def test_unknown_backbone_exits_2_with_one_line_and_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "lightclip_core", "backbones", "nope", "--no-flops"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: Unknown backbone 'nope'; valid names are:")
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_image_size_parsing():
    assert image_size_arg("256x128") == (256, 128)
    assert image_size_arg("224") == (224, 224)
    for bad in ["0x5", "axb", "1x2x3"]:
        try:
            image_size_arg(bad)
        except Exception as exc:  # argparse.ArgumentTypeError
            assert "HxW" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")


@pytest.mark.slow
def test_search_runs_from_another_directory_with_explicit_paths(tmp_path):
    """The library takes gallery and checkpoint locations as arguments (no repository-relative
    defaults): from a directory that holds neither, explicit paths search the bundled gallery."""
    import inspect

    from lightclip_core.app.pool import EnginePool
    from lightclip_core.search import Gallery, SearchEngine, bundled_checkpoints

    for fn, name in ((Gallery.load, "root"), (SearchEngine.from_checkpoint, "gallery"),
                     (bundled_checkpoints, "root"), (EnginePool.__init__, "gallery_dir")):
        assert inspect.signature(fn).parameters[name].default is inspect.Parameter.empty, fn
    proc = subprocess.run(
        [sys.executable, "-m", "lightclip_core", "search", "--checkpoint", str(REPO / "checkpoints" / "mobilenetv3_small_100"),
         "--gallery", str(REPO / "gallery"), "-q", "a woman in a red coat", "-k", "3", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)[0]["hits"]
    assert len(hits) == 3 and all(h["path"].startswith(str(REPO / "gallery")) for h in hits)
