"""The app's logic called directly: its views, model pool, charts from the benchmark table and the
uploaded-gallery indexing, on the `site` fixture (conftest.py). The app on a port: test_app_server.py."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, STREET, load_app_module, people_pictures
from lightclip_core.app import charts, views
from lightclip_core.errors import LightCLIPError
from lightclip_core.app.pool import LOADING, EnginePool
from lightclip_core.app.uploads import UploadArea

ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.mark.slow
def test_api_endpoints_have_no_trigger_in_the_page(site, tmp_path):
    # the API-only endpoints are gr.on with no triggers, not hidden buttons a page could reach
    demo = load_app_module().build_app(site["pool"], UploadArea(tmp_path / "up"))
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
    pics = people_pictures(tmp_path / "pics", [(200, 30, 30)])
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


# -- charts -----------------------------------------------------------------------------------------


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


def test_a_broken_picture_among_good_ones_is_skipped_by_name(site, tmp_path):
    from test_hostile_inputs import bomb_png, cut_jpeg

    good = people_pictures(tmp_path / "pics", [(200, 30, 30), (30, 30, 200)])
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


def test_the_page_says_which_encoder_is_loading_until_it_is(site, monkeypatch):
    """The port opens before the default model is loaded: while another thread loads it, `warming` and the
    page's line say so; a search sent then waits for that one load."""
    pool = EnginePool(site["ckpts"], site["gallery"], cache_dir=site["cache"])
    b, release, build = "mobilenetv2_100", threading.Event(), pool._build

    def slow_build(*args, **kwargs):
        release.wait(60)
        return build(*args, **kwargs)

    monkeypatch.setattr(pool, "_build", slow_build)
    loading = threading.Thread(target=pool.warm, args=(b,), kwargs={"wait": False})
    loading.start()
    deadline = time.time() + 30
    while not pool.warming(b) and time.time() < deadline:
        time.sleep(0.02)
    assert pool.warming(b) == [LOADING + b]
    assert f"loading the {b} encoder" in views.warming_note(pool.warming(b))
    searched = []
    search = threading.Thread(target=lambda: searched.append(views.search_view(pool, "a woman in a red coat", b, 4)))
    search.start()
    time.sleep(0.3)
    assert not searched  # waits for the load in progress, does not start a second one
    release.set()
    loading.join(60), search.join(60)
    assert pool.is_loaded(b) and len(searched[0][2]) == 4
    assert not any(w.startswith(LOADING) for w in pool.warming(b))
