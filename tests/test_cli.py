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
    from lightclip_core.search import SearchEngine
    from lightclip_core.gallery import Gallery
    from lightclip_core.checkpoints import bundled_checkpoints

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


@pytest.mark.slow
def test_runtime_flag_is_an_argument_not_an_environment_change(monkeypatch, capsys):
    """`search --runtime torch` hands the choice to the engine it builds; the process environment (which
    the app, later engines and child processes read) is left as it was."""
    from lightclip_core import search as search_mod
    from lightclip_core.cli import main

    monkeypatch.delenv("LIGHTCLIP_RUNTIME", raising=False)
    built = []
    real = search_mod.SearchEngine.from_checkpoint.__func__

    def spy(cls, *a, **k):
        built.append(real(cls, *a, **k))
        return built[-1]

    monkeypatch.setattr(search_mod.SearchEngine, "from_checkpoint", classmethod(spy))
    rc = main(["search", "--checkpoint", str(REPO / "checkpoints" / "mobilenetv3_small_100"), "--gallery",
               str(REPO / "gallery"), "--query", "a woman in a red coat", "-k", "2", "--runtime", "torch", "--json"])
    assert rc == 0 and len(json.loads(capsys.readouterr().out)[0]["hits"]) == 2
    assert [e.runtime for e in built] == ["torch"] and "LIGHTCLIP_RUNTIME" not in __import__("os").environ
    built[0].model.use_runtime(None)  # the shared text encoder back on the default for the tests after


def test_train_flags_come_from_the_config_fields():
    """Each option field of TrainConfig and LossConfig is one train flag, unset flags stay None (so a
    preset can fill them), and a given flag lands in the field it declares."""
    from dataclasses import fields

    from lightclip_core.cli import build_parser
    from lightclip_core.train_config import OPTION, LossConfig, TrainConfig, given_options

    parser = build_parser()
    args = parser.parse_args(["train"])
    for cls in (TrainConfig, LossConfig):
        declared = [f.name for f in fields(cls) if OPTION in f.metadata]
        assert declared and all(getattr(args, name) is None for name in declared)
        assert given_options(args, cls) == {}
    args = parser.parse_args(["train", "--workers", "1", "--epochs", "3", "--image-size", "64x32",
                              "--negatives", "0.5", "--text-head", "tokens"])
    assert given_options(args, TrainConfig) == {"num_workers": 1, "epochs": 3, "image_size": (64, 32),
                                                "text_head": "tokens"}
    assert given_options(args, LossConfig) == {"neg": 0.5}
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--epochs", "0"])  # ranges still come from commands.RANGES


@pytest.mark.slow
def test_search_on_an_empty_cache_exits_0_and_keeps_the_graphs_it_began(tmp_path):
    """The default runtime (auto) answers the first query on PyTorch while the ONNX graphs export in the
    background; a one-shot `search` then exits. It used to abort there (exit 134, "terminate called
    without an active exception") with the exports half done and nothing kept."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "LIGHTCLIP_RUNTIME"}
    env.update(LIGHTCLIP_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "lightclip_core", "search", "--checkpoint", str(REPO / "checkpoints" / "mobilenetv3_small_100"),
         "--gallery", str(REPO / "gallery"), "-q", "a woman in a red coat", "-k", "2", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(json.loads(proc.stdout)[0]["hits"]) == 2
    kept = sorted(p.name.split("-")[0] + "-" + p.name.split("-")[1] for p in (tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert kept == ["text-head", "text-states"], kept  # the model's text head and the encoder's token-states graph


def test_a_command_is_one_decorated_function_with_its_ranges_beside_it(capsys):
    """A plug-in command: `@command` adds it to the parser, `flag_ranges` checks its numbers, and
    `main` runs it; unregistered, it is gone."""
    from lightclip_core.cli import build_parser
    from lightclip_core.commands import COMMANDS, RANGES
    from lightclip_core.commands.common import command, flag_ranges, whole

    @command("toy")
    def _add_toy(sub):
        p = sub.add_parser("toy", help="count to --times")
        p.add_argument("--times", type=int, default=2)
        p.set_defaults(func=lambda args: print("tick " * args.times) or 0)

    flag_ranges(times=whole(1, 5))
    try:
        assert main(["toy", "--times", "3"]) == 0 and capsys.readouterr().out.strip() == "tick tick tick"
        with pytest.raises(SystemExit):
            build_parser().parse_args(["toy", "--times", "9"])
        assert "--times" in capsys.readouterr().err
        with pytest.raises(ValueError, match="declared twice"):
            flag_ranges(times=whole(1))
    finally:
        COMMANDS.unregister("toy")
        del RANGES["times"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["toy"])
