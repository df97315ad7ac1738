"""Dataclass configs from JSON dicts (a checkpoint's model config, a run's training config): one reader
that names unknown keys and checks the one shape every config shares, so that the model layer reads its
config without importing training code."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .errors import LightCLIPError


def config_kwargs(cls: type, d: dict[str, Any], what: str) -> dict[str, Any]:
    """Keyword arguments for dataclass `cls` from a JSON dict: unknown keys are an error naming
    them, and ``image_size`` lists become (H, W) tuples."""
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    if unknown:
        raise LightCLIPError(f"Unknown {what} config keys: {', '.join(unknown)}.")
    d = dict(d)
    if d.get("image_size") is not None:
        size = d["image_size"]
        if not (isinstance(size, (list, tuple)) and len(size) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 4096 for v in size)):
            raise LightCLIPError(f"{what} config: image_size must be [height, width] in pixels, 16 to 4096 (got {size!r}).")
        d["image_size"] = tuple(size)
    return d
