"""LightCLIP person search: the Gradio app (layout and wiring only; logic lives in lightclip_core).

Run ``python app.py`` (offline, on the bundled checkpoints and gallery) and open the printed URL.
Environment: LIGHTCLIP_PORT / GRADIO_SERVER_PORT (default 7860), GRADIO_SERVER_NAME (default
127.0.0.1; Spaces sets 0.0.0.0), LIGHTCLIP_CHECKPOINTS, LIGHTCLIP_GALLERY, LIGHTCLIP_CONCURRENCY,
LIGHTCLIP_DEVICE (auto: CUDA when available, else CPU), LIGHTCLIP_RUNTIME (auto | onnx | torch: how
queries are encoded on the CPU; auto = ONNX Runtime when installed), LIGHTCLIP_HUB_REPO (a model repo written by
`python -m lightclip_core hub push`: backbones without a local checkpoint are fetched from it when first
chosen, never at start), LIGHTCLIP_GRADIO_TUNING (1; 0 leaves Gradio's per-request costs as they are,
see lightclip_core/app/gradio_tuning.py).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lightclip_core import settings
from lightclip_core.app.uploads import GRADIO_FILES, MAX_APP_BYTES, MAX_IMAGES, UploadArea

# Each session's uploaded gallery: deleted when its session ends, when indexing fails, when unused for
# 30 minutes (REST clients send no heartbeat), when the app is full and it is the one idle longest, or after 6 h
UPLOAD_ROOT = Path(settings.get("LIGHTCLIP_UPLOAD_DIR") or Path(tempfile.gettempdir()) / "lightclip_uploads")
# Gradio's own uploads and cached results go under it too (read when gradio is imported), so that every
# stored byte counts against the quota
os.environ.setdefault("GRADIO_TEMP_DIR", str(UPLOAD_ROOT / GRADIO_FILES))

import gradio as gr  # noqa: E402 - after GRADIO_TEMP_DIR
from lightclip_core.app import charts, gradio_tuning, views
from lightclip_core.app.coalesce import Coalescer
from lightclip_core.benchmarks import measured_on
from lightclip_core.errors import LightCLIPError
from lightclip_core.footage import APP_LIMITS, VIDEO_EXTENSIONS
from lightclip_core.models.backbones import DEFAULT_BACKBONE
from lightclip_core.app.pool import DEFAULT_GALLERY_KEY, EnginePool
from lightclip_core.app.served import served_galleries
from lightclip_core.search import MAX_K

UPLOAD_QUOTA = int((settings.get("LIGHTCLIP_UPLOAD_QUOTA_MB") or MAX_APP_BYTES / 2**20) * 2**20)  # all sessions
COMPARE_COLUMNS = 3
TILES_PER_ROW = {1: 6, 2: 4, 3: 3}  # Compare: result tiles per row for 1, 2, 3 panels side by side
SEARCH_BATCH = settings.get("LIGHTCLIP_SEARCH_BATCH")  # API /search: concurrent calls per batch
SEARCH_BUDGET_S = settings.get("LIGHTCLIP_SEARCH_BUDGET_S")  # API /search: a call's wait for its encoder
MAX_UPLOAD = "300mb"  # per file, enforced by gradio before our own limits (uploads.py) apply
CONCURRENCY = settings.get("LIGHTCLIP_CONCURRENCY")
PRELOAD = settings.get("LIGHTCLIP_PRELOAD")  # load every bundled encoder after start-up (0: on first use)

ABOUT = (Path(views.__file__).parent / "about.md").read_text(encoding="utf-8")  # the About tab's text


# Result tiles: let "#rank · cos score · id pid" wrap instead of being cut with an ellipsis.
CSS = """
.result-info {min-height: 2em}
.lc-results .caption-label {white-space: normal !important; max-width: 100% !important; left: 0;
                            text-align: center; text-overflow: clip !important; line-height: 1.2}
"""


def _theme_kwargs() -> dict:
    # System fonts only: a Google-font theme would make offline browsers wait for fonts.googleapis.com.
    theme = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    return {"theme": theme, "css": CSS}


@dataclass
class Session:
    """Per-browser-session state: the session's own indexed gallery (a SearchEngine) and its backbone;
    the Search tab's footage filters (shown once that gallery is footage), for *Your gallery* to fill."""

    engine: gr.State
    backbone: gr.State
    uploads: UploadArea | None = None  # where the session's gallery lives (its idle clock)
    filters: Any = None  # the Search tab's filter row
    cameras: Any = None  # its camera picker


