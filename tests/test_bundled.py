"""The bundled checkpoints and benchmark table: they load, search, fit the size budget, agree."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import REPO
from lightclip_core.checkpoints import load_checkpoint, read_config
from lightclip_core.search import SearchEngine
from lightclip_core.gallery import Gallery
from lightclip_core.checkpoints import bundled_checkpoints

CHECKPOINTS = REPO / "checkpoints"
BUDGET_MB = 160


def test_bundle_fits_the_size_budget():
    total = sum(p.stat().st_size for p in CHECKPOINTS.rglob("*") if p.is_file())
    assert total / 1e6 <= BUDGET_MB, f"checkpoints/ holds {total / 1e6:.1f} MB"


@pytest.mark.parametrize("key", sorted(bundled_checkpoints(CHECKPOINTS)))
@pytest.mark.slow
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


def test_app_examples_describe_people_in_the_bundled_gallery():
    """Each free-form example in the app fits at least two people of the bundled gallery (by the
    generator's attributes), and its words name every attribute it is checked against."""
    import re

    from lightclip_core.app.views import WITNESS_EXAMPLES

    people = json.loads((REPO / "gallery" / "attributes.json").read_text())["identities"]
    for query, attrs in WITNESS_EXAMPLES:
        words = re.findall(r"[a-z-]+", query.lower())
        for value in attrs.values():
            assert all(w in words for w in value.split()), (query, value)
        fits = [x["pid"] for x in people if all(x[k] == v for k, v in attrs.items())]
        assert len(fits) >= 2, (query, fits)


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
@pytest.mark.slow
def test_bundled_checkpoint_still_retrieves_as_benchmarked(key):
    """R@1 / mAP on a fixed 400-image subset, recomputed from the bundled (int8) weights, against the
    figure `bench` recorded for this checkpoint: broken dequantisation or a swapped file drops it."""
    from lightclip_core.bench.records import quality_check

    doc = json.loads((CHECKPOINTS / "benchmarks.json").read_text())
    rec = next(r for r in doc["records"] if r["backbone"] == key and r.get("bundled"))
    want = rec.get("quality_check")
    if not want:
        pytest.fail(f"benchmarks.json has no quality_check for {key}; rerun `python -m lightclip_core bench`")
    got = quality_check(load_checkpoint(bundled_checkpoints(CHECKPOINTS)[key]), Gallery.load(REPO / "gallery"),
                        n_images=want["images"])
    assert got["queries"] == want["queries"]
    assert got["r1"] >= want["r1"] - 1.0 and got["map"] >= want["map"] - 1.0, (got, want)


@pytest.mark.parametrize("key", sorted(bundled_checkpoints(CHECKPOINTS)))
@pytest.mark.parametrize("folder", ["gallery", "samples/street"])
@pytest.mark.slow
def test_bundled_checkpoint_ships_current_gallery_embeddings(key, folder):
    """The app's first search with any bundled encoder, on either bundled gallery (the drawn one and the
    street video), reads these instead of encoding the gallery: they must belong to these weights and
    this gallery, and equal a fresh encode (fp16 rounding aside)."""
    import numpy as np

    from lightclip_core.gallery_embeddings import (encode_gallery, read_shipped_embeddings,
                                                   shipped_embeddings_current, shipped_file)

    ckpt = bundled_checkpoints(CHECKPOINTS)[key]
    gallery = Gallery.load(REPO / folder)
    assert shipped_embeddings_current(ckpt, gallery), (
        f"checkpoints/{key}/{shipped_file(ckpt, gallery).name} is missing or stale: "
        f"run `python -m lightclip_core ship-embeddings --gallery {folder}` after bundling")
    model = load_checkpoint(ckpt)
    shipped = read_shipped_embeddings(ckpt, gallery, model.embed_dim)
    rows = list(range(0, len(gallery), max(1, len(gallery) // 24)))[:24]
    fresh = encode_gallery(model, Gallery([gallery.paths[i] for i in rows], [gallery.pids[i] for i in rows]))
    cosine = np.sum(fresh * shipped[rows], axis=1)
    assert cosine.min() >= 0.999, cosine.min()


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LIGHTCLIP_CACHE", str(tmp_path_factory.mktemp("onnx_cache")))  # exports happen here, fresh
    yield
    mp.undo()


@pytest.mark.parametrize("key", sorted(bundled_checkpoints(CHECKPOINTS)))
@pytest.mark.slow
def test_bundled_image_side_runs_the_same_on_onnx_runtime(key, onnx_cache):
    """fp32 ONNX vs PyTorch, per embedding, on real gallery pictures: cosine >= 0.999."""
    from lightclip_core.data.transforms import eval_transform
    from lightclip_core.data.base import load_image

    model = load_checkpoint(bundled_checkpoints(CHECKPOINTS)[key]).eval()
    gallery = Gallery.load(REPO / "gallery")
    tf = eval_transform(model)
    x = torch.stack([tf(load_image(p)) for p in gallery.paths[:5]])
    with torch.no_grad():
        model.use_runtime("torch")
        want = model.encode_image(x)
        model.use_runtime("onnx")
        got = model.encode_image(x)
    cosine = (want * got).sum(1)
    assert cosine.min() >= 0.999, cosine


def test_bundled_configs_name_no_path_of_the_machine_that_trained_them():
    # every recorded path (root, out, init, teachers, a warm start's copied recipe, exported_from) is
    # relative or a bare name: an absolute one would tell a user about our disks, not theirs
    from lightclip_core.fileio import portable_record

    for key in sorted(bundled_checkpoints(CHECKPOINTS)):
        config = json.loads((CHECKPOINTS / key / "config.json").read_text())
        assert portable_record(config) == config, key
