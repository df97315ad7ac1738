"""The tables rendered from `benchmarks.json`: the results table and the training table (markdown),
and the rewriting of a page's marked blocks with them (`bench --update-readme`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..benchmarks import README_COLUMNS, measured_on
from ..errors import LightCLIPError
from ..fileio import atomic_write_bytes
from ..profiling import FLOPS_NOTE
from .records import display_name

README_START = "<!-- bench-table:start -->"
README_END = "<!-- bench-table:end -->"
TRAINING_START = "<!-- training-table:start -->"
TRAINING_END = "<!-- training-table:end -->"
TABLE_COLUMNS = tuple((c.short, c.key, c.fmt) for c in README_COLUMNS)  # (header, record key, format)


BINDING_NOTE = ("Reading descriptions (`eval --binding`, docs/BINDING.md): *Swap %* = how often a picture scores its own "
                "description above the same one with the two garments' colours swapped (chance 50); *P@5 %* = the "
                "share of the top 5 for a composed description (gender, upper and lower colour) that match all three.")


def _table_row(rec: dict[str, Any]) -> str:
    """One model's row of the benchmark table."""
    cells = ["n/a" if rec.get(key) is None else fmt.format(rec[key]) for _, key, fmt in TABLE_COLUMNS]
    if rec.get("zero_shot"):
        cells[0] += " (pretrained CLIP, zero-shot)"
    elif not rec.get("bundled", True):
        cells[0] += " (reference, not bundled)"
    return "| " + " | ".join(cells) + " |"


def runtime_lines(r: dict[str, Any]) -> list[str]:
    """The table's notes on the runtimes, from the document's side-by-side `ratios`: PyTorch against
    ONNX Runtime, and against CLIP's ViT-B/32 on each."""
    lines: list[str] = []
    if r.get("onnx_vs_torch_query") and r.get("onnx_vs_torch_image"):
        q, ips = r["query_ms_by_runtime"], r["images_per_s_by_runtime"]
        lines.append(
            f"Rows are measured on the `{r.get('runtime', 'torch')}` runtime. Side by side in the same run "
            f"({r['measured_on']}): a warm query takes {q['torch']:.1f} ms on PyTorch and {q['onnx']:.1f} ms on "
            f"ONNX Runtime (**{r['onnx_vs_torch_query']:.2f}x**), and images encode at {ips['torch']:.0f} vs "
            f"{ips['onnx']:.0f} per second (**{r['onnx_vs_torch_image']:.2f}x**); the app uses ONNX Runtime."
        )
        vs = r.get("throughput_vs_vit_b32_by_runtime") or {}
        if {"torch", "onnx"} <= set(vs):
            lines.append(
                f"Against CLIP's ViT-B/32 image tower at the same input, runtime for runtime: {r['measured_on']} "
                f"encodes **{vs['torch']:.1f}x** as many images per second on PyTorch and **{vs['onnx']:.1f}x** on "
                f"ONNX Runtime (ViT-B/32: {r['vit_b32_images_per_s_by_runtime']['torch']:.0f} and "
                f"{r['vit_b32_images_per_s_by_runtime']['onnx']:.0f} images/s)."
            )
    return lines