# The bundled models and gallery beside this file (Spaces runs it from the repository's root)
CHECKPOINTS_DIR = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_GALLERY = Path(__file__).resolve().parent / "gallery"
# A 12 s cut of OpenCV's sample clip vtest.avi (samples/README.md: provenance and licence), indexed in one click
SAMPLE_CLIP = Path(__file__).resolve().parent / "samples" / "street_sample.mp4"
# The whole of vtest.avi through `footage`: real people, searchable on Search and Compare next to the drawings
STREET_GALLERY = Path(__file__).resolve().parent / "samples" / "street"
GALLERY_CHOICES = [("SynthPedes — drawn", DEFAULT_GALLERY_KEY), ("Street — real video", "street")]


def _load_bench(pool: EnginePool) -> tuple[dict, str | None]:
    try:
        return charts.load_benchmarks(pool.checkpoints_dir / "benchmarks.json"), None
    except LightCLIPError as exc:
        return {"records": [], "machine": {}, "gallery": {}}, str(exc)


def build_app(pool: EnginePool, uploads: UploadArea, default_backbone: str | None = None) -> gr.Blocks:
    choices = views.model_choices(pool)
    default = default_backbone or (pool.available()[0] if pool.available() else (choices[0][1] if choices else None))
    # delete_cache: Gradio's own copies of uploaded files (and of results and frames it served) go after
    # 15 minutes; they live under the upload root, so they count against the uploads' quota meanwhile
    with gr.Blocks(title="LightCLIP person search", delete_cache=(300, 900)) as demo:
        session = Session(engine=gr.State(None), backbone=gr.State(None), uploads=uploads)
        gr.Markdown("# LightCLIP · text-based person search with lightweight vision encoders\n"
                    "Describe a person; see the people in the gallery who match, with cosine similarity.")
        _warming_line(pool, default)
        examples = example_queries(pool)  # one list for both tabs
        with gr.Tab("Search"):
            search_tab(pool, choices, default, session, examples)
        with gr.Tab("Compare"):
            compare_tab(pool, choices, default, examples)
        with gr.Tab("Trade-offs"):
            tradeoffs_tab(*_load_bench(pool))
        with gr.Tab("Your gallery"):
            gallery_tab(pool, choices, default, session, uploads)
        with gr.Tab("About"):
            gr.Markdown(ABOUT + views.real_summary(pool.bench()))

        def session_ended(request: gr.Request) -> None:  # the tab closed, or an API client's heartbeat stopped
            uploads.end_session(request.session_hash)

        demo.unload(session_ended)
    return demo


def _warming_line(pool: EnginePool, default: str | None) -> None:
    """A line that says what is still getting ready on a fresh start (searches already answer, on
    PyTorch), checked every second until nothing is; then it is empty and the timer stops."""
    line = gr.Markdown(elem_id="warming")
    timer = gr.Timer(1.0)

    def status():
        pending = pool.warming(default) if default else []
        return views.warming_note(pending), gr.Timer(active=bool(pending))

    timer.tick(status, None, [line, timer], api_visibility="private")


def example_queries(pool: EnginePool) -> list[list[str]]:
    """Three gallery captions, then the free-form descriptions of people in the bundled gallery."""
    return [[q] for q in pool.gallery.example_queries(3, seed=1)] + [[q] for q in views.WITNESS_QUERIES]


EXAMPLES_LABEL = "Examples (the first are captions from the gallery; the others describe people in it in other words)"
STREET_EXAMPLES_LABEL = "Examples for the street gallery (people in the real video)"


def search_tab(pool: EnginePool, choices, default: str | None, session: Session, examples: list[list[str]]) -> None:
    """Describe a person, get the top-K; "find people like this"; API /search, /search_mine, /similar, /explain."""
    tab = _search_layout(choices, default, session, examples)
    _wire_search(pool, tab, session)
    _wire_results(pool, tab, session)
    _wire_session_api(pool, tab, session)


