"""The `benchmarks.json` document on disk: read with a clear error, written atomically. JSON only (no
torch, no plotly), so merging and rendering tables import nothing heavy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import LightCLIPError
from ..fileio import atomic_write_json


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
