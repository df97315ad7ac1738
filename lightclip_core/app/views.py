"""What the app shows, as plain data: result captions, summaries, overlaps (no gradio import).

Each function takes an `EnginePool` (and a user's own engine, when they indexed a gallery) and
returns lists of ``(image_path, caption)`` plus Markdown, so app.py only wires components, and the
tests call these directly without a server.
"""

from __future__ import annotations

import io
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from ..data.base import skipped_summary
from ..errors import LightCLIPError
from ..explain import MATCH, UNSURE, explain
from ..fileio import atomic_write_bytes, log
from ..footage import APP_LIMITS, VIDEO_EXTENSIONS, Source, build_footage_gallery
from ..gallery import Gallery
from ..models.backbones import DEFAULT_BACKBONE, STUDY_BACKBONES, get_backbone_spec
from ..models.zero_shot import ZERO_SHOT, is_zero_shot, list_zero_shot
from ..progress import as_progress
from ..search import MAX_K, QueryError, SearchEngine, SearchResult, clean_query
from ..stores import FootageFilter, parse_time
from .pool import LOADING, EnginePool, model_key
from .uploads import UploadArea, ingest_uploads

SYNTHETIC_WARNING = (
    "Models marked *synthetic-trained* were trained only on SynthPedes (drawn people) and are measured on the "
    "synthetic gallery; on real photos expect much weaker results. For real photos choose a pretrained "
    "CLIP-family model (zero-shot), or train on CUHK-PEDES / RSTPReid with a pretrained trunk (see About)."
)


