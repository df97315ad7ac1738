"""The package as pip installs it: an installed copy (not the checkout) searches from another directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


@pytest.mark.slow
def test_an_installed_copy_searches_from_another_directory(tmp_path):
    # built from a copy of what pyproject.toml packages, so the checkout gets no build/ folder
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "lightclip_core", src / "lightclip_core", ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(site), str(src)], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import lightclip_core, lightclip_core.app.views, lightclip_core.bench.records; "
            "print(lightclip_core.__file__)")
    where = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                           timeout=120)
    assert where.returncode == 0, where.stderr[-2000:]
    assert Path(where.stdout.strip()).is_relative_to(site)  # the installed copy, wings included
    proc = subprocess.run(
        [sys.executable, "-m", "lightclip_core", "search", "--checkpoint", str(REPO / "checkpoints" / "mobilenetv3_small_100"),
         "--gallery", str(REPO / "gallery"), "-q", "a man in a grey jacket", "-k", "3", "--json", "--runtime", "torch"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    hits = json.loads(proc.stdout)[0]["hits"]
    assert len(hits) == 3 and all(h["path"].startswith(str(REPO / "gallery")) for h in hits)
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # nothing written where it ran
