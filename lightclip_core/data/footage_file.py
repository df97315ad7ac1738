"""``footage.json``: what a gallery folder written by `footage` records about its crops (source,
frame, timestamp, box, track). The folder loader reads it; `footage` writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import LightCLIPError
from ..fileio import read_json

FOOTAGE_FILE = "footage.json"
FORMAT = "lightclip-footage"


class FootageError(LightCLIPError):
    """A video or photo that cannot be indexed, or a limit exceeded."""


def read_footage(root: str | Path) -> dict[str, Any] | None:
    """``footage.json`` of a gallery folder, or None when it has none; a damaged one is an error."""
    path = Path(root) / FOOTAGE_FILE
    if not path.is_file():
        return None
    meta = read_json(path, FootageError)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("crops"), list):
        raise FootageError(f"{path} is not a LightCLIP footage file (no \"format\": \"{FORMAT}\" with \"crops\").")
    return meta
