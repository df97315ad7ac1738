"""The benchmark table's columns, in one place: the app's table and CSV (`charts.table`) show every
column under its `header`; the README table (`bench.readme_table`) shows those with a `short` header,
formatted with `fmt`. No heavy imports: charts (Plotly) and bench (torch) both read it."""

from __future__ import annotations

from typing import NamedTuple


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
    Column("val_loss", "Val loss"),
    Column("epochs_trained", "Epochs"),
    Column("recipe_short", "Trained (start + teachers)", "Trained"),
    Column("train_images", "Train images"),
    Column("train_steps", "Train steps"),
    Column("train_minutes", "Train minutes", "Train min", "{:.0f}"),
    Column("train_device", "Trained on"),
)
README_COLUMNS: tuple[Column, ...] = tuple(c for c in COLUMNS if c.short)
