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
