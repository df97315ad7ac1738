"""GalleryIndex against brute force; SearchEngine on a tiny gallery with a random-weight model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lightclip_core import LightCLIPError, create_model
from lightclip_core.checkpoints import save_checkpoint
from lightclip_core.synthpedes.writer import SynthConfig, generate
from lightclip_core.index import EF_STEPS, GalleryIndex, exact_top_k, recall_at_k
from lightclip_core.search import MAX_QUERY_CHARS, QueryError, SearchEngine, clean_query
from lightclip_core.gallery import Gallery
from lightclip_core.checkpoints import bundled_checkpoints
from lightclip_core.gallery_embeddings import encode_gallery


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_flat_index_equals_brute_force_and_round_trips(tmp_path):
    g, q = unit(500, 32), unit(7, 32, seed=1)
    index = GalleryIndex.build(g)
    scores, rows = index.search(q, 10)
    sims = q @ g.T
    want = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    assert (rows == want).all()
    np.testing.assert_allclose(scores, np.take_along_axis(sims, want, 1), rtol=1e-5, atol=1e-6)
    index.key = "model+gallery"
    index.save(tmp_path / "idx")
    again = GalleryIndex.load(tmp_path / "idx", key="model+gallery")
    assert (again.search(q, 10)[1] == rows).all()
    with pytest.raises(LightCLIPError, match="another model or gallery"):
        GalleryIndex.load(tmp_path / "idx", key="other")
    (tmp_path / "idx.faiss").write_bytes(b"garbage")
    with pytest.raises(LightCLIPError, match="unreadable"):
        GalleryIndex.load(tmp_path / "idx")


def test_approximate_indexes_trade_recall_for_speed():
    g, q = unit(4000, 32), unit(20, 32, seed=3)
    exact = GalleryIndex.build(g).search(q, 10)[1]

    def recall(index) -> float:
        found = index.search(q, 10)[1]
        return float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(found, exact)]))

    assert recall(GalleryIndex.build(g, "hnsw")) >= 0.8
    few, all_lists = GalleryIndex.build(g, "ivf", nprobe=4), GalleryIndex.build(g, "ivf", nprobe=10_000)
    assert recall(all_lists) == 1.0  # probing every list is exhaustive
    assert recall(few) < 1.0


def test_exact_top_k_equals_a_full_sort():
    g, q = unit(1000, 16), unit(9, 16, seed=2)
    want = np.argsort(-(q @ g.T), axis=1, kind="stable")[:, :10]
    assert (exact_top_k(g, q, 10) == want).all()
    assert (exact_top_k(g.astype(np.float64), q, 10) == want).all()  # any float input
    assert exact_top_k(g[:4], q, 10).shape == (9, 4)
    assert recall_at_k(want, want) == 1.0 and recall_at_k(want[:, ::-1], want) == 1.0
    assert recall_at_k(np.zeros_like(want), want) == pytest.approx(np.mean([(r == 0).any() / 10 for r in want]))


@pytest.mark.parametrize("kind", ["auto", "hnsw"])
def test_large_indexes_are_tuned_to_the_recall_target_on_held_out_queries(kind, monkeypatch, tmp_path):
    from lightclip_core import index as index_module
    from lightclip_core.bench.scale import clustered_unit_vectors, queries_around

    rng = np.random.default_rng(0)
    g, people = clustered_unit_vectors(4000, 32, rng)
    held_out, q = queries_around(people, 100, rng), queries_around(people, 100, rng)
    assert GalleryIndex.build(g).kind == "flat"  # 4,000 rows: exact
    monkeypatch.setattr(index_module, "AUTO_FLAT_MAX", 1000)
    index = GalleryIndex.build(g, kind, queries=held_out, recall_target=0.97)
    param, steps = {"auto": ("k_factor", index_module.K_FACTOR_STEPS), "hnsw": ("ef_search", index_module.EF_STEPS)}[kind]
    assert index.kind == ("pq" if kind == "auto" else "hnsw")
    assert index.tuned["param"] == param and index.tuned["reached"] and index.tuned["queries"] == 100
    assert index.tuned["recall_at_10"] >= 0.97 and index.params[param] == index.tuned["value"]
    exact = exact_top_k(g, q, 10)
    assert recall_at_k(index.search(q, 10)[1], exact) >= 0.9  # queries it was not tuned on
    chosen = index.tuned["value"]
    if chosen != steps[0]:  # the smallest breadth that reaches the target: one step less does not
        index.set_breadth(steps[steps.index(chosen) - 1])
        assert recall_at_k(index.search(held_out, 10)[1], exact_top_k(g, held_out, 10)) < 0.97
        index.set_breadth(chosen)
    assert np.allclose(index.reconstruct(7), g[7], atol=1e-6)  # "find people like this" needs the exact row
    index.save(tmp_path / "idx")
    again = GalleryIndex.load(tmp_path / "idx")
    assert again.kind == index.kind and again.tuned == index.tuned and again.params[param] == chosen
    assert (again.search(q, 10)[1] == index.search(q, 10)[1]).all()


def test_pq_index_needs_enough_rows_and_a_divisible_width():
    from lightclip_core.index import pq_subquantizers

    assert pq_subquantizers(384) == 48 and pq_subquantizers(512) == 64 and pq_subquantizers(36) == 4 and pq_subquantizers(20) == 2
    with pytest.raises(LightCLIPError, match="needs at least 1,000 vectors"):
        GalleryIndex.build(unit(500, 32), "pq")
    with pytest.raises(LightCLIPError, match="cannot be split"):
        pq_subquantizers(7)


def test_ivf_tuning_and_an_unreachable_target():
    g, q = unit(3000, 32), unit(50, 32, seed=4)
    ivf = GalleryIndex.build(g, "ivf", queries=q, recall_target=1.0)
    assert ivf.tuned["param"] == "nprobe" and ivf.tuned["reached"] and ivf.tuned["recall_at_10"] == 1.0
    assert recall_at_k(ivf.search(q, 10)[1], exact_top_k(g, q, 10)) == 1.0
    hnsw = GalleryIndex.build(g, "hnsw", hnsw_m=4)
    assert hnsw.tuned is None  # an explicit kind without a target keeps the breadth it was given
    tuned = hnsw.tune(g, q, target=1.01)
    assert not tuned["reached"] and tuned["value"] == EF_STEPS[-1]
    with pytest.raises(LightCLIPError, match="needs the 3000 vectors"):
        hnsw.tune(g[:10], q)


def test_index_errors():
    index = GalleryIndex.build(unit(5, 8))
    with pytest.raises(LightCLIPError, match="8-d"):
        index.search(unit(1, 4), 3)
    assert index.search(unit(1, 8), 99)[1].shape == (1, 5)  # k is capped at the gallery size
    with pytest.raises(LightCLIPError, match="Unknown index kind"):
        GalleryIndex(8, "lsh")


def test_clean_query():
    assert clean_query("  a  man\nin red ") == ("a man in red", False)
    for bad in ("", "   \n", None):
        with pytest.raises(QueryError, match="Type a description"):
            clean_query(bad)
    long = "word " * 2000  # 10,000 characters
    q, truncated = clean_query(long)
    assert truncated and len(q) <= MAX_QUERY_CHARS and q.endswith("word")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    root = tmp_path_factory.mktemp("gallery")
    generate(root, SynthConfig(ids=30, images_per_id=2, size=(64, 32), val_ids=5, test_ids=10, seed=4), workers=1)
    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32)).eval()
    ckpt = save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "m")
    gallery = Gallery.load(root, split="test")
    cache = tmp_path_factory.mktemp("cache")
    return SearchEngine.from_checkpoint(ckpt, gallery, cache_dir=cache), ckpt, cache


def test_from_checkpoint_takes_a_gallery_folder(engine, tmp_path):
    eng, ckpt, _ = engine
    root = tmp_path / "g"
    generate(root, SynthConfig(ids=6, images_per_id=2, size=(64, 32), val_ids=1, test_ids=2, seed=4), workers=1)
    by_path = SearchEngine.from_checkpoint(str(ckpt), str(root), cache_dir=False)
    by_gallery = SearchEngine.from_checkpoint(ckpt, Gallery.load(root), cache_dir=False)
    query = "a man in a red jacket and blue jeans"
    a, b = by_path.search(query, k=5), by_gallery.search(query, k=5)
    assert len(by_path.gallery) == len(Gallery.load(root)) > 0
    assert [h.path for h in a.hits] == [h.path for h in b.hits]


def test_search_matches_a_plain_ranking(engine):
    eng, _, _ = engine
    query = "a man in a red jacket and blue jeans"
    res = eng.search(query, k=5)
    q = eng.model.encode_text([query])[0].numpy()
    emb = encode_gallery(eng.model, eng.gallery)
    sims = emb @ q
    want = np.argsort(-sims, kind="stable")[:5]
    assert [h.row for h in res.hits] == want.tolist()
    np.testing.assert_allclose([h.score for h in res.hits], sims[want], atol=1e-4)
    assert [h.rank for h in res.hits] == [1, 2, 3, 4, 5]
    assert res.gallery_size == len(eng.gallery) == 20 and res.text_ms > 0
    naive = eng.naive_search(query, k=5)
    assert [h.row for h in naive.hits] == [h.row for h in res.hits]


def test_gallery_caption_queries_report_identity_and_ap(engine):
    eng, _, _ = engine
    caption = eng.gallery.captions[3][0]
    res = eng.search(caption, k=50)
    assert res.query_pid == eng.gallery.pids[3]
    # AP by hand from the ranked hits (k covers the whole gallery)
    rel = [h.pid == res.query_pid for h in res.hits]
    precisions = [sum(rel[: i + 1]) / (i + 1) for i, r in enumerate(rel) if r]
    assert res.ap == pytest.approx(100 * sum(precisions) / len(precisions), abs=1e-3)
    assert eng.search("someone nobody wrote down", 3).ap is None


def test_batch_similar_and_bad_queries(engine):
    eng, _, _ = engine
    queries = ["a woman with a black backpack", "a man in a grey coat"]
    batch = eng.search_batch(queries, k=4)
    for query, res in zip(queries, batch):
        assert [h.row for h in res.hits] == [h.row for h in eng.search(query, 4).hits]
    sim = eng.search_similar(2, k=4)
    assert 2 not in [h.row for h in sim.hits] and len(sim.hits) == 4
    with pytest.raises(QueryError):
        eng.search("   ")
    assert eng.search("x " * 5000, 3).truncated
    with pytest.raises(LightCLIPError, match="does not exist"):
        eng.search_similar(999)


def test_gallery_embeddings_are_cached_by_checkpoint_and_gallery(engine, monkeypatch):
    eng, ckpt, cache = engine
    files = list((Path(cache) / "gallery").glob("*.safetensors"))
    assert len(files) == 1
    import lightclip_core.gallery_embeddings as embeddings_mod

    def boom(*a, **k):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(embeddings_mod, "encode_gallery", boom)
    again = SearchEngine.from_checkpoint(ckpt, eng.gallery, cache_dir=cache)
    np.testing.assert_array_equal(again.embeddings, eng.embeddings)


def test_bundled_checkpoints_lists_directories(engine, tmp_path):
    _, ckpt, _ = engine
    import shutil

    shutil.copytree(ckpt, tmp_path / "mnv3s")
    (tmp_path / "junk").mkdir()
    assert bundled_checkpoints(tmp_path) == {"mobilenetv3_small_100": tmp_path / "mnv3s"}


def test_shipped_gallery_embeddings_skip_the_encode_and_go_stale_with_weights_or_images(engine, tmp_path, monkeypatch):
    import shutil

    from lightclip_core import gallery_embeddings
    from lightclip_core.gallery_embeddings import shipped_file
    from lightclip_core.gallery_embeddings import shipped_embeddings_current, write_shipped_embeddings

    eng, ckpt, _ = engine
    ck = tmp_path / "ckpt"
    shutil.copytree(ckpt, ck)
    write_shipped_embeddings(ck, eng.gallery, eng.embeddings)
    shipped = shipped_file(ck, eng.gallery)
    assert shipped.name == f"{Path(eng.gallery.root).name}_embeddings.safetensors"  # named after the gallery's folder
    assert shipped.stat().st_size < eng.embeddings.nbytes  # fp16 on disk
    # A copy of the gallery elsewhere (other absolute paths and folder name, new modification times): still current.
    root = Path(eng.gallery.root)
    copy = tmp_path / "gallery_copy"
    shutil.copytree(root, copy)
    moved = Gallery.load(copy, split="test")
    assert moved.content_fingerprint() == eng.gallery.content_fingerprint() != moved.fingerprint()
    assert shipped_embeddings_current(ck, moved)

    encodes = []
    real_encode = gallery_embeddings.encode_gallery
    monkeypatch.setattr(gallery_embeddings, "encode_gallery", lambda *a, **k: encodes.append(1) or real_encode(*a, **k))
    fast = SearchEngine.from_checkpoint(ck, moved, cache_dir=False)
    assert encodes == [] and fast.embeddings_source == "shipped"  # no gallery encode
    query = "a woman in a red coat with a black backpack"
    exact = eng.search(query, 20)
    got = fast.search(query, 20)
    np.testing.assert_allclose([h.score for h in got.hits], [h.score for h in exact.hits], atol=2e-3)
    # fp16 may swap near-ties: a row in one top 10 and not the other scores within fp16's error of the 10th
    exact_score = eng.embeddings @ eng.model.encode_text([query])[0].numpy()
    swapped = {h.row for h in got.hits[:10]} ^ {h.row for h in exact.hits[:10]}
    assert all(exact_score[r] >= exact.hits[9].score - 2e-3 for r in swapped)
    assert np.allclose(np.linalg.norm(fast.embeddings, axis=1), 1.0, atol=1e-5)

    # Other images: the shipped file no longer fits, and the engine encodes instead of trusting it.
    first = Path(moved.paths[0])
    first.write_bytes(first.read_bytes() + b"\0")
    changed = Gallery.load(copy, split="test")
    assert not shipped_embeddings_current(ck, changed)
    assert SearchEngine.from_checkpoint(ck, changed, cache_dir=False).embeddings_source == "encoded"
    assert encodes == [1]
    # Other weights: the same.
    cfg = (ck / "config.json").read_text()
    (ck / "config.json").write_text(cfg.replace("\n", "\n ", 1))
    assert not shipped_embeddings_current(ck, moved)
    SearchEngine.from_checkpoint(ck, moved, cache_dir=False)
    assert encodes == [1, 1]
    # A damaged file: rebuilt by encoding, never an error.
    (ck / "config.json").write_text(cfg)
    shipped.write_bytes(b"not safetensors")
    SearchEngine.from_checkpoint(ck, moved, cache_dir=False)
    assert encodes == [1, 1, 1]


def test_gallery_pictures_are_embedded_with_their_mirror_image(engine):
    from lightclip_core.retrieval import encode_gallery_images

    eng, _, _ = engine
    model = eng.model
    torch.manual_seed(1)
    x = torch.rand(3, 3, *model.image_size)
    with torch.no_grad():
        got = encode_gallery_images(model, x)
        # the slow, obviously right version: each picture and its mirror image on their own
        want = [torch.nn.functional.normalize(model.encode_image(x[i:i + 1]) + model.encode_image(x[i:i + 1].flip(-1)), dim=-1)
                for i in range(3)]
        np.testing.assert_allclose(got.numpy(), torch.cat(want).numpy(), atol=1e-5)
        assert torch.allclose(got.norm(dim=1), torch.ones(3), atol=1e-5)
        # a picture that is its own mirror image keeps its own embedding
        sym = torch.cat([x[:1, ..., : x.shape[-1] // 2], x[:1, ..., : x.shape[-1] // 2].flip(-1)], dim=-1)
        np.testing.assert_allclose(encode_gallery_images(model, sym).numpy(), model.encode_image(sym).numpy(), atol=1e-5)
        np.testing.assert_allclose(encode_gallery_images(model, x, "image").numpy(), model.encode_image(x).numpy())
        with pytest.raises(LightCLIPError, match="gallery views"):
            encode_gallery_images(model, x, "mirror")
    # the engine's gallery is embedded the same way
    np.testing.assert_allclose(eng.embeddings, encode_gallery(model, eng.gallery), atol=1e-5)


def test_shipped_embeddings_written_with_other_views_are_not_used(engine, tmp_path, monkeypatch):
    import shutil

    from lightclip_core import gallery_embeddings
    from lightclip_core.gallery_embeddings import shipped_embeddings_current, write_shipped_embeddings

    eng, ckpt, _ = engine
    ck = tmp_path / "ckpt"
    shutil.copytree(ckpt, ck)
    monkeypatch.setattr(gallery_embeddings, "GALLERY_VIEWS", "image")  # as files written before image+mirror
    write_shipped_embeddings(ck, eng.gallery, eng.embeddings)
    assert shipped_embeddings_current(ck, eng.gallery)
    monkeypatch.undo()
    assert not shipped_embeddings_current(ck, eng.gallery)
    assert SearchEngine.from_checkpoint(ck, eng.gallery, cache_dir=False).embeddings_source == "encoded"


def test_pool_preload_loads_the_encoders_with_current_shipped_embeddings_and_never_encodes(engine, tmp_path, monkeypatch):
    import shutil

    from lightclip_core import gallery_embeddings
    from lightclip_core.app.pool import EnginePool
    from lightclip_core.gallery_embeddings import write_shipped_embeddings

    _, ckpt, _ = engine
    ckpts = tmp_path / "ckpts"
    shutil.copytree(ckpt, ckpts / "mnv3s")
    torch.manual_seed(1)
    save_checkpoint(create_model("mobilenetv2_100", image_size=(64, 32)).eval(), ckpts / "mnv2")
    pool = EnginePool(ckpts, Path(engine[0].gallery.root), cache_dir=tmp_path / "cache")
    shipped = SearchEngine.from_checkpoint(ckpts / "mnv3s", pool.gallery, cache_dir=False).embeddings
    write_shipped_embeddings(ckpts / "mnv3s", pool.gallery, shipped)
    encodes = []
    monkeypatch.setattr(gallery_embeddings, "encode_gallery", lambda *a, **k: encodes.append(1))
    assert pool.preload() == ["mobilenetv3_small_100"]  # MobileNetV2 has no shipped embeddings: left for later
    assert pool.is_loaded("mobilenetv3_small_100") and not pool.is_loaded("mobilenetv2_100") and encodes == []
    assert pool.preload(["mobilenetv3_small_100", "efficientnet_b3"]) == ["mobilenetv3_small_100"]
    # a second gallery: its own shipped file beside the same checkpoint, and the same model in memory
    street = tmp_path / "street"
    shutil.copytree(Path(engine[0].gallery.root), street)
    (street / "imgs" / Path(pool.gallery.paths[0]).name).write_bytes(b"")  # other content
    two = EnginePool(ckpts, Path(engine[0].gallery.root), cache_dir=tmp_path / "cache2", galleries={"street": street})
    assert two.preload(gallery="street") == [] and encodes == []  # not shipped for it yet: left for its first search
    write_shipped_embeddings(ckpts / "mnv3s", two.gallery_of("street"),
                             np.zeros((len(two.gallery_of("street")), shipped.shape[1]), np.float32) + 0.1)
    assert sorted(p.name for p in (ckpts / "mnv3s").glob("*_embeddings.safetensors")) == [
        f"{Path(engine[0].gallery.root).name}_embeddings.safetensors", "street_embeddings.safetensors"]
    assert two.preload() == two.preload(gallery="street") == ["mobilenetv3_small_100"] and encodes == []
    assert two.get("mobilenetv3_small_100", gallery="street").model is two.get("mobilenetv3_small_100").model


def test_ship_embeddings_command_writes_then_keeps_current_files(engine, tmp_path, capsys):
    import json
    import shutil

    from lightclip_core.cli import main
    from lightclip_core.gallery_embeddings import shipped_file

    eng, ckpt, _ = engine
    shutil.copytree(ckpt, tmp_path / "cks" / "m")
    args = ["ship-embeddings", "--checkpoints", str(tmp_path / "cks"), "--gallery", eng.gallery.root]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert [c["status"] for c in first["checkpoints"]] == ["written"] and shipped_file(tmp_path / "cks" / "m", eng.gallery).is_file()
    assert main(args) == 0
    assert [c["status"] for c in json.loads(capsys.readouterr().out)["checkpoints"]] == ["current"]
    assert main([*args, "--backbones", "efficientnet_b3"]) == 2
    assert "No checkpoint for efficientnet_b3" in capsys.readouterr().err