def markdown_table(doc: dict[str, Any]) -> str:
    """The benchmark table (study Tables II-IV in one): cost columns, then accuracy columns."""
    head = "| " + " | ".join(c for c, _, _ in TABLE_COLUMNS) + " |"
    rule = "|" + "|".join("---" if fmt == "{}" else "---:" for _, _, fmt in TABLE_COLUMNS) + "|"
    r = doc["ratios"]
    lines = [head, rule, *map(_table_row, sorted(doc["records"], key=lambda rec: rec["params_m"])), ""]
    lines.append(
        f"{measured_on(doc, doc.get('command', 'python -m lightclip_core bench'))}, "
        f"{doc['gallery']['images']} gallery images, "
        f"{doc['gallery']['queries']} queries; {FLOPS_NOTE}; query = text encode + top-10 search."
    )
    if r.get("naive_vs_warm_query") is not None:
        lines.append(
            f"Ratios ({r['measured_on']}): warm query vs re-encoding the gallery per query "
            f"**{r['naive_vs_warm_query']:.0f}x** faster; five batched queries cost "
            f"**{r['batch5_vs_single']:.2f}x** one query"
            + (f" (they carry {r['tokens_batch5_vs_single']:.2f}x its tokens, padded to the longest, and the text "
               "encoder's cost grows with tokens)" if r.get("tokens_batch5_vs_single") else "")
            + "; × ViT-B/32 = image-encode throughput against CLIP's "
            "ViT-B/32 image tower at the same input size, measured in the same run."
        )
    lines += runtime_lines(r)
    if any(rec.get("binding_swap") is not None for rec in doc["records"]):
        lines.append(BINDING_NOTE)
    if note := real_note(doc["records"]):
        lines.append(note)
    if head := r.get("text_head_query_ms"):
        lines.append(
            f"The text head's cost ({r['measured_on']}, the same warm query with and without it, alternating in one "
            f"run): {head['with_head']:.2f} ms against {head['without_head']:.2f} ms, **{head['delta_ms']:+.2f} ms**"
            + (f"; the head's own call, timed alone on that query's encoder output: **{head['call_ms']:.2f} ms**."
               if "call_ms" in head else ".")
        )
    note = embeddings_note(doc["records"])
    if note:
        lines.append(note)
    if len(doc.get("runs", [])) > 1:
        lines.append(
            f"Rows come from {len(doc['runs'])} runs of the command ({', '.join(doc['runs'])}; `bench --merge` "
            "re-measures some models and keeps the rest); each record in `benchmarks.json` has its `measured` time."
        )
    if doc.get("skipped"):
        by_reason: dict[str, list[str]] = {}
        for x in doc["skipped"]:
            by_reason.setdefault(x["reason"], []).append(x["model"])
        lines.append("Not measured: " + "; ".join(f"{', '.join(m)} ({why})" for why, m in by_reason.items()) + ".")
    return "\n".join(lines)


def real_note(records: list[dict[str, Any]]) -> str | None:
    """What the Real columns are, with the check's size from the records (None when no row has them)."""
    rec = next((r for r in records if r.get("real_images")), None)
    if rec is None:
        return None
    best = max((r for r in records if r.get("real_map") is not None), key=lambda r: r["real_map"])
    ci = best.get("real_map_ci95")
    spread = (f" (e.g. {best.get('display_name', best['backbone'])}'s real mAP {best['real_map']:.1f} has a 95 % "
              f"bootstrap interval over the people of {ci[0]:.1f}–{ci[1]:.1f})") if ci else ""
    return (f"*Real R@1 / mAP*: the real-photo check (`realcheck/street/`: {rec['real_people']} people from one "
            f"elevated street camera, {rec['real_images']} crops, {rec['real_queries']} descriptions written by "
            f"hand; never trained on), every description against every crop; *Re-ID mAP*: crop against crop, "
            f"positives the same person away from the query's own moment. It is small and one camera, so "
            f"differences of several points between rows are noise{spread}; it is what the drawings above cannot "
            f"tell: how a model does on real people (docs/REAL.md).")