def _search_layout(choices, default: str | None, session: Session, examples: list[list[str]]) -> SimpleNamespace:
    """The Search tab's components, laid out; returned by name for the event wiring."""
    t = SimpleNamespace(rows_state=gr.State([]), selected=gr.State(None))  # gallery rows of the results on screen; the clicked one
    with gr.Row():
        t.gallery = gr.Radio(GALLERY_CHOICES, value=DEFAULT_GALLERY_KEY, label="Gallery", scale=2, elem_id="search-gallery")
        t.backbone = gr.Dropdown(choices, value=default, label="Vision encoder", scale=2)
        t.k = gr.Slider(1, MAX_K, value=10, step=1, label="Top-K", scale=1)
        t.mine = gr.Checkbox(False, label="Search my uploaded gallery", scale=1)
    t.query = gr.Textbox(label="Description", placeholder=views.WITNESS_QUERIES[0], lines=2)
    with gr.Row():
        t.search_btn = gr.Button("Search", variant="primary")
        t.similar_btn = gr.Button("Find people like the selected result")
    gr.Examples(examples, inputs=[t.query], label=EXAMPLES_LABEL)
    gr.Examples([[q] for q in views.STREET_QUERIES], inputs=[t.query], label=STREET_EXAMPLES_LABEL)
    # a footage gallery of this session's: only some cameras, only a time span (seconds into each video)
    with gr.Row(visible=False) as filters:
        t.cameras = gr.Dropdown([], value=[], multiselect=True, label="Cameras (all when empty)", scale=2)
        t.start = gr.Textbox(label="From (into the video: 90, 1:30)", scale=1)
        t.end = gr.Textbox(label="To", scale=1)
    session.filters, session.cameras = filters, t.cameras
    t.info = gr.Markdown(elem_classes=["result-info"])  # the summary; it carries the synthetic-training caveat
    t.results = gr.Gallery(label="Results", columns=5, height=640, object_fit="contain", allow_preview=True,
                           elem_id="results", elem_classes=["lc-results"])
    # a result, clicked: which phrases of the description it matches (views.explain_view)
    t.explanation = gr.Markdown(elem_id="explanation")
    # a footage gallery's result, clicked: the frame it was seen in, with its box
    t.seen_in = gr.Image(label="Where this person was seen", visible=False, interactive=False, elem_id="seen-in")
    t.api_row = gr.Number(visible=False, precision=0, label="Gallery row")  # /similar's input (UI: the click)
    return t


def api_endpoint(fn, inputs, outputs, **kwargs):
    """An API-only endpoint (no trigger in the page): `gr.on` with no triggers. Its inputs and outputs
    are still components, which `gr.api` cannot give: a session's gr.State (the uploaded gallery) and
    galleries served as files, so clients get the same payloads as the page's own events."""
    return gr.on([], fn, inputs, outputs, **kwargs)


def _hide_frame():
    """New results: the frame and explanation shown for an earlier click go away."""
    return gr.update(value=None, visible=False), ""


