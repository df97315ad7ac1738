"""The app's logic called directly (views, charts, uploads), then the app on a local port via
gradio_client, then (marked `browser`) a real headless Chromium through Playwright."""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import re
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import REPO, make_gallery
from lightclip_core import create_model
from lightclip_core.app import charts, views
from lightclip_core.checkpoints import save_checkpoint
from lightclip_core.errors import LightCLIPError
from lightclip_core.app.pool import EnginePool
from lightclip_core.gallery import Gallery
from lightclip_core.app.uploads import MAX_RATIO, UploadArea, ingest_uploads

ARTIFACTS = REPO / "tests" / "artifacts"
STREET = REPO / "samples" / "street"  # the bundled street gallery (the real video through `footage`)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A tiny gallery, two random-weight checkpoints and a benchmark table: what the app reads."""
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


def _load_app_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lightclip_app_under_test", REPO / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_api_endpoints_have_no_trigger_in_the_page(site, tmp_path):
    # the API-only endpoints are gr.on with no triggers, not hidden buttons a page could reach
    demo = _load_app_module().build_app(site["pool"], UploadArea(tmp_path / "up"))
    config = demo.config
    deps = {d["api_name"]: d for d in config["dependencies"] if d.get("api_name")}
    for name in ("search", "search_mine", "similar", "explain", "compare"):
        assert deps[name]["targets"] == [], name
    hidden_buttons = [c for c in config["components"]
                      if c["type"] == "button" and c.get("props", {}).get("visible") is False]
    assert hidden_buttons == []
    # docs/API.md lists every public endpoint, one table row each, and nothing that is not one
    public = {d["api_name"] for d in config["dependencies"] if d.get("api_visibility", "public") == "public"}
    api_doc = (REPO / "docs" / "API.md").read_text().split("## The HTTP API", 1)[1]
    documented = set(re.findall(r"^\| `/(\w+)` \|", api_doc, flags=re.M))
    assert public == documented, f"undocumented: {sorted(public - documented)}; gone: {sorted(documented - public)}"


# -- views ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_search_view_captions_and_bad_inputs(site):
    pool = site["pool"]
    items, md, rows = views.search_view(pool, "a man in a red jacket", "mobilenetv3_small_100", 5)
    assert len(items) == len(rows) == 5
    assert items[0][1].startswith("#1 · cos ") and "id " in items[0][1]
    assert "of 32 images" in md and "synthetic-trained" in md
    items, md, _ = views.search_view(pool, "   ", "mobilenetv3_small_100", 5)
    assert items == [] and "Type a description" in md
    items, md, _ = views.search_view(pool, "red " * 2500, "mobilenetv3_small_100", 3)  # 10,000 characters
    assert len(items) == 3 and "was cut" in md
    with pytest.raises(LightCLIPError, match="No checkpoint for efficientnet_b3.*export"):
        views.search_view(pool, "a man", "efficientnet_b3", 5)
    with pytest.raises(LightCLIPError, match="(?i)valid"):
        views.search_view(pool, "a man", "resnet_9000", 5)
    assert len(views.search_view(pool, "a man", "mobilenetv3_small_100", 999)[0]) == 32  # k capped
    # a repeated query's embedding comes from the text encoder's cache, and the summary says so
    _, md, _ = views.search_view(pool, "a person in a teal scarf, asked once", "mobilenetv3_small_100", 3)
    assert "text encode" in md and "(cached)" not in md
    _, md, _ = views.search_view(pool, "a person in a teal scarf, asked once", "mobilenetv3_small_100", 3)
    assert "(cached)" in md


@pytest.mark.parametrize("bad", [None, "", ["x", "y"], 7])
def test_every_view_answers_a_bad_backbone_in_one_sentence(site, bad, tmp_path):
    """/search, /similar, /explain, /upload and /upload_sample all check the backbone the same way."""
    pool, why = site["pool"], "Name one model as a string"
    assert isinstance(views.search_many(pool, ["a man"], [bad], [5])[0], LightCLIPError)
    pics = _people_pictures(tmp_path / "pics", [(200, 30, 30)])
    for view, args in ((views.search_view, (pool, "a man", bad, 5)), (views.similar_view, (pool, bad, 0, 5)),
                       (views.explain_view, (pool, "a man", bad, 0)),
                       (views.index_uploads, (pool, pics, bad, UploadArea(tmp_path / "up"), "s1"))):
        with pytest.raises(LightCLIPError, match=why):
            view(*args)
    assert pool.info(bad)["available"] is False


def test_a_query_of_invisible_characters_is_an_empty_query(site):
    items, md, _ = views.search_view(site["pool"], "\u200b\u200c\u2060\ufeff\u00ad", "mobilenetv3_small_100", 5)
    assert items == [] and "Type a description" in md
    assert views.search_many(site["pool"], ["\u200b \u200d"], ["mobilenetv3_small_100"], [5]) == [[]]


def test_gallery_caption_query_marks_the_right_person(site):
    pool = site["pool"]
    g = pool.gallery
    caption, pid = g.captions[5][0], g.pids[5]
    items, md, rows = views.search_view(pool, caption, "mobilenetv3_small_100", 32)
    marked = [c for _, c in items if c.endswith("✓")]
    assert len(marked) == sum(p == pid for p in g.pids) == 2
    assert f"person **{pid}**" in md and "AP over the whole gallery" in md


def test_similar_and_compare_views(site):
    pool = site["pool"]
    items, md, rows = views.similar_view(pool, "mobilenetv3_small_100", 4, 6)
    assert len(items) == 6 and 4 not in rows and "People like gallery image 4" in md
    assert views.similar_view(pool, "mobilenetv3_small_100", None)[0] == []
    items, texts, note = views.compare_view(pool, "a woman in a blue dress", ["mobilenetv3_small_100", "mobilenetv3_large_100"], 8)
    assert [len(i) for i in items] == [8, 8, 0] and "Top-K overlap" in note
    a = {r for r in views.search_view(pool, "a woman in a blue dress", "mobilenetv3_small_100", 8)[2]}
    b = {r for r in views.search_view(pool, "a woman in a blue dress", "mobilenetv3_large_100", 8)[2]}
    assert f"**{len(a & b)}** of 8" in note
    # the synthetic-training caveat: once for the comparison, not under every model
    assert note.count(views.SYNTHETIC_WARNING) == 1 and "MobileNetV3-Small, MobileNetV3-Large" in note
    assert not any(views.SYNTHETIC_WARNING in t for t in texts)
    assert views.overlap([[1, 2, 3], [3, 4, 1], [9]]) == [(0, 1, 2), (0, 2, 0), (1, 2, 0)]
    # one name as a string is one column, not one per letter; non-names are dropped; a missing model's
    # sentence reaches the note (the API's only text)
    items, _, _ = views.compare_view(pool, "a man", "mobilenetv3_small_100", 4)
    assert [len(i) for i in items] == [4, 0, 0]
    items, _, note = views.compare_view(pool, "a man", [None, 7, "mobilenetv3_small_100", "efficientnet_b3"], 4)
    assert [len(i) for i in items] == [4, 0, 0] and "EfficientNet-B3: No checkpoint for efficientnet_b3" in note


