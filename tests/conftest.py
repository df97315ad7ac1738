"""Shared test settings: small thread count, quiet libraries, helpers for subprocess runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(min(2, os.cpu_count() or 1))
torch.manual_seed(0)


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter from the repo root (env vars that libraries read at import)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_gallery(folder: Path, people: int, seed: int) -> Path:
    """A tiny SynthPedes gallery at `folder`: `people` test people, two 64x32 pictures each."""
    from lightclip_core.synthpedes.writer import SynthConfig, generate

    generate(folder, SynthConfig(ids=people, images_per_id=2, size=(64, 32), val_ids=0, test_ids=people, seed=seed),
             workers=1, splits=("test",))
    return folder


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess that sees no Hub (a refused port) and an empty Hub cache."""
    return {
        "HF_ENDPOINT": "http://127.0.0.1:9",  # discard port: connection refused at once
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_HUB_OFFLINE": "0",
        "LIGHTCLIP_HUB_TIMEOUT_S": "3",
    }


@pytest.fixture
def no_hub(tmp_path: Path, monkeypatch):
    """In this process: no Hub and an empty Hub cache, whatever the machine has.

    huggingface_hub reads HF_HUB_OFFLINE / HF_HOME / HF_ENDPOINT once, at import, so setting the
    environment inside a test is not enough; its `constants` are read at call time, so patch those
    (and the environment, for anything imported later or run in a subprocess).
    """
    from huggingface_hub import constants

    from lightclip_core import hub

    home = tmp_path / "hf_home"
    for name, value in {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(hub, "_probe_cache", {})
    assert hub.hub_unreachable_reason() is not None
    return home


STREET = REPO / "samples" / "street"  # the bundled street gallery (the real video through `footage`)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A tiny gallery, three random-weight checkpoints and a benchmark table: what the app reads (one per
    test module that asks for it)."""
    import json

    from lightclip_core import create_model
    from lightclip_core.app.pool import EnginePool
    from lightclip_core.checkpoints import save_checkpoint

    base = tmp_path_factory.mktemp("site")
    gallery = make_gallery(base / "gallery", people=16, seed=6)
    ckpts = base / "checkpoints"
    extra = {"train": {"dataset": "synthpedes"}, "synthetic": True, "epoch": 1}
    for seed, key in ((0, "mobilenetv3_small_100"), (1, "mobilenetv3_large_100"), (2, "mobilenetv2_100")):
        torch.manual_seed(seed)
        # one with a learned text head, as every bundled model has: its encode_text carries grad unless asked not to
        text_head = "tokens" if key == "mobilenetv2_100" else "none"
        save_checkpoint(create_model(key, image_size=(64, 32), text_head=text_head), ckpts / key, extra)
    recs = [
        {"backbone": "mobilenetv3_small_100", "display_name": "MobileNetV3-Small", "r1": 1.0, "r5": 5.0, "r10": 9.0,
         "map": 2.0, "minp": 1.0, "params_m": 2.0, "gflops": 0.05, "latency_ms": 10.0, "latency_ms_image": 3.0,
         "images_per_s": 300.0, "peak_mem_mb": 50.0, "bundled": True,
         "curves": [{"epoch": 1, "train_loss": 4.0, "val_loss": 4.5, "val_r1": 1.0, "val_map": 2.0}]},
        {"backbone": "mobilenetv3_large_100", "display_name": "MobileNetV3-Large", "r1": 2.0, "r5": 7.0, "r10": 12.0,
         "map": 2.8, "minp": 1.1, "params_m": 6.3, "gflops": 0.11, "latency_ms": 12.0, "latency_ms_image": 6.0,
         "images_per_s": 120.0, "peak_mem_mb": 80.0, "bundled": True},
    ]
    (ckpts / "benchmarks.json").write_text(json.dumps({"machine": {"cpu": "test CPU", "torch_threads": 2},
                                                        "gallery": {"images": 32}, "records": recs}))
    cache = base / "cache"
    return {"base": base, "gallery": gallery, "ckpts": ckpts, "cache": cache,
            "pool": EnginePool(ckpts, gallery, cache_dir=cache, galleries={"street": STREET})}


def load_app_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lightclip_app_under_test", REPO / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def people_pictures(folder: Path, colours) -> list[str]:
    """One plain-coloured 32x64 picture per colour in `folder` (a stand-in for uploaded photos of people)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, colour in enumerate(colours):
        path = folder / f"person_{i}.png"
        Image.new("RGB", (32, 64), colour).save(path)
        paths.append(str(path))
    return paths