def _wire_search(pool: EnginePool, t: SimpleNamespace, session: Session) -> None:
    """The Search button (and Enter), and API /search."""
    def ui_search(q, b, kk, g, use_mine, engine, engine_backbone, cams, t0, t1, request: gr.Request = None,
                  progress=gr.Progress()):
        if use_mine:
            if engine is None:
                return [], "Index a gallery in the *Your gallery* tab first.", []
            _touch(session, request)
            try:
                where = views.footage_filter(cams, t0, t1) if engine.gallery.footage is not None else None
                return views.search_view(pool, q, engine_backbone, kk, engine=engine, where=where)
            except LightCLIPError as exc:
                return [], views.warning(exc), []
        try:
            return views.search_view(pool, q, b, kk, gallery=g, progress=lambda stage, done, total: progress(
                done / total, desc=f"first use of this model: indexing the gallery {done}/{total}"))
        except LightCLIPError as exc:
            return [], views.warning(exc), []

    search_inputs = [t.query, t.backbone, t.k, t.gallery, t.mine, session.engine, session.backbone, t.cameras,
                     t.start, t.end]
    for trigger in (t.search_btn.click, t.query.submit):
        trigger(ui_search, search_inputs, [t.results, t.info, t.rows_state], api_visibility="private").then(
            _hide_frame, None, [t.seen_in, t.explanation], api_visibility="private")

    # Choosing a gallery searches it at once (real people one click from the first screen), with the
    # encoder that does best on real photos for the street video, and a street example when the box is empty
    def choose_gallery(g, q, b):
        b, q = views.gallery_defaults(pool, g, q, b)
        return gr.update(value=b), q, False

    t.gallery.input(choose_gallery, [t.gallery, t.query, t.backbone], [t.backbone, t.query, t.mine],
                    api_visibility="private").then(
        ui_search, search_inputs, [t.results, t.info, t.rows_state], api_visibility="private").then(
        _hide_frame, None, [t.seen_in, t.explanation], api_visibility="private")

    # API /search: simultaneous calls are coalesced (lightclip_core.app.coalesce), so the queries for one
    # encoder share one text-encoder call, and each client gets its own answer or its own error. Each
    # bundled encoder has its own lane: one that loads or encodes its gallery on first use holds up
    # only its own callers, who get "try again" past their time budget.
    batcher = Coalescer(lambda reqs: views.search_many(pool, *zip(*reqs)), max_batch=SEARCH_BATCH,
                        name="api-search", lane=lambda req: req[1] if isinstance(req[1], str)
                        and req[1] in pool.checkpoints else "other")

    def api_search(q, b, kk, g):
        try:
            return batcher.submit((q, b, kk, g), timeout=SEARCH_BUDGET_S)
        except LightCLIPError as exc:
            raise gr.Error(str(exc)) from None
        except TimeoutError:
            raise gr.Error(f"The {views.display_name(b)} model is still getting ready (its first search loads it "
                           "and indexes the gallery); try again in a minute.") from None

    api_endpoint(api_search, [t.query, t.backbone, t.k, t.gallery], [t.results], api_name="search",
                 concurrency_limit=SEARCH_BATCH)


def _wire_results(pool: EnginePool, t: SimpleNamespace, session: Session) -> None:
    """A clicked result (its explanation and, for footage, its frame) and "find people like this"."""
    def on_select(rows, q, b, g, use_mine, engine, engine_backbone, evt: gr.SelectData):
        row = rows[evt.index] if rows and evt.index is not None and evt.index < len(rows) else None
        mine = use_mine and engine is not None
        frame = views.session_frame(engine, row) if mine else views.bundled_frame(pool, b, g, row)
        try:
            why = (views.explain_view(pool, q, engine_backbone, row, engine=engine) if mine
                   else views.explain_view(pool, q, b, row, gallery=g))
        except LightCLIPError as exc:
            why = views.warning(exc)
        return row, gr.update(value=frame, visible=frame is not None), why

    t.results.select(on_select, [t.rows_state, t.query, t.backbone, t.gallery, t.mine, session.engine, session.backbone],
                     [t.selected, t.seen_in, t.explanation], api_visibility="private")

    def ui_similar(b, row, kk, g, use_mine, engine, engine_backbone):
        try:
            if use_mine and engine is not None:
                return views.similar_view(pool, engine_backbone, row, kk, engine=engine)
            return views.similar_view(pool, b, row, kk, gallery=g)
        except LightCLIPError as exc:
            return [], views.warning(exc), []

    t.similar_btn.click(ui_similar, [t.backbone, t.selected, t.k, t.gallery, t.mine, session.engine, session.backbone],
                        [t.results, t.info, t.rows_state], api_visibility="private").then(
        _hide_frame, None, [t.seen_in, t.explanation], api_visibility="private")


def _touch(session: Session, request: gr.Request | None) -> None:
    """The session searched its own gallery: it is in use (uploads.UploadArea's idle clock)."""
    if session.uploads is not None and request is not None:
        session.uploads.touch(request.session_hash)


def _session_engine(engine, engine_backbone: str | None, b: str | None):
    """This session's uploaded-gallery engine (it lives in the session's gr.State, so a client that
    called /upload searches its own pictures and no one else's), or the client's error."""
    if engine is None:
        raise gr.Error("No uploaded gallery in this session: call /upload first.")
    if b and b != engine_backbone:
        raise gr.Error(f"This session's gallery was indexed with {engine_backbone}; search it with that "
                       f"backbone or /upload again with {b}.")
    return engine