@pytest.mark.parametrize("key", ["mobilenetv3_small_100", "mobilenetv2_100"])  # without / with a text head
def test_explain_view_scores_each_phrase_and_refuses_bad_input(site, key):
    pool = site["pool"]
    query = "The man is walking. He is wearing a grey jacket and black trousers."
    md = views.explain_view(pool, query, key, 3)
    for phrase in ("The man is walking", "a grey jacket", "black trousers"):
        assert f"| {phrase} |" in md
    assert "Why picture 3 matched" in md and md.count("% of the gallery") == 3
    # the percentile is what it says: the share of the gallery this picture beats for the phrase alone
    from lightclip_core.explain import explain

    engine = pool.get(key)
    for e in explain(engine, query, 3):
        # slow and obvious, from a fresh encode of the phrase alone (the runtime may differ by ~1e-6, which
        # can move the picture past one near-tied neighbour: one gallery position of tolerance)
        with torch.no_grad():
            sims = engine.embeddings @ engine.model.encode_text([e.phrase]).numpy()[0]
        assert e.score == pytest.approx(float(sims[3]), abs=1e-4)
        assert e.percentile == pytest.approx(100 * sum(float(s) < float(sims[3]) for s in sims) / len(sims),
                                             abs=100 / len(sims) + 1e-6)
    assert views.explain_view(pool, query, key, None).startswith("Click a result")
    for bad_row in (999, -1, "x"):
        with pytest.raises(LightCLIPError, match="does not exist") as refused:
            views.explain_view(pool, query, key, bad_row)
        assert str(refused.value).count(".") <= 2
    assert views.explain_view(pool, "   ", key, 3).startswith("Type a description")
    assert "| " in views.explain_view(pool, "blue " * 2000, key, 3)  # cut, not refused
    with pytest.raises(LightCLIPError, match="resnet_9000"):
        views.explain_view(pool, query, "resnet_9000", 3)


def test_batched_search_answers_each_request_as_if_alone(site):
    pool = site["pool"]
    reqs = [("a woman in a blue dress", "mobilenetv3_small_100", 5), ("   ", "mobilenetv3_small_100", 5),
            ("a man in a red jacket", "mobilenetv3_large_100", 3), ("a man", "resnet_9000", 4),
            ("a child with a yellow umbrella", "mobilenetv3_small_100", 12), (pool.gallery.captions[2][0],
                                                                            "mobilenetv3_small_100", 4),
            ("a man", "efficientnet_b3", 4), ("red " * 2500, "mobilenetv3_large_100", 999)]
    got = views.search_many(pool, [q for q, _, _ in reqs], [b for _, b, _ in reqs], [k for _, _, k in reqs])
    for (q, b, k), answer in zip(reqs, got):
        if isinstance(answer, LightCLIPError):  # the one sentence search_view raises for it
            with pytest.raises(LightCLIPError) as alone:
                views.search_view(pool, q, b, k)
            assert str(alone.value) == str(answer), (q, b, k)
        else:
            assert answer == views.search_view(pool, q, b, k)[0], (q, b, k)
    assert [len(a) if isinstance(a, list) else "error" for a in got] == [5, 0, 3, "error", 12, 4, "error", 32]


HOSTILE_SEARCHES = [("a man \ud800 in red", "mobilenetv3_small_100", 5),  # a lone UTF-16 surrogate
                    ("a man", None, 5), ("a man", ["mobilenetv3_small_100"], 5), ("a man", 7, 5),
                    ("a man", "broken_model", 5), ("a man\x00 in \x1b[31mred", "mobilenetv3_large_100", "x")]


def test_one_hostile_request_never_fails_its_batch(site, monkeypatch):
    pool = site["pool"]
    real_get = pool.get

    def get(b, progress=None, gallery=None):  # a bundled model whose files are damaged: it fails to load, unexpectedly
        if b == "broken_model":
            raise KeyError("head.weight")
        return real_get(b, progress, gallery=gallery)

    monkeypatch.setattr(pool, "get", get)
    good = [(f"a person in a {c} coat", b, 4) for c in ("red", "blue", "green")
            for b in ("mobilenetv3_small_100", "mobilenetv3_large_100")]
    want = [views.search_view(pool, q, b, k)[0] for q, b, k in good]
    for bad in HOSTILE_SEARCHES:
        reqs = good[:3] + [bad] + good[3:]
        got = views.search_many(pool, *zip(*reqs))
        assert got[:3] + got[4:] == want, bad
        answer = got[3]
        if isinstance(bad[1], str) and bad[1] != "broken_model":  # odd text: cleaned and searched
            assert answer == views.search_view(pool, *bad)[0] and len(answer) == views.clamp_k(bad[2]), bad
        else:  # its own one sentence
            assert isinstance(answer, LightCLIPError) and str(answer).count(". ") <= 1, (bad, answer)
    assert views.search_many(pool, ["a man \ud800 in red"], ["mobilenetv3_small_100"], [3])[0] == \
        views.search_view(pool, "a man in red", "mobilenetv3_small_100", 3)[0]


def test_the_street_gallery_is_chosen_by_key_on_every_view(site):
    pool, q, b = site["pool"], "a man in a dark jacket", "mobilenetv3_small_100"
    items, md, rows = views.search_view(pool, q, b, 4, gallery="street")
    assert len(items) == 4 and all(" · track " in caption for _, caption in items)  # each result is a track
    assert all(Path(path).is_relative_to(STREET) for path, _ in items) and "tracks" in md
    assert views.search_view(pool, q, b, 4)[0][0][0].startswith(str(site["gallery"]))  # the default is unchanged
    assert views.search_many(pool, [q, q], [b, b], [4, 4], ["street", None]) == [items, views.search_view(pool, q, b, 4)[0]]
    frame = views.bundled_frame(pool, b, "street", rows[0])
    assert frame is not None and frame.shape == (576, 768, 3)  # the video's frame, its box drawn
    assert views.bundled_frame(pool, b, "synthpedes", 0) is None  # drawings have no frame
    sim_items, _, _ = views.similar_view(pool, b, rows[0], 3, gallery="street")
    assert len(sim_items) == 3 and all(Path(p).is_relative_to(STREET) for p, _ in sim_items)
    assert "Why picture" in views.explain_view(pool, q, b, rows[0], gallery="street")
    cols, _, note = views.compare_view(pool, q, [b, "mobilenetv3_large_100"], 3, gallery="street")
    assert [c[0][0] for c in cols[:1]] == [items[0][0]] and "overlap" in note
    # one model in memory for both galleries
    assert pool.get(b, gallery="street").model is pool.get(b).model
    for bad in ("nope", ["street"], 3):
        message = "Unknown gallery " + (repr(bad) if isinstance(bad, str) else f"a {type(bad).__name__}")
        with pytest.raises(LightCLIPError) as refused:
            views.search_view(pool, q, b, 4, gallery=bad)
        assert str(refused.value) == f"{message}; valid galleries are: synthpedes, street."
        assert str(views.search_many(pool, [q], [b], [4], [bad])[0]).startswith(message)
        for view, args in ((views.compare_view, (pool, q, [b], 3)), (views.explain_view, (pool, q, b, 0))):
            with pytest.raises(LightCLIPError, match=re.escape(message)):
                view(*args, gallery=bad)