def embeddings_note(records: list[dict[str, Any]]) -> str | None:
    """Which gallery embeddings the accuracy columns score, when any row scored the shipped ones.

    Records from before `gallery_embeddings` existed say nothing unless they cannot have had a shipped
    file (a reference or zero-shot row: nothing is shipped beside those), which makes them "encoded".
    """
    def apart(rec: dict[str, Any]) -> bool:  # a reference or zero-shot row: no file is ever shipped beside it
        return bool(rec.get("zero_shot")) or not rec.get("bundled", True)

    def source(rec: dict[str, Any]) -> str | None:
        return rec.get("gallery_embeddings") or ("encoded" if apart(rec) else None)

    ordered = sorted(records, key=lambda r: r["params_m"])
    shipped = [r for r in ordered if source(r) == "shipped"]
    if not shipped:
        return None
    names = lambda rs: ", ".join(r.get("display_name") or r["backbone"] for r in rs)  # noqa: E731
    encoded = [r for r in ordered if source(r) == "encoded"]
    unknown = [r for r in ordered if source(r) is None]
    if not unknown and all(apart(r) for r in encoded):
        text = ("Accuracy columns score the fp16 gallery embeddings shipped beside each bundled checkpoint, which "
                "the app searches (a fresh float32 encode can break a near-tie the other way)")
        return text + (f"; {names(encoded)}, not bundled, a float32 encode." if encoded else ".")
    text = (f"Accuracy columns score the fp16 gallery embeddings shipped beside the checkpoint, which the app "
            f"searches, for {names(shipped)}")
    if encoded:
        text += f"; a float32 encode of the gallery for {names(encoded)}"
    if unknown:
        text += f"; not recorded for {names(unknown)}"
    return text + "."


def training_table(doc: dict[str, Any]) -> str:
    """How each trained row got where it is, from the records' recipes and curves: the data per epoch,
    the epochs run and the one shipped (bold in the curve), images seen, training minutes and the
    validation curve, next to the bundled-gallery test result. Zero-shot rows were not trained here."""
    head = ("| Backbone | Trained | Images / epoch | Epochs run | Shipped epoch | Images seen | Train min | CPU min "
            "| val R@1 after each epoch | Test R@1 / mAP |")
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"

    def num(v, fmt: str = "{:,.0f}") -> str:
        return "n/a" if v is None else fmt.format(v)

    rows = []
    for rec in sorted(doc["records"], key=lambda r: r["params_m"]):
        if rec.get("zero_shot"):
            continue
        curves = rec.get("curves") or []
        shipped = rec.get("epochs_trained")
        curve = ", ".join(
            (f"**{c['val_r1']:.1f}**" if c.get("epoch") == shipped else f"{c['val_r1']:.1f}")
            for c in curves if c.get("val_r1") is not None) or "n/a"
        name = rec.get("display_name") or display_name(rec.get("backbone"))
        if not rec.get("bundled", True):
            name += " (reference, not bundled)"
        per_epoch = (rec.get("training") or {}).get("samples_per_epoch")
        rows.append("| " + " | ".join([
            name, rec.get("recipe_short") or "n/a", num(per_epoch), str(len(curves) or "n/a"), num(shipped),
            num(rec.get("images_seen")), num(rec.get("train_minutes")), num(rec.get("train_cpu_minutes")), curve,
            f"{rec['r1']:.2f} / {rec['map']:.2f}",
        ]) + " |")
    note = ("Rendered from `checkpoints/benchmarks.json` by `python -m lightclip_core bench --update-readme`; "
            "each row's recipe and curve are its checkpoint's `config.json` and `curves.json`. Train min = the "
            "epochs' training time summed up to the shipped epoch (validation excluded); a fine-tune's images seen and "
            "minutes include those of the model it started from, its curve is the fine-tune's own; CPU min = the training "
            "process's CPU time, recorded for runs trained since 2026-11-30 (n/a before, or when a run resumed "
            "from one that did not record it).")
    return "\n".join([head, rule, *rows, "", note])


def _replace_block(text: str, start: str, end: str, body: str) -> str:
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    return f"{before}{start}\n{body}\n{end}{after}"


def update_readme(readme: str | Path, table: str, training: str | None = None) -> None:
    """Replace the benchmark table between the README's bench markers and, when given and the README has
    training markers, the training table between those."""
    path = Path(readme)
    text = path.read_text()
    if README_START not in text or README_END not in text:
        raise LightCLIPError(f"{path} has no {README_START} ... {README_END} markers to replace.")
    text = _replace_block(text, README_START, README_END, table)
    if training is not None and TRAINING_START in text and TRAINING_END in text:
        text = _replace_block(text, TRAINING_START, TRAINING_END, training)
    atomic_write_bytes(path, text.encode("utf-8"))