def _for_client(view, *args, **kwargs):
    """A view's answer for an API client: its `LightCLIPError` becomes the client's error (one
    sentence). An empty or unusable query gives [] as /search does."""
    try:
        return view(*args, **kwargs)
    except LightCLIPError as exc:
        raise gr.Error(str(exc)) from None


def _wire_session_api(pool: EnginePool, t: SimpleNamespace, session: Session) -> None:
    """API /search_mine, /similar and /explain (the last two on the bundled or, with use_mine, the session's gallery)."""
    def api_search_mine(q, b, kk, engine, engine_backbone, request: gr.Request = None):
        engine = _session_engine(engine, engine_backbone, b)
        _touch(session, request)
        return _for_client(views.search_view, pool, q, engine_backbone, kk, engine=engine)[0]

    api_endpoint(api_search_mine, [t.query, t.backbone, t.k, session.engine, session.backbone],
                                [t.results], api_name="search_mine")

    def api_similar(row, b, kk, use_mine, g, engine, engine_backbone, request: gr.Request = None):
        """People like gallery row `row` (0-based, of bundled gallery `g` or, with use_mine, of
        this session's uploads), by image-to-image search."""
        if row is None:
            raise gr.Error("Give the gallery row of the picture to start from.")
        if use_mine:
            engine = _session_engine(engine, engine_backbone, b)
            _touch(session, request)
            return _for_client(views.similar_view, pool, engine_backbone, int(row), kk, engine=engine)[0]
        return _for_client(views.similar_view, pool, b, int(row), kk, gallery=g)[0]

    api_endpoint(api_similar, [t.api_row, t.backbone, t.k, t.mine, t.gallery, session.engine, session.backbone],
                            [t.results], api_name="similar")

    def api_explain(q, b, row, use_mine, g, engine, engine_backbone):
        """Which phrases of description `q` gallery row `row` matches under backbone `b` (markdown)."""
        if use_mine:
            engine = _session_engine(engine, engine_backbone, b)
            return _for_client(views.explain_view, pool, q, engine_backbone, row, engine=engine)
        return _for_client(views.explain_view, pool, q, b, row, gallery=g)

    api_endpoint(api_explain, [t.query, t.backbone, t.api_row, t.mine, t.gallery, session.engine, session.backbone],
                            [t.explanation], api_name="explain")


def compare_tab(pool: EnginePool, choices, default: str | None, examples: list[list[str]]) -> None:
    """One query through up to COMPARE_COLUMNS encoders side by side, with their top-K overlap; API /compare."""
    t = _compare_layout(choices, views.compare_defaults(pool.available(), default), examples)
    _wire_compare(pool, t, default)


def _compare_layout(choices, first: list[str], examples: list[list[str]]) -> SimpleNamespace:
    """The Compare tab's components: gallery, models, query, top-K, and one column per model."""
    t = SimpleNamespace(columns=[], galleries=[], infos=[], whys=[])
    with gr.Row():
        t.gallery = gr.Radio(GALLERY_CHOICES, value=DEFAULT_GALLERY_KEY, label="Gallery", scale=1, elem_id="compare-gallery")
        t.models = gr.Dropdown(choices, value=first, multiselect=True, max_choices=COMPARE_COLUMNS,
                               label=f"Models (up to {COMPARE_COLUMNS})", scale=2)
    with gr.Row():
        t.query = gr.Textbox(label="Description", lines=2, scale=3, placeholder=views.WITNESS_QUERIES[1])
        t.k = gr.Slider(1, MAX_K, value=8, step=1, label="Top-K", scale=1)
    t.button = gr.Button("Compare", variant="primary")
    gr.Examples(examples, inputs=[t.query], label=EXAMPLES_LABEL)
    gr.Examples([[q] for q in views.STREET_QUERIES], inputs=[t.query], label=STREET_EXAMPLES_LABEL)
    t.note = gr.Markdown()
    t.rows = gr.State([[] for _ in range(COMPARE_COLUMNS)])  # gallery rows shown in each column
    shown = max(1, len(first))
    with gr.Row():
        for i in range(COMPARE_COLUMNS):
            with gr.Column(visible=i < shown) as col:  # only as many panels as models chosen
                t.infos.append(gr.Markdown())
                t.galleries.append(gr.Gallery(label=f"Model {i + 1}", columns=TILES_PER_ROW[shown], height=480,
                                              object_fit="contain", elem_classes=["lc-results"], elem_id=f"compare-{i}"))
                t.whys.append(gr.Markdown(elem_id=f"compare-why-{i}"))
            t.columns.append(col)
    return t


