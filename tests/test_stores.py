"""Camera and time filters on footage galleries, on FAISS and in a Milvus (lite) store; the store's
errors in one sentence."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from lightclip_core import LightCLIPError, create_model  # noqa: E402
from lightclip_core.checkpoints import save_checkpoint  # noqa: E402
from lightclip_core.footage import Source, build_footage_gallery  # noqa: E402
from lightclip_core.search import SearchEngine  # noqa: E402
from lightclip_core.gallery import Gallery  # noqa: E402
from lightclip_core.stores import FootageFilter, RowMeta, filtered_search, parse_time, top_per_id  # noqa: E402

from test_footage import BlobDetector, make_clip  # noqa: E402

QUERIES = ["a man in a blue shirt", "a woman in a red coat"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    import torch

    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32)).eval()
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="module")
def footage(tmp_path_factory, checkpoint) -> Path:
    """Two cameras, two people each, four seconds."""
    from lightclip_core import load_checkpoint

    folder = tmp_path_factory.mktemp("cams")
    clips = [make_clip(folder / "cam1.avi"), make_clip(folder / "cam2.mp4")]
    out = folder / "gallery"
    build_footage_gallery([Source(str(c), "video") for c in clips], out, load_checkpoint(checkpoint), BlobDetector())
    return out


def test_times_parse_and_bad_ones_are_one_sentence():
    assert [parse_time(t) for t in ("90", "1:30", "1:02:03", "0", 12.5)] == [90, 90, 3723, 0, 12.5]
    for bad in ("", "-5", "1:75", "abc", "1:2:3:4", "nan"):
        with pytest.raises(LightCLIPError, match="seconds into the video"):
            parse_time(bad)
    with pytest.raises(LightCLIPError, match="ends .* before it starts"):
        FootageFilter(start_s=10, end_s=5)


def test_the_filter_mask_equals_a_slow_loop():
    rng = np.random.default_rng(0)
    source = rng.choice(["cam1.mp4", "cam2.mp4", "cam3.avi"], 200)
    ts = rng.uniform(0, 100, 200)
    meta = RowMeta(source, ts, np.arange(200), np.zeros((200, 4), np.float32))
    flt = FootageFilter(("cam1", "cam3.avi"), 20.0, 70.0)
    want = [s in ("cam1.mp4", "cam3.avi") and 20 <= t <= 70 for s, t in zip(source, ts)]
    assert flt.mask(meta).tolist() == want
    assert FootageFilter(("cam2",)).mask(meta).tolist() == [s == "cam2.mp4" for s in source]
    assert flt.milvus_expr(list(source)) == 'source in ["cam1.mp4", "cam3.avi"] and timestamp >= 20.0 and timestamp <= 70.0'
    with pytest.raises(LightCLIPError, match="No camera 'cam9'"):
        FootageFilter(("cam9",)).mask(meta)


def test_filtered_search_equals_brute_force_over_the_kept_rows():
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((60, 8)).astype(np.float32)
    q = rng.standard_normal((3, 8)).astype(np.float32)
    pids = rng.integers(0, 15, 60)
    rows = np.flatnonzero(rng.random(60) < 0.5)
    for one in (False, True):
        scores, got = filtered_search(emb, q, rows, 5, pids, one)
        for i in range(3):
            ranked = sorted(rows, key=lambda r: -float(q[i] @ emb[r]))
            if one:
                ranked = [r for n, r in enumerate(ranked) if pids[r] not in {pids[x] for x in ranked[:n]}]
            assert got[i].tolist() == ranked[:5]
            assert np.allclose(scores[i], [q[i] @ emb[r] for r in ranked[:5]], atol=1e-5)
    s, r = top_per_id(np.zeros((1, 0), np.float32), np.zeros((1, 0), np.int64), pids, 3, True)
    assert r.tolist() == [[-1, -1, -1]]


def test_a_filtered_search_keeps_only_that_camera_and_time(footage, checkpoint):
    engine = SearchEngine.from_checkpoint(checkpoint, Gallery.load(footage))
    everything = engine.search_batch(QUERIES, 10)
    meta = engine.gallery.footage
    assert {meta.crop(h.path)["source"] for r in everything for h in r.hits} == {"cam1.avi", "cam2.mp4"}
    flt = FootageFilter(("cam2",), 1.0, 2.5)
    for r in engine.search_batch(QUERIES, 10, where=flt):
        assert r.hits, "each camera holds two tracks seen in that second and a half"
        for h in r.hits:
            c = meta.crop(h.path)
            assert c["source"] == "cam2.mp4" and 1.0 <= c["timestamp"] <= 2.5
        assert len({h.pid for h in r.hits}) == len(r.hits)  # still one crop per track
    with pytest.raises(LightCLIPError, match="need a footage gallery"):
        SearchEngine.from_checkpoint(checkpoint, Gallery.load(Path(__file__).resolve().parents[1] / "gallery",
                                                              max_images=20)).search_batch(QUERIES, 5, where=flt)


def run_cli(*argv: str, capsys) -> dict | list:
    from lightclip_core.cli import main

    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_milvus_lite_round_trip_with_filters_equals_faiss(footage, checkpoint, tmp_path, capsys):
    pytest.importorskip("pymilvus")
    db = tmp_path / "gallery.db"
    wrote = run_cli("index", "--checkpoint", str(checkpoint), "--gallery", str(footage), "--store", "milvus",
                    "--uri", str(db), capsys=capsys)
    assert wrote["images"] == len(Gallery.load(footage)) and wrote["footage"] is True
    for extra in ([], ["--camera", "cam1", "--from", "0:01", "--to", "3"]):
        args = ["search", "--checkpoint", str(checkpoint), "--gallery", str(footage), "--json", "-k", "5",
                *sum((["-q", q] for q in QUERIES), []), *extra]
        faiss = run_cli(*args, capsys=capsys)
        milvus = run_cli(*args, "--store", "milvus", "--uri", str(db), capsys=capsys)
        for f, m in zip(faiss, milvus):
            assert [h["path"] for h in m["hits"]] == [h["path"] for h in f["hits"]]
            assert np.allclose([h["score"] for h in m["hits"]], [h["score"] for h in f["hits"]], atol=1e-4)
            if extra:
                assert {h["footage"]["source"] for h in m["hits"]} == {"cam1.avi"}


@pytest.mark.slow
def test_store_errors_are_one_sentence(footage, checkpoint, tmp_path, monkeypatch, capsys):
    pytest.importorskip("pymilvus")
    from lightclip_core.cli import main
    from lightclip_core.stores import MilvusStore

    t0 = time.perf_counter()
    with pytest.raises(LightCLIPError, match="cannot be reached"):
        MilvusStore("http://127.0.0.1:9", timeout_s=2.0)
    assert time.perf_counter() - t0 < 10
    db = tmp_path / "other.db"
    other = create_model("mobilenetv3_small_100", image_size=(64, 32)).eval()  # other weights
    ckpt2 = save_checkpoint(other, tmp_path / "other")
    run_cli("index", "--checkpoint", str(ckpt2), "--gallery", str(footage), "--store", "milvus", "--uri", str(db),
            capsys=capsys)
    assert main(["search", "--checkpoint", str(checkpoint), "--gallery", str(footage), "-q", "a man",
                 "--store", "milvus", "--uri", str(db)]) != 0
    assert "written with another checkpoint, gallery or way of embedding pictures" in capsys.readouterr().err
    assert main(["search", "--checkpoint", str(checkpoint), "--gallery", str(footage), "-q", "a man",
                 "--store", "milvus", "--uri", str(db), "--collection", "nothing_here"]) != 0
    assert "has no collection 'nothing_here'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    assert main(["search", "--checkpoint", str(checkpoint), "--gallery", str(footage), "-q", "a man",
                 "--store", "milvus", "--uri", str(db)]) != 0
    assert "pip install -r requirements-scale.txt" in capsys.readouterr().err


def open_written(name: str, engine, checkpoint: Path, folder: Path):
    """Store `name` holding `engine`'s gallery: the engine's own for an in-process store, else a new one
    written at `folder` the way `index --store NAME` writes it."""
    from lightclip_core.gallery_embeddings import store_key
    from lightclip_core.stores import STORES

    cls = STORES.get(name)
    if not cls.persistent:
        if not isinstance(engine.store, cls):
            pytest.fail(f"say here how the in-process store {name!r} is built over a gallery")
        return engine.store
    if name == "milvus":
        pytest.importorskip("pymilvus")
    store = cls.open(folder / f"{name}.db")
    store.write(engine.embeddings, RowMeta.of(engine.gallery), store_key(checkpoint, engine.gallery))
    return store


@pytest.mark.slow
@pytest.mark.parametrize("name", __import__("lightclip_core.stores", fromlist=["STORES"]).STORES.names())
def test_every_store_answers_alike(name, footage, checkpoint, tmp_path):
    """The same queries, filter, one-per-track grouping and image-to-image search on every registered
    store, against an exact scan in numpy."""
    engine = SearchEngine.from_checkpoint(checkpoint, Gallery.load(footage))
    store = open_written(name, engine, checkpoint, tmp_path)
    emb, pids = engine.embeddings, engine.gallery.pids
    q = engine.encode_queries(QUERIES)
    everything = np.arange(len(emb))
    kept = np.flatnonzero(FootageFilter(("cam2",), 1.0, 2.5).mask(RowMeta.of(engine.gallery)))
    for where, rows in ((None, everything), (FootageFilter(("cam2",), 1.0, 2.5), kept)):
        for one in (False, True):
            want_s, want_r = filtered_search(emb, q, rows, 4, pids, one)
            got_s, got_r = store.search(q, 4, where, one_per_id=one)
            assert got_r.tolist() == want_r.tolist(), (where, one)
            assert np.allclose(got_s[got_r >= 0], want_s[want_r >= 0], atol=1e-4)
    assert np.allclose(store.vector(3), emb[3], atol=1e-6)
    assert sorted(store.sources()) == ["cam1.avi", "cam2.mp4"]
    on_store = SearchEngine(engine.model, engine.gallery, None, store=store)
    for row in (0, 5):  # the tiny model's crops tie in score: compare scores, and check each hit is what it says
        got, want = on_store.search_similar(row, 3).hits, engine.search_similar(row, 3).hits
        assert np.allclose([h.score for h in got], [h.score for h in want], atol=1e-4)
        assert all(abs(h.score - float(emb[row] @ emb[h.row])) < 1e-4 for h in got)
        assert len({h.pid for h in got}) == len(got) and pids[row] not in {h.pid for h in got}
