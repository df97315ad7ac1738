"""Plotly figures and tables from ``checkpoints/benchmarks.json`` (no gradio import).

- `tradeoff_figure`: an accuracy metric against a cost, one point per backbone, the Pareto front
  drawn (no other backbone is both cheaper and more accurate), hover details, optional log x.
- `curves_figure`: training and validation loss (or val R@1 / mAP) per epoch per backbone.
- `table` / `table_csv`: the full benchmark table.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import plotly.graph_objects as go

from ..benchmarks import COLUMNS, load_benchmarks, rows_by_machine  # noqa: F401 - the app reads the document through charts
from ..registry import one_of

METRICS: dict[str, str] = {
    "r1": "R@1 (%)",
    "r5": "R@5 (%)",
    "r10": "R@10 (%)",
    "map": "mAP (%)",
    "minp": "mINP (%)",
    "binding_swap": "Binding: colours swapped (%, chance 50)",
    "binding_single": "Binding: one attribute changed (%, chance 50)",
    "composed_p5": "Composed-description precision@5 (%)",
    # the real-photo check (realcheck/street: one street camera, hand-written descriptions; small, so noisy)
    "real_map": "Real photos: mAP (%)",
    "real_r1": "Real photos: R@1 (%)",
    "real_reid_map": "Real photos: image→image re-ID mAP (%)",
}
# cost key -> (axis label, lower is better)
COSTS: dict[str, tuple[str, bool]] = {
    "gflops": ("GFLOPs per image (FLOPs = 2 × MACs)", True),
    "params_m": ("Parameters, vision trunk + head (M)", True),
    "latency_ms": ("Query latency, text encode + top-10 search (ms, median)", True),
    "latency_ms_image": ("Image encode latency, batch 1 (ms, median)", True),
    "images_per_s": ("Image-encode throughput at batch 32 (images/s, higher is cheaper)", False),
    "peak_mem_mb": ("Peak inference memory (MB)", True),
}
TABLE_FIELDS = tuple((c.key, c.header) for c in COLUMNS)  # (record key, header): the app's table and CSV


def pareto_front(points: list[tuple[float, float]], lower_cost_is_better: bool = True) -> list[int]:
    """Indices of the points no other point dominates (cost no worse, accuracy no worse, one
    strictly better), sorted by cost. Points are ``(cost, accuracy)``; accuracy: higher is better."""
    sign = 1.0 if lower_cost_is_better else -1.0
    order = sorted(range(len(points)), key=lambda i: (sign * points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return sorted(front, key=lambda i: sign * points[i][0])


# Label placement for the scatter: Plotly does not move overlapping text, so we pick, per point, one
# of these positions whose (estimated) text box hits no other label or marker. Sizes are fractions
# of the plot area, for the app's ~900 × 400 px plot: ~7 px per character, ~16 px per line.
LABEL_POSITIONS = ("top center", "bottom center", "middle right", "middle left", "top right", "top left",
                   "bottom right", "bottom left")
_CHAR_W, _LINE_H, _MARKER = 0.0078, 0.045, 0.015


def _label_box(x: float, y: float, n_chars: int, position: str) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a label at `position` around the point (x, y), in plot fractions."""
    w, h = n_chars * _CHAR_W, _LINE_H
    vert, horiz = position.split()
    y0 = {"top": y + _MARKER, "bottom": y - _MARKER - h, "middle": y - h / 2}[vert]
    x0 = {"center": x - w / 2, "right": x + _MARKER, "left": x - _MARKER - w}[horiz]
    return x0, y0, x0 + w, y0 + h


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


def _fractions(values: list[float], log: bool) -> list[float]:
    v = [math.log10(x) if log and x > 0 else x for x in values]
    lo, hi = min(v), max(v)
    return [0.5 if hi == lo else 0.05 + 0.9 * (a - lo) / (hi - lo) for a in v]


def label_positions(xs: list[float], ys: list[float], names: list[str], log_x: bool = False) -> list[str]:
    """A Plotly ``textposition`` per point so that labels neither overlap each other nor cover a
    marker, where the candidates allow it: start from "top center" everywhere, then re-place each
    label in turn at its least-overlapping position until a pass changes nothing (ties keep the
    earlier, more conventional, position)."""
    if not xs:
        return []
    fx, fy = _fractions(xs, log_x), _fractions(ys, False)
    markers = [(x - _MARKER, y - _MARKER, x + _MARKER, y + _MARKER) for x, y in zip(fx, fy)]
    out = [LABEL_POSITIONS[0]] * len(xs)

    def box(i: int, pos: str) -> tuple[float, float, float, float]:
        return _label_box(fx[i], fy[i], len(names[i]), pos)

    def cost(i: int, pos: str) -> float:
        b = box(i, pos)
        return (sum(_overlap(b, box(j, out[j])) for j in range(len(xs)) if j != i)
                + sum(_overlap(b, m) for j, m in enumerate(markers) if j != i))

    for _ in range(20):
        changed = False
        for i in range(len(xs)):
            best = min(LABEL_POSITIONS, key=lambda pos: (cost(i, pos), LABEL_POSITIONS.index(pos)))
            if cost(i, best) < cost(i, out[i]):
                out[i], changed = best, True
        if not changed:
            break
    return out


def _subtitle(doc: dict[str, Any]) -> str:
    machines = list(rows_by_machine(doc))
    where = (f"timed on {len(machines)} machines, compare timings within one (see the note below)"
             if len(machines) > 1 else machines[0])
    g = doc.get("gallery", {})
    return (f"{where} · bundled models trained on "
            f"synthetic people (SynthPedes) · gallery {g.get('images', '?')} images · FLOPs = 2 × MACs")