def real_records(bench: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Bundled benchmark records that carry the real-photo check's figures, by backbone."""
    return {r["backbone"]: r for r in (bench or {}).get("records", [])
            if r.get("bundled", True) and r.get("real_map") is not None}


def real_summary(bench: dict[str, Any] | None) -> str:
    """About's measured paragraph: every bundled model on real photos against the drawn gallery, best first
    (empty when benchmarks.json has no real-photo figures)."""
    recs = sorted(real_records(bench).values(), key=lambda r: (-r["real_map"], -r.get("real_r1", 0)))
    if not recs:
        return ""
    first = recs[0]
    rows = "\n".join(f"| {display_name(r['backbone'])} | {r['real_map']:.1f} | {r['real_r1']:.1f} | "
                      f"{r.get('real_reid_map', float('nan')):.1f} | {r['r1']:.1f} |" for r in recs)
    return (f"\n\n### On real photos\nThe repository's real check (`realcheck/street/`): {first['real_people']} people "
            f"from one elevated street camera, {first['real_images']} crops, {first['real_queries']} descriptions "
            f"written by hand, never trained on. It is small, so a few points are noise. Measured by "
            f"`python -m lightclip_core bench`:\n\n| Model | Real mAP | Real R@1 | Re-ID mAP | R@1 on drawings |\n"
            f"|---|---:|---:|---:|---:|\n{rows}\n\n*Your gallery* indexes with "
            f"**{display_name(first['backbone'])}** by default, the best here.")


def best_for_real(bench: dict[str, Any] | None, usable: Sequence[str]) -> str | None:
    """Of the `usable` backbones, the one with the best real-photo mAP (R@1 breaks a tie); None without figures."""
    recs = [r for key, r in real_records(bench).items() if key in usable]
    return max(recs, key=lambda r: (r["real_map"], r.get("real_r1", 0)))["backbone"] if recs else None


def real_caveat(bench: dict[str, Any] | None, backbone: str | None) -> str:
    """The synthetic-trained caveat with what was measured on real photos (the generic one without figures)."""
    recs = real_records(bench)
    rec = recs.get(backbone or "")
    if rec is None:
        return SYNTHETIC_WARNING
    best = recs[best_for_real(bench, list(recs))]
    text = (f"Trained only on SynthPedes (drawn people). On real street-camera crops (the repository's real "
            f"check: {rec['real_people']} people, {rec['real_images']} crops, one camera, small) "
            f"{display_name(backbone)} scores **mAP {rec['real_map']:.1f}**, R@1 {rec['real_r1']:.1f} "
            f"(R@1 {rec['r1']:.1f} on the drawn gallery).")
    if best["backbone"] != backbone:
        text += (f" Best on real photos: **{display_name(best['backbone'])}** (mAP {best['real_map']:.1f}); "
                 f"choose it for your own photos and footage.")
    else:
        text += " It is the best of the bundled models on real photos."
    return text
# Free-form example queries, each with the SynthPedes attributes of the people it describes: every one fits
# at least two people of the bundled gallery (tests/test_bundled.py checks it against gallery/attributes.json),
# so an example always has right answers to find. Three of the first wave's four examples ("a woman in a red
# coat with a black backpack", ...) fitted nobody in it, and every encoder could only return near misses.
WITNESS_EXAMPLES: tuple[tuple[str, dict[str, str]], ...] = (
    ("a woman in a pink t-shirt with a light blue backpack",
     {"gender": "woman", "upper_colour": "pink", "upper_type": "t-shirt", "bag": "backpack", "bag_colour": "light blue"}),
    ("a man in a navy coat and blue jeans",
     {"gender": "man", "upper_colour": "navy", "upper_type": "coat", "lower_colour": "blue", "lower_type": "jeans"}),
    ("a woman wearing a grey dress", {"gender": "woman", "upper_colour": "grey", "upper_type": "dress"}),
    ("someone in a black coat holding a phone", {"upper_colour": "black", "upper_type": "coat", "carry": "phone"}),
)
WITNESS_QUERIES = tuple(q for q, _ in WITNESS_EXAMPLES)
# Descriptions of people in the bundled street gallery (samples/street/, the real video), written by looking at its crops
STREET_QUERIES = (
    "a man in a red and navy jacket carrying white papers",
    "a woman in a red top and blue jeans",
    "a blonde woman in a long black coat",
    "a man in a blue jacket carrying a bag",
)
# The Compare tab opens on the default model against the cheapest bundled one: the trade-off the tab is for.
COMPARE_PAIR = (DEFAULT_BACKBONE, "mobilenetv3_small_100")


def compare_defaults(available: list[str], default: str | None = None) -> list[str]:
    """The two models the Compare tab starts with: the first two available of the app's default, the
    flagship and the cheapest bundled student (`COMPARE_PAIR`), topped up with the other available models."""
    wanted = [m for m in dict.fromkeys([default, *COMPARE_PAIR]) if m and m in available]
    return (wanted + [m for m in available if m not in wanted])[:2]


def display_name(key: str) -> str:
    if is_zero_shot(key):
        return ZERO_SHOT.get(key).display_name + " (zero-shot)"
    try:
        return get_backbone_spec(key).display_name
    except LightCLIPError:
        return key


def model_choices(pool: EnginePool) -> list[tuple[str, str]]:
    """``(label, backbone key)`` for the dropdowns: bundled models first, then the study's
    backbones that have no checkpoint yet (choosing one explains how to get it)."""
    out = []
    for key in pool.available():
        info = pool.info(key)
        if info.get("damaged"):
            tag = "unavailable: damaged checkpoint"
        else:
            tag = "synthetic-trained" if info.get("synthetic") else f"trained on {info.get('dataset')}"
        out.append((f"{display_name(key)} ({tag})", key))
    for key in STUDY_BACKBONES:
        if key not in pool.checkpoints:
            where = f"downloads from {pool.hub_repo} on first use" if pool.hub_repo else "no checkpoint"
            out.append((f"{display_name(key)} ({where})", key))
    for key in list_zero_shot():
        out.append((ZERO_SHOT.get(key).label, key))
    return out


def hit_items(result: SearchResult, footage: Any = None) -> list[tuple[str, str]]:
    """Gallery items: each image captioned with rank, cosine similarity and person id; a ✓ marks
    the query's own identity when the query is one of the gallery's captions. In a footage gallery
    (`footage`, a `FootageIndex`) each result is a track: its source and time span instead of the id."""
    items = []
    for h in result.hits:
        label = footage.label(h.path) if footage is not None else ""
        if label:
            items.append((h.path, f"#{h.rank} · cos {h.score:.3f} · {label}"))
            continue
        mark = " ✓" if result.query_pid is not None and h.pid == result.query_pid else ""
        items.append((h.path, f"#{h.rank} · cos {h.score:.3f} · id {h.pid}{mark}"))
    return items


def summary(result: SearchResult, backbone: str, pool: EnginePool | None = None, footage: Any = None) -> str:
    """The Markdown above the results; with `pool`, a synthetic-trained model's caveat too."""
    what = (f"{len(result.hits)} of {len(footage.tracks):,} tracks ({result.gallery_size:,} crops)" if footage is not None
            else f"{len(result.hits)} of {result.gallery_size:,} images")
    lines = [
        f"**{display_name(backbone)}** · {what} · "
        f"text encode {result.text_ms:.1f} ms{' (cached)' if result.text_cached else ''} · "
        f"search {result.search_ms:.2f} ms"
    ]
    if footage is not None:
        lines.append("Each result is one person's track, shown by its best-matching crop; click one to see where "
                     "it was seen.")
    if result.truncated:
        lines.append(f"Your description was long; it was cut to its first {len(result.query):,} characters.")
    if result.query_pid is not None:
        right = sum(h.pid == result.query_pid for h in result.hits)
        lines.append(f"This query is a caption of person **{result.query_pid}** in the gallery: "
                     f"{right} of the top {len(result.hits)} are that person (✓); its AP over the whole gallery is "
                     f"**{result.ap:.1f}%**.")
    if pool is not None and pool.info(backbone).get("synthetic"):
        lines.append(f"*{display_name(backbone)} is synthetic-trained.* {real_caveat(pool.bench(), backbone)}")
    return "\n\n".join(lines)


def clamp_k(k: Any) -> int:
    try:
        return max(1, min(MAX_K, int(k)))
    except (TypeError, ValueError):
        return 10


def _still_there(engine: SearchEngine) -> SearchEngine:
    """A session's own engine, or one sentence when its upload folder has been deleted (age limit)."""
    if engine.gallery.root and not Path(engine.gallery.root).is_dir():
        raise LightCLIPError("This session's uploaded gallery was deleted (uploads are kept until the session ends, "
                             "6 hours at most); upload it again.")
    return engine


def search_view(pool: EnginePool, query: str, backbone: str, k: Any = 10,
                engine: SearchEngine | None = None, progress=None,
                caveat: bool = True, where=None, gallery: Any = None) -> tuple[list[tuple[str, str]], str, list[int]]:
    """``(items, markdown, rows)`` for one query; an empty query is a message and no items. What cannot
    be answered raises its `LightCLIPError`, one sentence for the page or the client: an unknown
    backbone or one without a checkpoint, a model whose weights cannot be downloaded. `progress(stage, done, total)` follows a first-use gallery encoding;
    ``caveat=False`` leaves out the synthetic-training caveat (Compare says it once for all columns).
    `where`: a footage gallery's camera / time filter (`footage_filter`); `gallery`: which of the
    pool's galleries (default: its first), when no session `engine` is given."""
    try:
        engine = _still_there(engine) if engine else pool.get(backbone, progress, gallery=gallery)
        result = engine.search_batch([query], clamp_k(k), where=where)[0]
    except QueryError as exc:
        return [], str(exc), []
    footage = engine.gallery.footage
    return (hit_items(result, footage), summary(result, backbone, pool if caveat else None, footage),
            [h.row for h in result.hits])


def footage_filter(cameras: Any, start: Any, end: Any):
    """The Search tab's filter fields as a `stores.FootageFilter` (None when all are empty); a bad time
    is a `LightCLIPError` in one sentence."""

    cams = tuple(c for c in (cameras or []) if isinstance(c, str) and c)
    times = [None if t is None or not str(t).strip() else parse_time(str(t), label)
             for t, label in ((start, "From"), (end, "To"))]
    flt = FootageFilter(cams, *times)
    return flt or None


def footage_cameras(engine: SearchEngine | None) -> list[str]:
    """The sources (cameras) of a footage gallery, in the order indexed; [] for any other gallery."""
    footage = getattr(getattr(engine, "gallery", None), "footage", None)
    if footage is None:
        return []
    return list(dict.fromkeys(str(c.get("source", "")) for c in footage.crops.values()))


def search_many(pool: EnginePool, queries: Sequence[Any], backbones: Sequence[Any],
                ks: Sequence[Any], galleries: Sequence[Any] | None = None) -> list[list[tuple[str, str]] | LightCLIPError]:
    """The answers to several independent requests at once (the app's coalesced /search): requests
    for the same encoder share one text-encoder call and one index search. Each answer is what
    `search_view` gives for that request alone — its items, ``[]`` for an empty query, or its error
    (a `LightCLIPError` to raise to that caller: an unknown or unavailable model, a backbone that is
    not a name, an unknown gallery). Nothing one request holds can fail another's answer."""
    out: list[Any] = [[] for _ in queries]
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (q, b, g) in enumerate(zip(queries, backbones, galleries or [None] * len(queries))):
        try:
            b, g = model_key(b), pool.gallery_key(g)
        except LightCLIPError as exc:
            out[i] = exc
            continue
        try:
            clean_query(q)
        except QueryError:
            continue  # nothing asked: no people, as search_view
        groups.setdefault((g, b), []).append(i)
    for (g, b), idx in groups.items():
        try:
            engine = pool.get(b, gallery=g)
        except Exception as exc:  # noqa: BLE001 - a broken model answers its own requests, alone
            for i in idx:
                out[i] = _as_sentence(exc, f"the {b} model could not be loaded")
            continue
        for i, answer in zip(idx, _search_isolated(engine, [queries[i] for i in idx], [ks[i] for i in idx])):
            out[i] = answer
    return out


def _search_isolated(engine: SearchEngine, queries: list[str], ks: list[Any]) -> list[Any]:
    """One `search_batch` for all; if it fails, each query alone, so only a poisoned one fails."""
    def run(qs: list[str], kk: list[Any]) -> list[Any]:
        results = engine.search_batch(qs, max(clamp_k(k) for k in kk))
        for res, k in zip(results, kk):
            res.hits = res.hits[: clamp_k(k)]
        return [hit_items(res, engine.gallery.footage) for res in results]

    try:
        return run(queries, ks)
    except Exception:  # noqa: BLE001
        answers = []
        for q, k in zip(queries, ks):
            try:
                answers += run([q], [k])
            except Exception as exc:  # noqa: BLE001
                answers.append(_as_sentence(exc, "this description could not be searched"))
        return answers


def _as_sentence(exc: Exception, what: str) -> LightCLIPError:
    """`exc` as the one sentence a caller sees; an unexpected error is logged here with its traceback."""
    if isinstance(exc, LightCLIPError):
        return exc

    log(f"search: {what}:\n{traceback.format_exc()}")
    return LightCLIPError(f"Sorry, {what} ({type(exc).__name__}); the server logged the details.")


def similar_view(pool: EnginePool, backbone: str, row: int | None, k: Any = 10,
                 engine: SearchEngine | None = None, gallery: Any = None) -> tuple[list[tuple[str, str]], str, list[int]]:
    """"Find people like this": image-to-image search from gallery row `row`."""
    if row is None:
        return [], "Click a result first, then ask for people like it.", []
    engine = _still_there(engine) if engine else pool.get(backbone, gallery=gallery)
    result = engine.search_similar(int(row), clamp_k(k))
    items = hit_items(result, engine.gallery.footage)
    src_pid = engine.gallery.pids[int(row)]
    same = sum(h.pid == src_pid for h in result.hits)
    md = (f"**People like gallery image {row}** (person {src_pid}) with {display_name(backbone)}: "
          f"{same} of {len(result.hits)} are the same person · search {result.search_ms:.2f} ms")
    return items, md, [h.row for h in result.hits]


def explain_view(pool: EnginePool, query: str, backbone: str, row: Any,
                 engine: SearchEngine | None = None, gallery: Any = None) -> str:
    """Markdown: which phrases of `query` gallery picture `row` matches under `backbone`, and which
    not ("a grey jacket ✓ · black trousers ✗"). An empty query is a message; what cannot be explained
    raises its `LightCLIPError` (one sentence)."""

    if row is None:
        return "Click a result to see which parts of the description it matches."
    try:
        row = int(row)
    except (TypeError, ValueError):
        raise LightCLIPError(f"Gallery picture {row!r} does not exist; pick one of the results.") from None
    try:
        engine = _still_there(engine) if engine else pool.get(backbone, gallery=gallery)
        evidence = explain(engine, query, row)
    except QueryError as exc:
        return str(exc)
    n = len(engine.gallery)
    lines = ["| | phrase | this picture beats | cosine |", "|---|---|---|---|"]
    for e in evidence:
        lines.append(f"| {e.verdict} | {e.phrase} | {e.percentile:.0f}% of the gallery | {e.score:.3f} |")
    return (f"**Why picture {row} matched** ({display_name(backbone)}): each phrase alone, this picture ranked "
            f"against all {n} gallery pictures — ✓ above {MATCH:.0f}%, ≈ {UNSURE:.0f}–{MATCH:.0f}%, ✗ below.\n\n"
            + "\n".join(lines))


def warning(problem: Any) -> str:
    """A view's error (or any problem) as the page shows it: one marked sentence, in place of results."""
    return f"⚠️ {problem}"


def overlap(lists: Sequence[Sequence[int]]) -> list[tuple[int, int, int]]:
    """``(i, j, shared)`` for every pair of top-K lists: how many gallery rows both contain."""
    return [(i, j, len(set(lists[i]) & set(lists[j]))) for i in range(len(lists)) for j in range(i + 1, len(lists))]


def compare_view(pool: EnginePool, query: str, backbones: Sequence[str], k: Any = 10,
                 columns: int = 3, with_rows: bool = False, gallery: Any = None) -> tuple:
    """The same query through up to `columns` backbones: items and a summary per column, and how
    much the top-K lists overlap; `with_rows` adds each column's gallery rows (for explanations). A
    column that cannot answer shows its sentence (and the note names it), the others still answer;
    an unknown gallery raises its `LightCLIPError`."""
    if isinstance(backbones, str):  # one name, not its letters
        backbones = [backbones]
    backbones = list(dict.fromkeys(b for b in (backbones or []) if isinstance(b, str) and b))[:columns]
    items, texts, rows, failed = [], [], [], []
    pool.gallery_key(gallery)  # an unknown gallery: its sentence, raised
    if not backbones:
        empty = ([[] for _ in range(columns)], ["" for _ in range(columns)], "Choose two or more models to compare.")
        return (*empty, [[] for _ in range(columns)]) if with_rows else empty
    for b in backbones:
        try:
            it, md, r = search_view(pool, query, b, k, caveat=False, gallery=gallery)
        except LightCLIPError as exc:  # this column's own failure; the others still answer
            it, md, r = [], warning(exc), []
            failed.append(f"{display_name(b)}: {exc}")
        items.append(it)
        texts.append(md)
        rows.append(r)
    shared = [(backbones[i], backbones[j], n) for i, j, n in overlap(rows) if rows[i] and rows[j]]
    k_eff = max((len(r) for r in rows), default=0)
    if shared:
        parts = [f"{display_name(a)} ∩ {display_name(b)}: **{n}** of {k_eff}" for a, b, n in shared]
        note = "Top-K overlap · " + " · ".join(parts)
    else:
        note = "Choose a second model to see how the top-K lists overlap." if len(backbones) == 1 else "No overlap to show."
    if failed:  # the API returns no per-column text, so the note carries each column's sentence
        note += "\n\n" + warning(" · ".join(failed))
    synthetic = [display_name(b) for b in backbones if pool.info(b).get("synthetic")]
    if synthetic:
        note += f"\n\n*Synthetic-trained: {', '.join(synthetic)}.* {SYNTHETIC_WARNING}"
    while len(items) < columns:
        items.append([])
        texts.append("")
        rows.append([])
    return (items, texts, note, rows) if with_rows else (items, texts, note)


def synthetic_note(pool: EnginePool, backbone: str | None) -> str:
    """The caveat for a synthetic-trained model, with its measured real-photo figures (empty for others)."""
    return real_caveat(pool.bench(), backbone) if pool.info(backbone or "").get("synthetic") else ""


def warming_note(pending: Sequence[str]) -> str:
    """The page's line while the default model's query graphs are still being built (empty when none)."""
    if not pending:
        return ""
    loading = [p.removeprefix(LOADING) for p in pending if p.startswith(LOADING)]
    if loading:
        return (f"⏳ Getting ready: loading the {' and '.join(loading)} encoder (a second or two). A search sent "
                "now is answered as soon as it is loaded.")
    return (f"⏳ Getting ready: exporting {' and '.join(pending)} to ONNX (once per machine). Searches already "
            "answer, on PyTorch, with the same rankings; they get faster when this line goes.")


def gallery_defaults(pool: EnginePool, gallery: Any, query: Any, backbone: Any) -> tuple[Any, Any]:
    """``(backbone, query)`` to show on choosing `gallery`: a gallery of real footage (the street video)
    gets the bundled encoder that does best on real photos and, when the box is empty, a street example;
    the drawn gallery (or an unknown one) keeps both."""
    try:
        real = pool.gallery_of(gallery).footage is not None
    except LightCLIPError:
        real = False
    if not real:
        return backbone, query
    best = best_for_real(pool.bench(), pool.usable())
    return best or backbone, query if isinstance(query, str) and query.strip() else STREET_QUERIES[0]


def bundled_frame(pool: EnginePool, backbone: Any, gallery: Any, row: int | None):
    """`source_frame` for a result of one of the pool's galleries (None when it is not footage, or on any error)."""
    try:
        return source_frame(pool.get(backbone, gallery=gallery), row)
    except LightCLIPError:
        return None


def session_frame(engine: SearchEngine | None, row: int | None) -> str | None:
    """`source_frame` of a session's own footage gallery as a JPEG in that gallery's folder (served in
    place, and gone with the folder when the session ends, unlike a picture handed to Gradio, which
    keeps a copy in its cache); None as for `source_frame`."""
    frame = source_frame(engine, row)
    if frame is None:
        return None
    out = Path(engine.gallery.root) / ".shown" / f"frame-{int(row)}.jpg"
    out.parent.mkdir(exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "JPEG", quality=90)
    atomic_write_bytes(out, buf.getvalue())
    return str(out)


def source_frame(engine: SearchEngine | None, row: int | None):
    """The frame (RGB array) where gallery row `row` of a footage gallery was seen, its box drawn;
    None for other galleries or rows."""
    if engine is None or row is None or engine.gallery.footage is None or not 0 <= int(row) < len(engine.gallery):
        return None
    return engine.gallery.footage.frame_with_box(engine.gallery.paths[int(row)])


def index_uploads(pool: EnginePool, paths: Sequence[str], backbone: str, area: UploadArea, session: str = "",
                  progress=None, street: bool = False) -> tuple[SearchEngine | None, str | None, str]:
    """*Your gallery*: copy the uploaded images / zips into a fresh folder of `area`, index them with
    `backbone`, and return ``(engine, backbone, markdown)``; nothing chosen is ``(None, None, message)``.
    A refused upload raises its `LightCLIPError` (one sentence; its folder is deleted at once). A success replaces `session`'s previous gallery.
    `progress(stage, done, total)` follows the copy and the encoding.

    Videos among `paths`, or `street=True` (the images are street photos, not person crops), go
    through `footage.build_footage_gallery`: people are detected (and tracked in videos), and a
    search returns tracks."""
    if not paths:
        return None, None, "Choose some images, a zip, or a video first."

    videos = [p for p in paths if Path(p).suffix.lower() in VIDEO_EXTENSIONS]
    index = _index_footage if videos or street else _index_pictures
    folder, room = area.open()
    try:
        engine, head, skipped = index(pool, [p for p in paths if p not in videos], videos, backbone, folder, room,
                                      as_progress(progress), street)
    except BaseException:  # a refused upload (its LightCLIPError, raised) or anything else: nothing kept
        area.discard(folder)
        raise
    area.keep(session, folder)
    return engine, backbone, _upload_report(pool, backbone, head, skipped)


def _index_pictures(pool: EnginePool, images: Sequence[str], videos: Sequence[str], backbone: str, folder: Path,
                    room: int, report, street: bool) -> tuple[SearchEngine, str, list[tuple[str, str]]]:
    base = pool.get(backbone)
    report("copying uploads", 0, 0)
    up = ingest_uploads(list(images), folder, max_total_bytes=room)
    if up.added == 0:
        raise LightCLIPError(nothing_usable(up.skipped))
    try:
        gallery = Gallery.load(folder, dataset="folder")
    except LightCLIPError as exc:  # every copied picture failed to decode: say which, by the names the user gave
        bad = getattr(exc, "skipped", [])
        raise LightCLIPError(nothing_usable(up.skipped + [(up.origin.get(Path(p).name, Path(p).name), why)
                                                          for p, why in bad])) from None
    t0 = time.perf_counter()
    engine = SearchEngine.from_model(base.model, gallery,
                                     progress=lambda stage, done, total: report(f"indexing {done}/{total}", done, total))
    skipped = up.skipped + [(up.origin.get(Path(p).name, Path(p).name), why) for p, why in gallery.skipped]
    head = (f"Indexed **{len(gallery)}** images with {display_name(backbone)} in {time.perf_counter() - t0:.1f} s. "
            "Tick *Search my uploaded gallery* in the Search tab.")
    return engine, head, skipped


def nothing_usable(skipped: Sequence[tuple[str, str]]) -> str:
    """The sentence for an upload of which nothing could be used: how many files and the first reasons."""
    return f"No readable images in the upload ({skipped_summary(skipped)})." if skipped else \
        "No readable images in the upload."


def _upload_report(pool: EnginePool, backbone: str, head: str, skipped: Sequence[tuple[str, str]]) -> str:
    """*Your gallery*'s status: `head`, the files skipped and why (50 at most), the synthetic caveat."""
    lines = [head]
    if skipped:
        lines.append(f"Skipped {len(skipped)}:\n" + "\n".join(f"- `{n}`: {why}" for n, why in skipped[:50]))
    if pool.info(backbone).get("synthetic"):
        lines.append(f"*{SYNTHETIC_WARNING}*")
    return "\n\n".join(lines)


def _index_footage(pool: EnginePool, images: Sequence[str], videos: Sequence[str], backbone: str, folder: Path,
                   room: int, report, street: bool) -> tuple[SearchEngine, str, list[tuple[str, str]]]:
    base = pool.get(backbone)
    skipped: list[tuple[str, str]] = []
    sources = [Source(str(v), "video") for v in videos]
    origin: dict[str, str] = {}
    if images:
        report("copying uploads", 0, 0)
        up = ingest_uploads(list(images), folder / "uploads", max_total_bytes=room)
        if up.added == 0 and not videos:
            raise LightCLIPError(nothing_usable(up.skipped))
        skipped += up.skipped
        origin = up.origin
        sources += [Source(str(p), "photo" if street else "crop") for p in sorted((folder / "uploads").iterdir())]

    summary, emb = build_footage_gallery(sources, folder / "gallery", base.model, sample_fps=2.0,
                                         limits=APP_LIMITS, progress=report)
    gallery = Gallery.load(folder / "gallery", dataset="folder")
    engine = SearchEngine(base.model, gallery, emb)
    skipped += [(origin.get(name, name), why) for name, why in summary.skipped]
    rt = summary.realtime_factor
    head = (f"Found **{summary.tracks:,}** people tracks ({summary.crops:,} crops from {summary.frames_read:,} frames "
            f"and photos, {summary.detections:,} detections) with {display_name(backbone)} in {summary.seconds:.1f} s"
            + (f", {rt:.1f}× real time" if rt else "") + ". Tick *Search my uploaded gallery* in the Search tab: "
            "each result is one person's track; click it to see the frame.")
    return engine, head, skipped