def test_choosing_the_street_gallery_picks_the_best_encoder_on_real_photos_and_a_street_example(site, monkeypatch):
    pool = site["pool"]
    assert views.gallery_defaults(pool, "synthpedes", "", "mobilenetv2_100") == ("mobilenetv2_100", "")
    assert views.gallery_defaults(pool, "street", "", "mobilenetv2_100") == ("mobilenetv2_100", views.STREET_QUERIES[0])
    real = {"records": [{"backbone": "mobilenetv3_large_100", "real_map": 50.0, "real_r1": 40.0, "r1": 1.0},
                        {"backbone": "mobilenetv3_small_100", "real_map": 40.0, "real_r1": 30.0, "r1": 2.0}]}
    monkeypatch.setattr(pool, "bench", lambda: real)
    assert views.gallery_defaults(pool, "street", "a man", "mobilenetv2_100") == ("mobilenetv3_large_100", "a man")


@pytest.mark.slow
def test_a_fresh_start_answers_on_pytorch_while_the_graphs_export_then_ranks_the_same_on_onnx(site, tmp_path, monkeypatch):
    """An empty ONNX cache: the first searches answer at once on PyTorch while a child process exports
    the query graphs; once they are ready the same queries rank the same on ONNX Runtime."""
    from lightclip_core.models import text_encoders

    monkeypatch.setenv("LIGHTCLIP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(text_encoders, "_shared", {})  # a text encoder that has exported nothing yet
    pool = EnginePool(site["ckpts"], site["gallery"], cache_dir=tmp_path / "cache")
    b, queries = "mobilenetv2_100", ["a woman in a green coat", "a man with a red bag", "someone in black shoes"]
    pool.warm(b, wait=False)
    pending = pool.warming(b)
    assert any("text encoder" in w for w in pending), pending  # the small head's export may be done already
    assert "Getting ready" in views.warming_note(pending) and views.warming_note([]) == ""
    first = [views.search_view(pool, q, b, 8)[2] for q in queries]  # answered before the export is done
    assert pool.warming(b) and all(len(rows) == 8 for rows in first)
    deadline = time.time() + 300
    while pool.warming(b) and time.time() < deadline:
        time.sleep(0.2)
    assert pool.warming(b) == []
    graphs = list(pool_graphs(pool, b))
    assert all(g.path.is_relative_to(tmp_path / "cache") for g in graphs)
    text = pool.get(b).model.text_encoder
    text.vectors.clear(), text.token_states.clear()  # encode the queries again, now on ONNX Runtime
    later = [views.search_view(pool, q, b, 8)[2] for q in queries]
    assert all(g._session is not None for g in graphs)  # these ran on ONNX Runtime
    assert later == first


def pool_graphs(pool: EnginePool, backbone: str):
    from lightclip_core.app.pool import query_graphs

    return query_graphs(pool.get(backbone).model)


def test_model_choices_list_missing_backbones(site):
    choices = dict((k, label) for label, k in views.model_choices(site["pool"]))
    assert "synthetic-trained" in choices["mobilenetv3_small_100"]
    assert choices["coatnet_0_rw_224"] == "CoAtNet-0 (no checkpoint)"


def test_compare_opens_on_the_default_against_the_cheapest_student():
    bundled = ["coatnet_0_rw_224", "efficientnet_b0", "efficientnet_lite0", "mobilenetv3_small_100"]
    assert views.compare_defaults(bundled, "efficientnet_lite0") == ["efficientnet_lite0", "mobilenetv3_small_100"]
    assert views.compare_defaults(bundled, "efficientnet_b0") == ["efficientnet_b0", "efficientnet_lite0"]
    assert views.compare_defaults(["b", "a", "c"], None) == ["b", "a"]  # neither present: the first two
    assert views.compare_defaults(["a"], "a") == ["a"] and views.compare_defaults([], None) == []


# -- charts -----------------------------------------------------------------------------------------


def test_pareto_front_matches_brute_force():
    import random

    rng = random.Random(0)
    for _ in range(50):
        pts = [(rng.choice([1, 2, 3, 4, 5]), rng.choice([1, 2, 3, 4])) for _ in range(rng.randint(1, 9))]
        for lower in (True, False):
            s = 1 if lower else -1

            def dominated(i):
                ci, ai = pts[i]
                return any((s * cj <= s * ci and aj >= ai and (s * cj < s * ci or aj > ai)) for cj, aj in pts)

            want = {i for i in range(len(pts)) if not dominated(i)}
            got = set(charts.pareto_front(pts, lower))
            # duplicates of a front point: the front keeps one representative
            assert {pts[i] for i in got} == {pts[i] for i in want}


def _label_overlap(xs, ys, names, positions):
    fx, fy = charts._fractions(xs, False), charts._fractions(ys, False)
    boxes = [charts._label_box(fx[i], fy[i], len(names[i]), positions[i]) for i in range(len(xs))]
    m = charts._MARKER
    marks = [(x - m, y - m, x + m, y + m) for x, y in zip(fx, fy)]
    return (sum(charts._overlap(boxes[i], boxes[j]) for i in range(len(xs)) for j in range(i + 1, len(xs)))
            + sum(charts._overlap(boxes[i], marks[j]) for i in range(len(xs)) for j in range(len(xs)) if i != j))


def test_scatter_labels_move_apart_where_points_crowd():
    # far apart: every label stays above its point
    assert charts.label_positions([1, 5, 9], [1, 5, 9], ["a", "b", "c"]) == ["top center"] * 3
    # the cheap end of the real chart: five models within 0.2 GFLOPs and 7 R@1 points of each other
    xs, ys = [0.037, 0.124, 0.151, 0.194, 0.262, 2.27, 0.192], [7.4, 6.8, 1.7, 2.65, 33.5, 0.55, 66.6]
    names = ["MobileNetV3-Small", "MobileNetV3-Large", "MobileNetV2", "EfficientNet-B0", "FastViT-T8",
             "CLIP ViT-B/32 (image tower) (reference)", "EfficientNet-Lite0 (ImageNet)"]
    naive = _label_overlap(xs, ys, names, ["top center"] * len(xs))
    placed = charts.label_positions(xs, ys, names)
    assert naive > 0.005 and _label_overlap(xs, ys, names, placed) < naive / 20
    assert set(placed) <= set(charts.LABEL_POSITIONS)
    fig = charts.tradeoff_figure({"records": [{"backbone": n, "r1": y, "gflops": x} for n, x, y in zip(names, xs, ys)]})
    assert list(fig.data[1].textposition) == placed


def test_charts_from_the_benchmark_table(site):
    doc = charts.load_benchmarks(site["ckpts"] / "benchmarks.json")
    fig = charts.tradeoff_figure(doc, "map", "latency_ms", log_x=True)
    names = [t.name for t in fig.data]
    assert names == ["Pareto front", "backbones"] and fig.layout.xaxis.type == "log"
    assert "2 × MACs" in fig.layout.title.text and "synthetic" in fig.layout.title.text
    assert list(fig.data[1].x) == [10.0, 12.0]
    assert len(charts.curves_figure(doc).data) == 2  # one backbone has curves: train + val
    csv_text = charts.table_csv(doc)
    assert csv_text.splitlines()[0].startswith("Backbone key,Backbone") and "MobileNetV3-Large" in csv_text
    with pytest.raises(Exception, match="valid costs"):
        charts.tradeoff_figure(doc, "r1", "price")
    with pytest.raises(Exception, match="run `python -m lightclip_core bench`"):
        charts.load_benchmarks(site["base"] / "nope.json")


# -- uploads ----------------------------------------------------------------------------------------


def _png(color=(255, 0, 0), size=(32, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def test_uploads_are_flattened_limited_and_listed(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(_png())
    (src / "notes.txt").write_text("hello")
    (src / "broken.jpg").write_bytes(b"not really a jpeg")
    zpath = src / "people.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../../escape.png", _png((0, 255, 0)))
        zf.writestr("/abs/path.png", _png((0, 0, 255)))
        zf.writestr("dir/ok.png", _png())
        zf.writestr("readme.md", "x")
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    dest = tmp_path / "dest"
    res = ingest_uploads([src / "a.png", src / "notes.txt", src / "broken.jpg", zpath], dest)
    files = sorted(p.name for p in dest.iterdir())
    assert all(p.parent == dest for p in dest.rglob("*"))  # nothing outside, nothing nested
    assert not (tmp_path / "escape.png").exists() and not Path("/abs/path.png").exists()
    assert len(files) == res.added == 5  # a.png, broken.jpg (decoded later), 3 zip images
    reasons = dict(res.skipped)
    assert "not an image or zip file" in reasons["notes.txt"]
    assert reasons["people.zip:link.png"] == "a link inside the zip"
    gallery = Gallery.load(dest, dataset="folder")
    assert len(gallery) == 4 and any("broken" in p for p, _ in gallery.skipped)
    res = ingest_uploads([src / "a.png"] * 3, tmp_path / "d2", max_images=2)
    assert res.added == 2 and "over the limit of 2 images" in res.skipped[0][1]


def test_a_zip_bomb_writes_nothing(tmp_path):
    """Members of zeros inflate 1000x: refused from the zip's directory, before a byte is written."""
    zpath = tmp_path / "zeros.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(20):
            zf.writestr(f"person_{i}.png", b"\0" * (10 * 2**20))
        zf.writestr("real.png", _png())
    assert zpath.stat().st_size < 300_000
    res = ingest_uploads([zpath], tmp_path / "dest")
    assert res.added == 1 and len(res.skipped) == 20
    assert all(f"compressed more than {MAX_RATIO}×" in why for _, why in res.skipped)
    assert sum(p.stat().st_size for p in (tmp_path / "dest").iterdir()) == len(_png())


def test_upload_area_quotas_replacement_and_clean_up(tmp_path):
    area = UploadArea(tmp_path / "up", session_bytes=1000, total_bytes=2500, max_age_s=3600)
    a1, room = area.open()
    assert room == 1000 and a1.is_dir()
    (a1 / "x.png").write_bytes(b"x" * 900)
    area.keep("alice", a1)
    a2, _ = area.open()
    (a2 / "y.png").write_bytes(b"y" * 500)
    area.keep("alice", a2)  # a session holds one gallery: its previous one goes
    assert not a1.exists() and a2.is_dir()
    b1, room = area.open()
    assert room == 1000  # 2500 - 500 held
    (b1 / "z.png").write_bytes(b"z" * 600)  # b1 half written: it counts as its promise, not twice
    c1, room = area.open()
    assert room == 1000  # 2500 - 500 held - 1000 promised to b1
    with pytest.raises(LightCLIPError, match="holds all the uploads it may"):
        area.open()  # 500 held + 2000 promised
    area.discard(c1)
    assert not c1.exists()
    area.keep("bob", b1)
    area.end_session("bob")
    assert not b1.exists()
    area.end_session("nobody")  # no gallery: nothing to do
    old = time.time() - 7200
    os.utime(a2, (old, old))
    assert area.reap() == [a2] and not a2.exists()
    area.end_session("alice")  # already reaped: nothing left to delete, no error


def test_sessions_without_a_heartbeat_give_way_and_every_stored_byte_counts(tmp_path):
    """Seven REST clients fill the app and never say goodbye: an eighth can upload once they sit idle,
    the one idle longest going first, and a gallery unused for idle_s goes by itself."""
    area = UploadArea(tmp_path / "up", session_bytes=300, total_bytes=2200, idle_s=3600, evict_idle_s=0.2)
    folders = []
    for i in range(7):
        folder, _ = area.open()
        (folder / "x.png").write_bytes(b"x" * 280)
        area.keep(f"rest-{i}", folder)
        folders.append(folder)
    (area.root / "gradio").mkdir()
    (area.root / "gradio" / "raw-upload.bin").write_bytes(b"r" * 100)  # Gradio's own upload route: counted
    small, room = area.open()  # 7 x 280 + 100 held, and every gallery was used a moment ago: what is left
    assert room == 2200 - 7 * 280 - 100
    area.discard(small)
    time.sleep(0.3)
    area.touch("rest-0")  # rest-0 searched its gallery just now: it stays
    folder, room = area.open()
    assert room == 300 and not folders[1].exists() and folders[0].exists()
    assert all(f.exists() for f in folders[2:])
    assert area.reap() == [] and (area.root / "gradio").is_dir()  # Gradio's folder is never reaped as a session's
    area.idle_s = 0.1
    time.sleep(0.2)
    assert sorted(area.reap()) == sorted([folders[0], *folders[2:]])
    area.discard(folder)


def test_a_broken_picture_among_good_ones_is_skipped_by_name(site, tmp_path):
    from test_hostile_inputs import bomb_png, cut_jpeg

    good = _people_pictures(tmp_path / "pics", [(200, 30, 30), (30, 30, 200)])
    bad = [str(cut_jpeg(tmp_path / "pics" / "cut.jpg")), str(bomb_png(tmp_path / "pics" / "bomb.png"))]
    area = UploadArea(tmp_path / "up")
    engine, _, md = views.index_uploads(site["pool"], good + bad, "mobilenetv3_small_100", area, "s1")
    assert engine is not None and "Indexed **2** images" in md, md
    assert "`cut.jpg`: cannot be decoded" in md and "`bomb.png`: claims more pixels" in md
    assert str(tmp_path) not in md
    with pytest.raises(LightCLIPError, match="^No readable images") as refused:
        views.index_uploads(site["pool"], bad, "mobilenetv3_small_100", area, "s1")
    assert str(tmp_path) not in str(refused.value)
    assert len(list(area.root.iterdir())) == 1  # the failed one went; the session's gallery stayed


def test_index_uploads_of_a_street_video_gives_tracks(site, tmp_path):
    """*Your gallery* with a real street clip (4 s of OpenCV's vtest.avi): the default detector finds people, search
    returns one result per track, a click shows the frame; a corrupt video is one sentence."""
    pytest.importorskip("cv2")
    from test_footage import vtest_clip

    clip = vtest_clip(tmp_path / "street.mp4", 40)
    engine, backbone, md = views.index_uploads(site["pool"], [str(clip)], "mobilenetv3_small_100",
                                               UploadArea(tmp_path / "up"), "s1")
    assert engine is not None and backbone == "mobilenetv3_small_100", md
    assert md.startswith("Found **") and "tracks" in md and "real time" in md
    fx = engine.gallery.footage
    assert fx is not None and len(fx.tracks) >= 2
    items, summary_md, rows = views.search_view(site["pool"], "a man in a dark jacket", backbone, 5, engine=engine)
    assert 2 <= len(items) <= 5 and all(" · track " in caption and "street.mp4" in caption for _, caption in items)
    assert len({engine.gallery.pids[r] for r in rows}) == len(rows)  # one result per track
    assert "tracks (" in summary_md
    frame = views.source_frame(engine, rows[0])
    assert frame.shape == (576, 768, 3)
    assert views.source_frame(None, 0) is None
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(LightCLIPError, match="^bad.mp4") as refused:
        views.index_uploads(site["pool"], [str(bad)], "mobilenetv3_small_100", UploadArea(tmp_path / "up2"), "s1")
    assert str(refused.value).count(".") <= 3
    assert list((tmp_path / "up2").iterdir()) == []  # a failed upload's folder goes at once
    # one unreadable video beside a good one is skipped and named; the good one is indexed
    engine, _, md = views.index_uploads(site["pool"], [str(clip), str(bad)], "mobilenetv3_small_100",
                                        UploadArea(tmp_path / "up3"), "s1")
    assert engine is not None and md.startswith("Found **") and "`bad.mp4`: bad.mp4 could not be opened" in md, md
    # when every file is refused, the reasons are the answer
    (tmp_path / "notes.txt").write_text("x")
    bad.with_name("bad2.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(LightCLIPError, match=re.escape("Nothing could be indexed (2 file(s) skipped: bad.mp4 could "
                                                       "not be opened")):
        views.index_uploads(site["pool"], [str(bad), str(bad.with_name("bad2.mp4"))], "mobilenetv3_small_100",
                            UploadArea(tmp_path / "up4"), "s1")
    with pytest.raises(LightCLIPError, match=re.escape("(1 file(s) skipped: notes.txt: not an image or zip file)")):
        views.index_uploads(site["pool"], [str(tmp_path / "notes.txt")], "mobilenetv3_small_100",
                            UploadArea(tmp_path / "up5"), "s1")


@pytest.mark.slow
def test_the_sample_clip_indexes_and_filters_by_camera_and_time(site, tmp_path):
    """*Your gallery*'s sample clip (shipped in samples/): tracks, and the Search tab's filters keep
    only that camera and time span; a bad time is one sentence."""
    pytest.importorskip("cv2")
    from app import SAMPLE_CLIP

    engine, backbone, md = views.index_uploads(site["pool"], [str(SAMPLE_CLIP)], "mobilenetv3_small_100",
                                               UploadArea(tmp_path / "up"), "s1")
    assert engine is not None and md.startswith("Found **"), md
    assert SAMPLE_CLIP.is_file()  # read in place, never moved into the upload area
    assert views.footage_cameras(engine) == ["street_sample.mp4"]
    assert views.footage_cameras(None) == [] and views.footage_filter([], "", None) is None
    where = views.footage_filter(["street_sample"], "0:03", "8")
    items, _, rows = views.search_view(site["pool"], "a person walking", backbone, 10, engine=engine, where=where)
    assert items, "people walk through the whole clip"
    for r in rows:
        crop = engine.gallery.footage.crop(engine.gallery.paths[r])
        assert 3.0 <= crop["timestamp"] <= 8.0
    everything = views.search_view(site["pool"], "a person walking", backbone, 10, engine=engine)[2]
    assert set(rows) != set(everything) or len(everything) < 10
    with pytest.raises(LightCLIPError, match="seconds into the video"):
        views.footage_filter([], "ten", None)
    with pytest.raises(LightCLIPError, match="^No camera 'cam9'"):
        views.search_view(site["pool"], "a man", backbone, 5, engine=engine, where=views.footage_filter(["cam9"], None, None))


# -- the app on a port ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(site):
    port = _free_port()
    env = {**os.environ, "LIGHTCLIP_PORT": str(port), "LIGHTCLIP_CHECKPOINTS": str(site["ckpts"]),
           "LIGHTCLIP_GALLERY": str(site["gallery"]), "LIGHTCLIP_CACHE": str(site["cache"]),
           "LIGHTCLIP_UPLOAD_DIR": str(site["base"] / "uploads"), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(site["base"] / "app.log", "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((site["base"] / "app.log").read_text())
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("the app did not start in 120 s:\n" + (site["base"] / "app.log").read_text())
    yield {"url": url, "startup_s": time.perf_counter() - t0}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.mark.slow
def test_client_search_compare_and_bad_inputs(server, site):
    from gradio_client import Client

    client = Client(server["url"], verbose=False)
    query = "a woman in a green coat with a red bag"
    out = client.predict(query, "mobilenetv3_small_100", 4, api_name="/search")
    want, _, _ = views.search_view(site["pool"], query, "mobilenetv3_small_100", 4)
    assert [o["caption"] for o in out] == [c for _, c in want]
    assert all(Path(o["image"]).is_file() for o in out)
    street = client.predict(query, "mobilenetv3_small_100", 4, "street", api_name="/search")
    want, _, _ = views.search_view(site["pool"], query, "mobilenetv3_small_100", 4, gallery="street")
    assert [o["caption"] for o in street] == [c for _, c in want] and all(" · track " in o["caption"] for o in street)
    # what a client is sent names the app's own serving folder, never where the project is installed
    event, data = _raw_search(server["url"], json.dumps({"data": [query, "mobilenetv3_small_100", 3, "street"]}))
    assert event == "complete" and "lightclip-served-" in data and str(REPO) not in data, data[:300]
    with pytest.raises(Exception, match="'attic'.*not in the list of choices"):
        client.predict(query, "mobilenetv3_small_100", 4, "attic", api_name="/search")
    assert client.predict("", "mobilenetv3_small_100", 4, api_name="/search") == []
    assert len(client.predict("blue " * 2000, "mobilenetv3_small_100", 3, api_name="/search")) == 3
    with pytest.raises(Exception, match="No checkpoint for coatnet_0_rw_224"):  # its own sentence, as the UI's
        client.predict("a man", "coatnet_0_rw_224", 4, api_name="/search")
    g1, g2, g3, note = client.predict(query, ["mobilenetv3_small_100", "mobilenetv3_large_100"], 5, api_name="/compare")
    assert len(g1) == len(g2) == 5 and g3 == [] and "overlap" in note
    why = client.predict(query, "mobilenetv3_small_100", 2, False, api_name="/explain")
    assert why == views.explain_view(site["pool"], query, "mobilenetv3_small_100", 2)
    with pytest.raises(Exception, match="does not exist"):
        client.predict(query, "mobilenetv3_small_100", 999, False, api_name="/explain")


@pytest.mark.slow
def test_eight_concurrent_clients_get_their_own_answers(server, site):
    from gradio_client import Client

    queries = [f"a person in a {c} jacket" for c in ("red", "blue", "green", "black", "white", "grey", "yellow", "brown")]
    backbones = ["mobilenetv3_small_100", "mobilenetv3_large_100"] * 4
    want = [[c for _, c in views.search_view(site["pool"], q, b, 6)[0]] for q, b in zip(queries, backbones)]

    def ask(i):
        c = Client(server["url"], verbose=False)
        return [o["caption"] for o in c.predict(queries[i], backbones[i], 6, api_name="/search")]

    with cf.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(ask, range(8)))
    assert got == want


def _raw_search(url: str, body: str) -> tuple[str, str]:
    """POST a hand-written JSON body to /search (a client library cannot send a lone surrogate) and
    read its event stream: ``(event, data)``, event "complete" or "error"."""
    import httpx

    with httpx.Client(timeout=120) as http:
        r = http.post(f"{url}/gradio_api/call/search", content=body.encode(),
                      headers={"content-type": "application/json"})
        r.raise_for_status()
        event = None
        with http.stream("GET", f"{url}/gradio_api/call/search/{r.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    return event, line[5:].strip()
    raise AssertionError("the event stream ended without a result")


# REST calls carry every argument (Gradio's REST route fills in no defaults; gradio_client does)
HOSTILE_BODIES = ['{"data": ["a man \\ud800 in red", "mobilenetv3_small_100", 5, "synthpedes"]}',  # answered, cleaned
                  '{"data": ["a man", null, 5, "synthpedes"]}', '{"data": ["a man", ["x", "y"], 5, "synthpedes"]}',
                  '{"data": ["a man", 7, 5, "synthpedes"]}']


@pytest.mark.slow
def test_a_hostile_client_among_twelve_good_ones_fails_alone(server, site):
    from gradio_client import Client

    queries = [f"a {w} person in a {c} jacket" for w in ("tall", "short") for c in ("red", "blue", "green",
                                                                                  "black", "white", "grey")]
    want = [[c for _, c in views.search_view(site["pool"], q, "mobilenetv3_small_100", 5)[0]] for q in queries]
    clients = [Client(server["url"], verbose=False, httpx_kwargs={"timeout": 120}) for _ in range(12)]

    def ask(i):
        if i == 12:  # the hostile one, sent over and over while the others search
            return [_raw_search(server["url"], body)[0] for _ in range(5) for body in HOSTILE_BODIES]
        return [[o["caption"] for o in clients[i].predict(queries[i], "mobilenetv3_small_100", 5,
                                                          api_name="/search")] for _ in range(3)]

    with cf.ThreadPoolExecutor(13) as ex:
        got = list(ex.map(ask, range(13)))
    assert got[12] == ["complete", "error", "error", "error"] * 5  # each hostile call: its own answer
    assert got[:12] == [[w] * 3 for w in want]  # 12 of 12 good answers, every time
    for body in HOSTILE_BODIES[1:]:  # refused by Gradio's own check of the choice, or by ours: one sentence
        event, data = _raw_search(server["url"], body)
        message = json.loads(data)["error"]
        assert event == "error" and "Traceback" not in message, body
        assert "not in the list of choices" in message or "Name one model as a string" in message, message
    event, data = _raw_search(server["url"], HOSTILE_BODIES[0])
    assert [o["caption"] for o in json.loads(data)[0]] == [
        c for _, c in views.search_view(site["pool"], "a man in red", "mobilenetv3_small_100", 5)[0]]


def _people_pictures(folder: Path, colours) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, colour in enumerate(colours):
        path = folder / f"person_{i}.png"
        Image.new("RGB", (32, 64), colour).save(path)
        paths.append(str(path))
    return paths


@pytest.mark.slow
def test_client_upload_search_mine_and_similar(server, site, tmp_path):
    from gradio_client import Client, handle_file

    a, b = Client(server["url"], verbose=False), Client(server["url"], verbose=False)
    with pytest.raises(Exception, match="call /upload first"):
        a.predict("a man", "mobilenetv3_small_100", 3, api_name="/search_mine")
    mine_a = _people_pictures(tmp_path / "a", [(200, 30, 30), (30, 30, 200), (30, 160, 30)])
    mine_b = _people_pictures(tmp_path / "b", [(240, 240, 240)] * 5)
    status = a.predict([handle_file(p) for p in mine_a], "mobilenetv3_small_100", api_name="/upload")
    assert "Indexed **3** images" in status
    assert "Indexed **5** images" in b.predict([handle_file(p) for p in mine_b], "mobilenetv3_small_100",
                                               api_name="/upload")
    # Each session searches its own uploads only: A's three pictures, B's five.
    got_a = a.predict("a person in red", "mobilenetv3_small_100", 10, api_name="/search_mine")
    got_b = b.predict("a person in red", "mobilenetv3_small_100", 10, api_name="/search_mine")
    assert len(got_a) == 3 and len(got_b) == 5
    assert a.predict("", "mobilenetv3_small_100", 3, api_name="/search_mine") == []
    with pytest.raises(Exception, match="indexed with mobilenetv3_small_100"):
        a.predict("a man", "mobilenetv3_large_100", 3, api_name="/search_mine")
    # /similar: image-to-image from a gallery row, as the UI's "Find people like the selected result".
    want, _, _ = views.similar_view(site["pool"], "mobilenetv3_small_100", 4, 5)
    out = a.predict(4, "mobilenetv3_small_100", 5, False, api_name="/similar")
    assert [o["caption"] for o in out] == [c for _, c in want]
    assert len(a.predict(0, "mobilenetv3_small_100", 5, True, api_name="/similar")) == 2  # A's other two
    with pytest.raises(Exception, match="does not exist"):
        a.predict(999, "mobilenetv3_small_100", 5, False, api_name="/similar")


@pytest.mark.slow
def test_a_sessions_uploads_are_deleted_when_it_ends(server, site, tmp_path):
    """An API client is a session (it keeps a heartbeat); when it closes, its upload folder goes."""
    from gradio_client import Client, handle_file

    root = site["base"] / "uploads"
    before = set(root.iterdir())
    client = Client(server["url"], verbose=False)
    pictures = _people_pictures(tmp_path / "mine", [(200, 30, 30), (30, 30, 200)])
    assert "Indexed **2** images" in client.predict([handle_file(p) for p in pictures], "mobilenetv3_small_100",
                                                    api_name="/upload")
    mine = set(root.iterdir()) - before
    assert len(mine) == 1 and len(list(next(iter(mine)).iterdir())) == 2
    cached = lambda: sorted(p for p in (root / "gradio").rglob("*") if p.is_file())  # noqa: E731
    kept = cached()
    assert len(client.predict("a person in red", "mobilenetv3_small_100", 2, api_name="/search_mine")) == 2
    assert cached() == kept  # the session's results are served from its folder, not copied into Gradio's cache
    client.close()
    deadline = time.time() + 90
    while time.time() < deadline and any(p.exists() for p in mine):
        time.sleep(0.5)
    assert not any(p.exists() for p in mine), "the closed session's uploads are still on disk"


@pytest.mark.slow
def test_load_twenty_clients_over_three_encoders_with_private_uploads(server, site, tmp_path):
    """About 10 s of 20 concurrent /search clients over three encoders while three other sessions
    upload and search their own pictures: no errors, every answer the right length and the answer
    to its own query, and no session ever sees another's uploads."""
    from gradio_client import Client, handle_file

    encoders = ["mobilenetv3_small_100", "mobilenetv3_large_100", "mobilenetv2_100"]
    queries = [f"a {w} person in a {c} coat" for w in ("tall", "short") for c in ("red", "blue", "green", "black")]
    want = {(q, b): [c for _, c in views.search_view(site["pool"], q, b, 5)[0]] for q in queries for b in encoders}
    # Clients connect before the clock starts (a generous read timeout: CI machines are shared).
    clients = [Client(server["url"], verbose=False, httpx_kwargs={"timeout": 120}) for _ in range(23)]
    for b in encoders:  # the app indexes its gallery with each encoder once, before the clock starts
        clients[0].predict(queries[0], b, 5, api_name="/search")
    deadline = time.time() + 10

    def searcher(i: int) -> int:
        c = clients[i]
        n = 0
        while time.time() < deadline:
            q, b = queries[(i + n) % len(queries)], encoders[i % len(encoders)]
            got = [o["caption"] for o in c.predict(q, b, 5, api_name="/search")]
            assert got == want[(q, b)], (i, n, q, b)
            n += 1
        return n

    def uploader(j: int) -> int:
        c = clients[20 + j]
        pictures = _people_pictures(tmp_path / f"up{j}", [(40 * j, 200 - 40 * j, 90)] * (j + 2))
        c.predict([handle_file(p) for p in pictures], encoders[j], api_name="/upload")
        n = 0
        while time.time() < deadline or n == 0:
            got = c.predict("a person in a green coat", encoders[j], 10, api_name="/search_mine")
            assert len(got) == j + 2, (j, len(got))
            n += 1
        return n

    with cf.ThreadPoolExecutor(23) as ex:
        searches = [ex.submit(searcher, i) for i in range(20)]
        uploads = [ex.submit(uploader, j) for j in range(3)]
        done = [f.result() for f in searches], [f.result() for f in uploads]
    assert all(n >= 1 for n in done[0]) and all(n >= 1 for n in done[1])
    print(f"load: {sum(done[0])} searches, {sum(done[1])} own-gallery searches in ~10 s")


def _chromium():
    """``(sync_playwright, chromium path, launch args)``, or skip (fail under LIGHTCLIP_REQUIRE_BROWSER=1)."""
    chromium = Path(os.environ.get("LIGHTCLIP_CHROMIUM", "/usr/bin/chromium"))
    required = os.environ.get("LIGHTCLIP_REQUIRE_BROWSER") == "1"
    if not chromium.exists():
        if required:
            pytest.fail(f"{chromium} is missing but LIGHTCLIP_REQUIRE_BROWSER=1 (CI installs it with apt-get).")
        pytest.skip(f"no {chromium} (apt-get install chromium to run the browser test)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]
    return sync_playwright, chromium, args


@pytest.mark.browser
def test_browser_search_and_tradeoffs(server):
    sync_playwright, chromium, args = _chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=args, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server["url"], wait_until="domcontentloaded", timeout=60_000)
        page.get_by_label("Description").first.wait_for(timeout=60_000)
        page.get_by_label("Description").first.fill("a woman in a red coat with a black backpack")
        page.get_by_role("button", name="Search", exact=True).click()
        images = page.locator("#results img")
        images.nth(9).wait_for(timeout=60_000)
        assert images.count() >= 10  # the default top-K
        page.get_by_text("cos ").first.wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)
        # rank, score and person id readable on every tile: no caption cut with an ellipsis
        cut = "els => els.filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"
        assert page.locator("#results .caption-label").count() >= 10
        assert page.locator("#results .caption-label").evaluate_all(cut) == []
        page.get_by_role("tab", name="Compare").click()
        page.get_by_label("Description").nth(1).fill("a man in a grey jacket")
        page.get_by_role("button", name="Compare", exact=True).click()
        page.get_by_text("Top-K overlap").first.wait_for(timeout=60_000)
        page.locator("#compare-1 img").nth(7).wait_for(timeout=60_000)  # two models chosen: two panels
        assert page.locator("#compare-0").is_visible() and not page.locator("#compare-2").is_visible()
        assert page.get_by_text("Synthetic-trained:").count() == 1  # the caveat once, not per model
        assert page.locator(".lc-results .caption-label").evaluate_all(cut) == []
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
        page.get_by_role("tab", name="Trade-offs").click()
        page.locator("#tradeoff-plot .plot-container, #tradeoff-plot .js-plotly-plot").first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "tradeoffs.png"), full_page=True)
        browser.close()


@pytest.mark.slow
@pytest.mark.browser
def test_browser_real_people_one_click_from_the_first_screen(server):
    """The first screen to the street video's people: one click on Search (then a result's frame), one
    on Compare; nothing typed."""
    sync_playwright, chromium, args = _chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=args, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server["url"], wait_until="domcontentloaded", timeout=60_000)
        page.locator("#search-gallery").get_by_text("Street — real video").click()
        page.locator("#results").get_by_text(" · track ").first.wait_for(timeout=60_000)
        assert page.get_by_label("Description").first.input_value() == views.STREET_QUERIES[0]
        page.locator("#results img").first.click()
        page.locator("#seen-in img").first.wait_for(timeout=30_000)  # the frame it was seen in
        page.screenshot(path=str(ARTIFACTS / "street.png"), full_page=True)
        page.get_by_role("tab", name="Compare").click()
        page.locator("#compare-gallery").get_by_text("Street — real video").click()
        page.locator("#compare-0").get_by_text(" · track ").first.wait_for(timeout=60_000)
        page.locator("#compare-1").get_by_text(" · track ").first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "compare-street.png"), full_page=True)
        browser.close()