def _wire_compare(pool: EnginePool, t: SimpleNamespace, default: str | None) -> None:
    """The Compare tab's events and its API endpoint."""
    def show_columns(models):
        n = max(1, len([m for m in models or [] if m][:COMPARE_COLUMNS]))
        return ([gr.Column(visible=i < n) for i in range(COMPARE_COLUMNS)]
                + [gr.Gallery(columns=TILES_PER_ROW[n]) for _ in range(COMPARE_COLUMNS)])

    t.models.change(show_columns, [t.models], [*t.columns, *t.galleries], api_visibility="private")

    def ui_compare(q, models, kk, g):
        try:
            items, texts, note, rows = views.compare_view(pool, q, models, kk, COMPARE_COLUMNS, with_rows=True, gallery=g)
        except LightCLIPError as exc:
            nothing = [[] for _ in range(COMPARE_COLUMNS)]
            items, texts, note, rows = nothing, ["" for _ in nothing], views.warning(exc), nothing
        return (*items, *texts, note, rows, *["" for _ in t.whys])

    inputs = [t.query, t.models, t.k, t.gallery]
    outputs = [*t.galleries, *t.infos, t.note, t.rows, *t.whys]
    t.button.click(ui_compare, inputs, outputs, api_visibility="private")

    def choose_gallery(g, q):  # as on Search: compare at once, led by the best encoder on real photos for the street
        lead, q = views.gallery_defaults(pool, g, q, default)
        return views.compare_defaults(pool.available(), lead), q

    t.gallery.input(choose_gallery, [t.gallery, t.query], [t.models, t.query], api_visibility="private").then(
        ui_compare, inputs, outputs, api_visibility="private")

    for i, gallery in enumerate(t.galleries):
        def explain_column(rows, q, models, g, evt: gr.SelectData, i=i):
            col = rows[i] if rows and i < len(rows) else []
            row = col[evt.index] if evt.index is not None and evt.index < len(col) else None
            chosen = [m for m in models or [] if m]
            try:
                return views.explain_view(pool, q, chosen[i] if i < len(chosen) else None, row, gallery=g)
            except LightCLIPError as exc:
                return views.warning(exc)

        gallery.select(explain_column, [t.rows, t.query, t.models, t.gallery], [t.whys[i]], api_visibility="private")

    def api_compare(q, models, kk, g):
        items, _, note = _for_client(views.compare_view, pool, q, models, kk, COMPARE_COLUMNS, gallery=g)
        return (*items, note)

    api_endpoint(api_compare, inputs, [*t.galleries, t.note], api_name="compare")


def tradeoffs_tab(bench: dict, bench_error: str | None) -> None:
    """Accuracy against cost (Plotly), training curves, the whole table and its CSV."""
    if bench_error:
        gr.Markdown(views.warning(bench_error))
    with gr.Row():
        metric = gr.Dropdown([(v, k_) for k_, v in charts.METRICS.items()], value="r1", label="Accuracy")
        cost = gr.Dropdown([(v[0], k_) for k_, v in charts.COSTS.items()], value="gflops", label="Cost")
        log_x = gr.Checkbox(False, label="Log scale (x)")
    plot = gr.Plot(charts.tradeoff_figure(bench), label="Accuracy vs cost", elem_id="tradeoff-plot")
    curve_kind = gr.Radio([("Loss", "loss"), ("Val R@1", "val_r1"), ("Val mAP", "val_map")], value="loss",
                          label="Training curves")
    curves = gr.Plot(charts.curves_figure(bench))
    headers, rows = charts.table(bench)
    gr.Dataframe(value=rows, headers=headers, label="All measurements", interactive=False, wrap=True)
    csv_path = Path(tempfile.mkdtemp(prefix="lightclip-table-")) / "lightclip_benchmarks.csv"  # a folder of its own
    csv_path.write_text(charts.table_csv(bench))
    gr.DownloadButton("Download CSV", value=str(csv_path))
    gr.Markdown(f"{measured_on(bench, 'python -m lightclip_core bench')}. FLOPs = 2 × MACs. Bundled models are "
                "trained on synthetic people (SynthPedes) only. " + charts.recipe_note(bench))
    for comp in (metric, cost, log_x):
        comp.change(lambda a, c, lg: charts.tradeoff_figure(bench, a, c, lg), [metric, cost, log_x], [plot],
                    api_visibility="private")
    curve_kind.change(lambda w: charts.curves_figure(bench, w), [curve_kind], [curves], api_visibility="private")