def _subtitle_for(doc: dict[str, Any], metric: str) -> str:
    """The subtitle; for a real-photo metric it names the real check instead of the synthetic gallery."""
    if not metric.startswith("real_"):
        return _subtitle(doc)
    rec = next((r for r in doc.get("records", []) if r.get("real_images")), {})
    return (f"real street-camera crops, descriptions written by hand: {rec.get('real_people', '?')} people, "
            f"{rec.get('real_images', '?')} crops, {rec.get('real_queries', '?')} descriptions · one camera, small: "
            f"differences of a few points are noise · FLOPs = 2 × MACs")


def tradeoff_figure(doc: dict[str, Any], metric: str = "r1", cost: str = "gflops", log_x: bool = False) -> go.Figure:
    """Accuracy `metric` against `cost`, with the Pareto front."""
    one_of("metric", metric, METRICS, "metrics")
    one_of("cost", cost, COSTS, "costs")
    recs = [r for r in doc["records"] if r.get(metric) is not None and r.get(cost) is not None]
    label, lower_better = COSTS[cost]
    fig = go.Figure()
    if recs:
        xs, ys = [r[cost] for r in recs], [r[metric] for r in recs]
        names = [r.get("display_name", r["backbone"]) + ("" if r.get("bundled", True) else " (reference)") for r in recs]
        hover = [
            f"<b>{n}</b><br>{METRICS[metric]}: {r[metric]:.2f}<br>{label}: {r[cost]:.4g}"
            f"<br>params {r.get('params_m', float('nan')):.2f} M · {r.get('gflops', float('nan')):.3f} GFLOPs"
            f"<br>query {r.get('latency_ms', float('nan')):.1f} ms · {r.get('images_per_s', float('nan')):.0f} img/s"
            f"<br>R@1 {r.get('r1', float('nan')):.2f} · mAP {r.get('map', float('nan')):.2f} · mINP {r.get('minp', float('nan')):.2f}"
            + (f"<br>trained: {r['recipe_short']}" if r.get("recipe_short") else "")
            + (f" · {r['train_images']:,} images, {r['train_minutes']:.0f} min" if r.get("train_images") and r.get("train_minutes") else "")
            for n, r in zip(names, recs)
        ]
        front = pareto_front(list(zip(xs, ys)), lower_better)
        fig.add_trace(go.Scatter(
            x=[xs[i] for i in front], y=[ys[i] for i in front], mode="lines", name="Pareto front",
            line={"dash": "dash", "color": "#888"}, hoverinfo="skip",
        ))
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="markers+text", text=names, textposition=label_positions(xs, ys, names, log_x),
            name="backbones", cliponaxis=False,
            hovertext=hover, hoverinfo="text",
            marker={"size": 12, "color": ["#d62728" if i in front else "#1f77b4" for i in range(len(recs))],
                    "symbol": ["diamond" if r.get("distilled_from") else "circle" for r in recs]},
        ))
    fig.update_layout(
        title={"text": f"{METRICS[metric]} vs {label}<br><sup>{_subtitle_for(doc, metric)}</sup>"},
        xaxis_title=label, yaxis_title=METRICS[metric], template="plotly_white", showlegend=True,
        margin={"t": 90},
    )
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def curves_figure(doc: dict[str, Any], what: str = "loss") -> go.Figure:
    """Per-epoch curves per backbone: ``what="loss"`` (train solid, val dotted), ``"val_r1"`` or ``"val_map"``."""
    fig = go.Figure()
    for r in doc["records"]:
        curves = r.get("curves") or []
        if not curves:
            continue
        name = r.get("display_name", r["backbone"])
        epochs = [c["epoch"] for c in curves]
        if what == "loss":
            fig.add_trace(go.Scatter(x=epochs, y=[c.get("train_loss") for c in curves], mode="lines+markers",
                                     name=f"{name} train", legendgroup=name))
            fig.add_trace(go.Scatter(x=epochs, y=[c.get("val_loss") for c in curves], mode="lines+markers",
                                     name=f"{name} val", legendgroup=name, line={"dash": "dot"}))
        else:
            fig.add_trace(go.Scatter(x=epochs, y=[c.get(what) for c in curves], mode="lines+markers", name=name))
    ytitle = {"loss": "loss", "val_r1": "val R@1 (%)", "val_map": "val mAP (%)"}.get(what, what)
    fig.update_layout(title=f"Training curves ({ytitle}) per backbone", xaxis_title="epoch", yaxis_title=ytitle,
                      template="plotly_white")
    return fig


def recipe_note(doc: dict[str, Any]) -> str:
    """One Markdown sentence per training recipe in the table: which models were distilled, from what."""
    groups: dict[str, list[str]] = {}
    for r in doc.get("records", []):
        if r.get("zero_shot") or not r.get("recipe_short"):
            continue
        groups.setdefault(r["recipe_short"], []).append(r.get("display_name", r["backbone"]))
    if not groups:
        return ""
    parts = [f"{', '.join(names)}: {recipe}" for recipe, names in groups.items()]
    return ("Training (◆ in the chart = distilled from a teacher): " + "; ".join(parts) + ".")


def table(doc: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the full benchmark table, rows sorted by image-side parameters."""
    headers = [h for _, h in TABLE_FIELDS]
    rows = []
    for r in sorted(doc["records"], key=lambda r: r.get("params_m") or 0):
        row = []
        for key, _ in TABLE_FIELDS:
            v = r.get(key)
            row.append(round(v, 3) if isinstance(v, float) else v)
        rows.append(row)
    return headers, rows


def table_csv(doc: dict[str, Any]) -> str:
    headers, rows = table(doc)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue()
