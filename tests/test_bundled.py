"""The bundled checkpoints and benchmark table: they load, search, fit the size budget, agree."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import REPO
from lightclip_core.checkpoints import load_checkpoint, read_config
from lightclip_core.search import Gallery, SearchEngine, bundled_checkpoints

CHECKPOINTS = REPO / "checkpoints"
BUDGET_MB = 160


def test_bundle_fits_the_size_budget():
    total = sum(p.stat().st_size for p in CHECKPOINTS.rglob("*") if p.is_file())
    assert total / 1e6 <= BUDGET_MB, f"checkpoints/ holds {total / 1e6:.1f} MB"


@pytest.mark.parametrize("key", sorted(bundled_checkpoints(CHECKPOINTS)))
def test_bundled_checkpoint_loads_and_searches(key, tmp_path):
    ckpt = bundled_checkpoints(CHECKPOINTS)[key]
    cfg = read_config(ckpt)
    assert cfg["model"]["backbone"] == key == ckpt.name
    assert cfg.get("weights_dtype") == "int8" and cfg.get("synthetic") is True
    model = load_checkpoint(ckpt)
    assert next(model.backbone.parameters()).dtype == torch.float32  # restored for CPU inference
    full = Gallery.load(REPO / "gallery")
    small = Gallery(full.paths[:24], full.pids[:24], full.captions[:24])
    engine = SearchEngine.from_checkpoint(ckpt, small, cache_dir=tmp_path)
    res = engine.search(small.captions[0][0], 5)
    assert len(res.hits) == 5 and res.query_pid == small.pids[0]


def test_benchmark_table_covers_the_bundle():
    path = CHECKPOINTS / "benchmarks.json"
    assert path.is_file(), "run `python -m lightclip_core bench --update-readme` after bundling a checkpoint"
    doc = json.loads(path.read_text())
    recorded = {r["backbone"] for r in doc["records"] if r.get("bundled")}
    assert recorded == set(bundled_checkpoints(CHECKPOINTS))
    for r in doc["records"]:
        assert 0 <= r["r1"] <= r["r5"] <= r["r10"] <= 100
        assert r["params_m"] > 0 and r["gflops"] > 0 and r["latency_ms"] > 0


@pytest.mark.parametrize("key", sorted(bundled_checkpoints(CHECKPOINTS)))
def test_bundled_checkpoint_still_retrieves_as_benchmarked(key):
    """R@1 / mAP on a fixed 400-image subset, recomputed from the bundled (int8) weights, against the
    figure `bench` recorded for this checkpoint: broken dequantisation or a swapped file drops it."""
    from lightclip_core.bench import quality_check

    doc = json.loads((CHECKPOINTS / "benchmarks.json").read_text())
    rec = next(r for r in doc["records"] if r["backbone"] == key and r.get("bundled"))
    want = rec.get("quality_check")
    if not want:
        pytest.fail(f"benchmarks.json has no quality_check for {key}; rerun `python -m lightclip_core bench`")
    got = quality_check(load_checkpoint(bundled_checkpoints(CHECKPOINTS)[key]), Gallery.load(REPO / "gallery"),
                        n_images=want["images"])
    assert got["queries"] == want["queries"]
    assert got["r1"] >= want["r1"] - 1.0 and got["map"] >= want["map"] - 1.0, (got, want)