@pytest.mark.browser
def test_browser_street_video_to_tracks_and_the_frame(server, tmp_path):
    """A user uploads a street video in *Your gallery*, searches it, clicks a result and sees the frame
    the person was seen in, with the box drawn."""
    sync_playwright, chromium, args = _chromium()
    pytest.importorskip("cv2")
    from test_footage import vtest_clip

    clip = vtest_clip(tmp_path / "street.mp4", 30)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=args, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server["url"], wait_until="domcontentloaded", timeout=60_000)
        page.get_by_role("tab", name="Your gallery").click()
        page.locator("input[type=file]").first.set_input_files(str(clip))
        page.get_by_role("button", name="Index my gallery").click()
        page.get_by_text("people tracks").first.wait_for(timeout=120_000)
        page.get_by_role("tab", name="Search").first.click()
        page.get_by_label("Search my uploaded gallery").check()
        page.get_by_label("Description").first.fill("a man in a dark jacket")
        # the session's gallery is footage: the camera and time filters are shown; a time span keeps it
        page.get_by_label("From (into the video: 90, 1:30)").fill("0:01")
        page.get_by_label("To", exact=True).fill("2")
        page.get_by_role("button", name="Search", exact=True).click()
        page.get_by_text("· track ").first.wait_for(timeout=60_000)
        page.locator("#results img").first.click()
        page.locator("#seen-in img").first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "footage.png"), full_page=True)
        page.get_by_role("button", name="Search", exact=True).click()  # new results: the old frame goes
        page.locator("#seen-in").wait_for(state="hidden", timeout=30_000)
        browser.close()