def gallery_tab(pool: EnginePool, choices, default: str | None, session: Session, uploads: UploadArea) -> None:
    """Upload pictures (or zips), index them for this session; API /upload: (files, backbone) -> status.
    Its model defaults to the one that does best on real photos (benchmarks.json's real-photo check)."""
    default = views.best_for_real(pool.bench(), pool.usable()) or default
    gr.Markdown(f"Upload pictures of people (or a zip of them), up to {MAX_IMAGES} images, or a street video "
                f"({', '.join(e[1:] for e in VIDEO_EXTENSIONS[:4])}; up to {APP_LIMITS.max_video_seconds / 60:g} minutes). "
                "People in videos and street photos are found with a bundled SSDLite detector and followed across frames, "
                "so one person is one result. Everything is indexed with the model you choose and becomes "
                "searchable in the Search tab (tick *Search my uploaded gallery*) for this browser session only.")
    up_backbone = gr.Dropdown(choices, value=default, label="Index with")
    up_warn = gr.Markdown(views.synthetic_note(pool, default))
    files = gr.File(file_count="multiple", file_types=["image", ".zip", *VIDEO_EXTENSIONS],
                    label="Images, zip files or videos")
    street = gr.Checkbox(False, label="My images are street photos: find the people in them (videos always are)")
    with gr.Row():
        index_btn = gr.Button("Index my gallery", variant="primary")
        sample_btn = gr.Button("Or index a sample street clip (12 s of OpenCV's vtest.avi)",
                               visible=SAMPLE_CLIP.is_file())
    up_status = gr.Markdown()
    up_backbone.change(lambda b: views.synthetic_note(pool, b), [up_backbone], [up_warn], api_visibility="private")

    def ui_index(paths, b, is_street=False, request: gr.Request = None, progress=gr.Progress()):
        try:
            return views.index_uploads(pool, [getattr(p, "name", p) for p in paths or []], b, uploads,
                                       request.session_hash if request else "",
                                       progress=lambda stage, done, total: progress(done / total if total else 0.0,
                                                                                    desc=stage),
                                       street=bool(is_street))
        except LightCLIPError as exc:  # the page (and an /upload client) reads why
            return None, None, views.warning(exc)

    def show_filters(engine):
        cams = views.footage_cameras(engine)
        return gr.update(visible=bool(cams)), gr.update(choices=cams, value=[])

    index_btn.click(ui_index, [files, up_backbone, street], [session.engine, session.backbone, up_status],
                    api_name="upload").then(show_filters, [session.engine], [session.filters, session.cameras],
                                            api_visibility="private")

    def ui_sample(b, request: gr.Request = None, progress=gr.Progress()):
        return ui_index([str(SAMPLE_CLIP)], b, False, request, progress)

    sample_btn.click(ui_sample, [up_backbone], [session.engine, session.backbone, up_status],
                     api_name="upload_sample").then(show_filters, [session.engine],
                                                    [session.filters, session.cameras], api_visibility="private")


def _reap_every(uploads: UploadArea, seconds: float) -> None:
    """Delete upload folders past their age limit (sessions that never ended, an earlier killed app)."""
    while True:
        for folder in uploads.reap():
            print(f"LightCLIP: deleted the expired upload folder {folder.name}", file=sys.stderr)
        time.sleep(seconds)


