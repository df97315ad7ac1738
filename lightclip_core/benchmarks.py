"""The benchmark document, neutral ground for the app and the bench wing (neither imports the other):
`benchmarks.json` on disk (read with a clear error, written atomically) and its columns, in one place.
The app's table and CSV (`app.charts.table`) show every column under its `header`; the README table
(`bench.tables.readme_table`) shows those with a `short` header, formatted with `fmt`. Also where the
rows were timed (`measured_on`), said alike under the README table, in the app and on its chart. JSON
only (no torch, no plotly), so merging and rendering tables import nothing heavy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from .errors import LightCLIPError
from .fileio import atomic_write_json


def load_benchmarks(path: str | Path) -> dict[str, Any]:
    """The benchmark document, or a clear error when it is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise LightCLIPError(f"No benchmark table at {path}; run `python -m lightclip_core bench` to make one.")
    try:
        doc = json.loads(path.read_text())
        doc["records"]
    except (ValueError, KeyError, TypeError):
        raise LightCLIPError(f"{path} is not a benchmark table written by `python -m lightclip_core bench`.") from None
    return doc


def write_bench(doc: dict[str, Any], out: str | Path) -> Path:
    """Write `doc` to `out` atomically (a killed run leaves the old file)."""
    out = Path(out)
    atomic_write_json(out, doc)
    return out



class Column(NamedTuple):
    key: str  # the field of a benchmarks.json record
    header: str  # the app's table and CSV
    short: str | None = None  # the README table; None: not shown there
    fmt: str = "{}"  # how the README table formats it


COLUMNS: tuple[Column, ...] = (
    Column("backbone", "Backbone key"),
    Column("display_name", "Backbone", "Backbone"),
    Column("bundled", "Bundled"),
    Column("params_m", "Params (M)", "Params (M)", "{:.2f}"),
    Column("gflops", "GFLOPs", "GFLOPs", "{:.3f}"),
    Column("latency_ms", "Query ms", "Query (ms)", "{:.1f}"),
    Column("latency_ms_image", "Image ms", "Image (ms)", "{:.1f}"),
    Column("images_per_s", "Images/s", "img/s", "{:.0f}"),
    Column("throughput_vs_vit_b32", "Throughput vs ViT-B/32", "× ViT-B/32", "{:.1f}"),
    Column("peak_mem_mb", "Peak MB", "Peak MB", "{:.0f}"),
    Column("runtime", "Runtime (query, image)"),
    Column("r1", "R@1", "R@1", "{:.2f}"),
    Column("r5", "R@5", "R@5", "{:.2f}"),
    Column("r10", "R@10", "R@10", "{:.2f}"),
    Column("map", "mAP", "mAP", "{:.2f}"),
    Column("minp", "mINP", "mINP", "{:.2f}"),
    # chance 50 (lightclip_core.binding); the README's note under the table says what Swap and P@5 are
    Column("binding_swap", "Binding: colours swapped (%)", "Swap %", "{:.1f}"),
    Column("binding_single", "Binding: one attribute changed (%)"),
    Column("composed_p5", "Composed precision@5 (%)", "P@5 %", "{:.1f}"),
    # the real-photo check (lightclip_core.realcheck): real street crops, descriptions written by hand
    Column("real_r1", "Real photos: R@1", "Real R@1", "{:.1f}"),
    Column("real_map", "Real photos: mAP", "Real mAP", "{:.1f}"),
    Column("real_reid_map", "Real photos: image→image re-ID mAP", "Re-ID mAP", "{:.1f}"),
    Column("text_head", "Text head"),  # none: the frozen sentence vector is the joint space
    Column("gallery_embeddings", "Gallery embeddings scored"),  # shipped (fp16, what the app searches) | encoded
    Column("val_loss", "Val loss"),
    Column("epochs_trained", "Epochs"),
    Column("recipe_short", "Trained (start + teachers)", "Trained"),
    Column("train_images", "Train images"),
    Column("train_steps", "Train steps"),
    Column("train_minutes", "Train minutes", "Train min", "{:.0f}"),
    Column("train_device", "Trained on"),
)
README_COLUMNS: tuple[Column, ...] = tuple(c for c in COLUMNS if c.short)


def machine_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The machine of a benchmarks.json document (the run that wrote it), as records carry it."""
    m = doc.get("machine") or {}
    return {"cpu": m.get("cpu", "unknown CPU"), "torch_threads": m.get("torch_threads")}


def machine_label(m: dict[str, Any]) -> str:
    return f"{m.get('cpu') or 'unknown CPU'} ({m.get('torch_threads') or '?'} torch threads)"


def record_machine_label(rec: dict[str, Any], doc: dict[str, Any]) -> str:
    """The label of the machine that timed a record (one without `machine` came from the document's run)."""
    return machine_label(rec.get("machine") or machine_of(doc))


def rows_by_machine(doc: dict[str, Any]) -> dict[str, list[str]]:
    """Each machine's label and the rows it timed (a record without `machine` came from the document's run),
    rows in the tables' order (by parameters); a document without records names its own machine, with no rows."""
    out: dict[str, list[str]] = {}
    for rec in sorted(doc.get("records", []), key=lambda r: r.get("params_m") or 0):
        out.setdefault(record_machine_label(rec, doc), []).append(rec.get("display_name") or rec["backbone"])
    return out or {machine_label(machine_of(doc)): []}


def measured_on(doc: dict[str, Any], command: str) -> str:
    """Where the rows were timed: one machine, or, for a table merged from runs on different machines,
    which rows ran on which (their latencies and throughputs compare only within a machine)."""
    by_machine = rows_by_machine(doc)
    if len(by_machine) == 1:  # the rows' machine, which after a merge need not be the newest run's
        return f"Measured by `{command}` on {next(iter(by_machine))}"
    parts = "; ".join(f"{label}: {', '.join(rows)}" for label, rows in by_machine.items())
    return (f"Measured by `{command}` on {len(by_machine)} machines, so compare timings (query, image, img/s, "
            f"peak MB) only between rows measured on the same one ({parts})")