def test_charts_say_which_models_were_distilled_and_from_what():
    doc = {"records": [
        {"backbone": "efficientnet_lite0", "display_name": "EfficientNet-Lite0 (ImageNet)", "r1": 60.0, "gflops": 0.2,
         "recipe_short": "ImageNet", "distilled_from": [], "train_images": 40000, "train_minutes": 40.0},
        {"backbone": "mobilenetv3_small_100", "display_name": "MobileNetV3-Small", "r1": 20.0, "gflops": 0.03,
         "recipe_short": "scratch + KD ← EfficientNet-Lite0 (ImageNet)", "distilled_from": ["EfficientNet-Lite0 (ImageNet)"],
         "train_images": 40000, "train_minutes": 12.0},
        {"backbone": "clip-vit-b-32", "display_name": "CLIP", "r1": 5.0, "gflops": 4.0, "zero_shot": True},
    ]}
    fig = charts.tradeoff_figure(doc, "r1", "gflops")
    assert list(fig.data[1].marker.symbol) == ["circle", "diamond", "circle"]
    assert "trained: scratch + KD ← EfficientNet-Lite0 (ImageNet) · 40,000 images, 12 min" in fig.data[1].hovertext[1]
    note = charts.recipe_note(doc)
    assert note.startswith("Training (◆") and "MobileNetV3-Small: scratch + KD ← EfficientNet-Lite0 (ImageNet)" in note
    assert "CLIP" not in note
    headers, rows = charts.table(doc)
    assert rows[1][headers.index("Trained (start + teachers)")] == "scratch + KD ← EfficientNet-Lite0 (ImageNet)"