def _warm(pool: EnginePool, default: str) -> None:
    """Load the default model and start building its query graphs (on a fresh machine, exported by a
    child process while searches run on PyTorch): the port opens after the load, not after the export."""
    t = time.perf_counter()
    try:
        engine = pool.warm(default, wait=False)
        print(f"LightCLIP: {default} loaded ({engine.runtime} runtime) in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)
    except LightCLIPError as exc:
        print(f"LightCLIP: could not index the gallery with {default}: {exc}", file=sys.stderr)


def _when_ready(pool: EnginePool, default: str, preload: bool, warming: threading.Thread) -> None:
    """Once the default is loaded (`warming` ends) and its query graphs are ready (the CPU is then free),
    say so and, with `preload`, load the other encoders."""
    t = time.perf_counter()
    warming.join()
    while pool.warming(default) and time.perf_counter() - t < 900:
        time.sleep(0.5)
    if pool.is_loaded(default):
        print(f"LightCLIP: {default} ready ({pool.get(default).runtime} runtime) after {time.perf_counter() - t:.1f} s "
              "more", file=sys.stderr)
    if preload:
        _preload(pool)


def _preload(pool: EnginePool) -> None:
    t = time.perf_counter()
    for gallery in pool.gallery_dirs:
        loaded = pool.preload(gallery=gallery)
        print(f"LightCLIP: {len(loaded)} encoders loaded for the {gallery} gallery after {time.perf_counter() - t:.1f} s",
              file=sys.stderr)


def main() -> int:
    t0 = time.perf_counter()
    device = settings.get("LIGHTCLIP_DEVICE")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    # the galleries through links of their own, so that results do not tell where the app is installed
    galleries = served_galleries({DEFAULT_GALLERY_KEY: Path(settings.get("LIGHTCLIP_GALLERY") or DEFAULT_GALLERY),
                                  "street": STREET_GALLERY})
    pool = EnginePool(settings.get("LIGHTCLIP_CHECKPOINTS") or CHECKPOINTS_DIR, galleries.pop(DEFAULT_GALLERY_KEY),
                      device=device, hub_repo=settings.get("LIGHTCLIP_HUB_REPO"), galleries=galleries)
    # Every served file is served in place, never copied into Gradio's cache: the galleries', and the
    # sessions' uploads and shown frames, which go with the session's folder when it ends
    served = [str(p) for p in pool.gallery_dirs.values()] + [str(UPLOAD_ROOT)]
    # The ImageNet-pretrained Lite0 retrieves far better than the from-scratch trunks (see the benchmarks).
    usable = pool.usable()
    preferred = [k for k in (DEFAULT_BACKBONE, "mobilenetv3_large_100") if k in usable]
    default = (preferred or usable or pool.available() or [None])[0]
    # Results are gallery files: served in place, not copied (and hashed) into Gradio's cache on every
    # search, which cost about four times the search itself under load (py-spy). Gradio still resolved
    # each result against every static path on its one thread (37% of it under load) and rebuilt a
    # pandas analytics summary after every event: gradio_tuning remembers the first and thins the second.
    gr.set_static_paths(served)
    gradio_tuning.tune_environment()
    gradio_tuning.memoise_static_checks()
    # The default model loads while the page is built and served: its text side only (the image side
    # waits for an upload), about a second, so the port does not wait for it; a search sent sooner waits
    # on the pool's lock for that one load, and the page says what is loading. On a fresh machine its
    # ONNX query graphs are exported by a child process meanwhile, and searches run on PyTorch until they
    # are ready: an export in this process (before: the port waited for it, 19 s) held the GIL the
    # requests need.
    warming = threading.Thread(target=_warm, args=(pool, default), name="lightclip-warm", daemon=True)
    if default:
        warming.start()
    uploads = UploadArea(UPLOAD_ROOT, total_bytes=UPLOAD_QUOTA)
    demo = build_app(pool, uploads, default)
    demo.queue(default_concurrency_limit=CONCURRENCY)
    UPLOAD_ROOT.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_reap_every, args=(uploads, 600), name="lightclip-reaper", daemon=True).start()
    port = settings.get("LIGHTCLIP_PORT") or int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), server_port=port,
                allowed_paths=served, max_file_size=MAX_UPLOAD,
                prevent_thread_lock=True, **_theme_kwargs())
    print(f"LightCLIP: serving after {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if default:
        # then the other bundled encoders (their shipped embeddings: a checkpoint load each), so that
        # switching encoders is instant; a search for one not loaded yet builds just that one
        threading.Thread(target=_when_ready, args=(pool, default, PRELOAD, warming),
                         name="lightclip-preload", daemon=True).start()
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