@pytest.mark.slow
def test_bench_app_times_first_searches_and_concurrent_clients(site):
    """`bench-app` on the tiny site: a fresh app, a first and second /search per encoder, a short load run."""
    from lightclip_core.bench.app import run_app_bench

    doc = run_app_bench(site["ckpts"], site["gallery"], app_file=REPO / "app.py", clients=3, seconds=2,
                        encoders=["mobilenetv3_small_100", "mobilenetv3_large_100"])
    assert doc["startup_s"] > 0
    cold = doc["cold_search"]  # the app's default model, asked the moment the port answered
    assert cold["backbone"] == "mobilenetv3_large_100" and cold["results"] == 10 and cold["search_s"] > 0
    assert [r["backbone"] for r in doc["first_search"]] == sorted(["mobilenetv3_small_100", "mobilenetv3_large_100",
                                                                   "mobilenetv2_100"])
    assert all(r["results"] == 10 and r["first_s"] > 0 and r["second_s"] > 0 for r in doc["first_search"])
    ld = doc["load"]
    assert ld["errors"] == 0 and ld["requests"] >= 3 and ld["p50_s"] <= ld["p95_s"]
    assert ld["client"] == "http" and ld["app_cpu_ms_per_request"] > 0 and ld["client_cpu_ms_per_request"] > 0
    # the same load through gradio_client sessions (what a Python user of the API runs)
    # (and again on an app without gradio_tuning, for the side-by-side ratio)
    doc = run_app_bench(site["ckpts"], site["gallery"], app_file=REPO / "app.py", clients=2, seconds=1, encoders=["mobilenetv3_small_100"],
                        first=False, client="gradio_client", baseline=True)
    for ld in (doc["load"], doc["load_untuned"]):
        assert ld["client"] == "gradio_client" and ld["errors"] == 0 and ld["requests"] >= 2
    assert doc["ratios"]["tuned_vs_untuned_requests_per_s"] > 0 and doc["command"].endswith("--baseline")
    with pytest.raises(Exception, match="No checkpoint for efficientnet_b3"):
        run_app_bench(site["ckpts"], site["gallery"], app_file=REPO / "app.py", encoders=["efficientnet_b3"])
    # one encoder's first use beside clients of another (--stall): both loads answered, the slow call's outcome
    doc = run_app_bench(site["ckpts"], site["gallery"], app_file=REPO / "app.py", clients=1, seconds=2,
                        encoders=["mobilenetv3_small_100"], first=False, stall=True)
    st = doc["stall"]
    assert st["fast"] == "mobilenetv3_large_100" and st["slow"] != st["fast"] and st["slow_call"]["answer"] == "results"
    assert st["alone"]["errors"] == st["beside_slow"]["errors"] == 0 and st["fast_p95_beside_slow_vs_alone"] > 0
    assert doc["command"].endswith("--stall")
