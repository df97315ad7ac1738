"""Every ``LIGHTCLIP_*`` environment variable, in one table, read through `get` (at call time, so a
launcher or a test may set one before it is used). ``docs/SETTINGS.md`` is this table
(`markdown_table`; a test keeps the two equal, and fails on a ``LIGHTCLIP_*`` name read anywhere
else)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from .errors import LightCLIPError


@dataclass(frozen=True)
class Setting:
    name: str
    default: str  # as it would be written in the environment; "" = unset
    kind: str  # "str" | "int" | "float" | "flag" (0 turns it off) | "path"
    read_by: str
    help: str


_ALL = [
    Setting("LIGHTCLIP_CACHE", "~/.cache/lightclip", "path", "fileio.cache_root",
            "where caches live: text features, teacher stores, gallery embeddings, ONNX graphs"),
    Setting("LIGHTCLIP_RUNTIME", "auto", "str", "runtime.requested_runtime",
            "CPU inference: auto (ONNX Runtime when installed), torch or onnx; `--runtime` sets it for a command"),
    Setting("LIGHTCLIP_TEXT_CACHE_SIZE", "100000", "int", "models.text_encoders (at import)",
            "pooled text embeddings kept per text encoder (an LRU)"),
    Setting("LIGHTCLIP_TEXT_STATE_CACHE_SIZE", "4096", "int", "models.text_encoders (at import)",
            "token states kept per text encoder for a text head (an LRU; ~12 KB a caption)"),
    Setting("LIGHTCLIP_HUB_TIMEOUT_S", "3", "float", "hub (at import)",
            "seconds the Hugging Face Hub reachability probe waits before saying it is offline"),
    Setting("LIGHTCLIP_GRADIO_TUNING", "1", "flag", "gradio_tuning.enabled",
            "the app's two Gradio per-request fixes (0: off, e.g. to measure them)"),
    Setting("LIGHTCLIP_CHECKPOINTS", "", "path", "app.py", "the app's checkpoints folder (default: checkpoints/ beside app.py)"),
    Setting("LIGHTCLIP_GALLERY", "", "path", "app.py", "the app's gallery folder (default: gallery/ beside app.py)"),
    Setting("LIGHTCLIP_DEVICE", "auto", "str", "app.py", "the app's device: auto, cpu, cuda, mps"),
    Setting("LIGHTCLIP_HUB_REPO", "", "str", "app.py",
            "a Hugging Face model repo (`hub push`) the app fetches missing checkpoints from on first use"),
    Setting("LIGHTCLIP_PORT", "", "int", "app.py", "the app's port (default: $GRADIO_SERVER_PORT, else 7860)"),
    Setting("LIGHTCLIP_UPLOAD_DIR", "", "path", "app.py",
            "where sessions' uploaded galleries live (default: <temp>/lightclip_uploads)"),
    Setting("LIGHTCLIP_UPLOAD_QUOTA_MB", "", "float", "app.py",
            "all sessions' uploads together, in MB (default: uploads.MAX_APP_BYTES)"),
    Setting("LIGHTCLIP_SEARCH_BATCH", "16", "int", "app.py", "API /search: concurrent calls answered in one batch"),
    Setting("LIGHTCLIP_SEARCH_BUDGET_S", "30", "float", "app.py",
            "API /search: seconds a call waits for its encoder (one still loading answers \"try again\")"),
    Setting("LIGHTCLIP_CONCURRENCY", "4", "int", "app.py", "the app's concurrent event handlers"),
    Setting("LIGHTCLIP_PRELOAD", "1", "flag", "app.py", "load every bundled encoder after start-up (0: on first use)"),
    Setting("LIGHTCLIP_REQUIRE_BROWSER", "", "flag", "tests", "fail, not skip, the browser tests without Chromium (CI)"),
    Setting("LIGHTCLIP_REQUIRE_TEST_VIDEO", "", "flag", "tests", "fail, not skip, the footage tests without the street clip (CI)"),
    Setting("LIGHTCLIP_CHROMIUM", "/usr/bin/chromium", "path", "tests", "the Chromium the browser tests drive"),
    Setting("LIGHTCLIP_TEST_VIDEO", "~/.cache/lightclip/test-data/vtest.avi", "path", "tests",
            "the real street clip the footage tests read (scripts/get-test-video puts it there)"),
]
SETTINGS: dict[str, Setting] = {s.name: s for s in _ALL}


def get(name: str) -> Any:
    """The value of setting `name`: the environment's, else its default, as its kind (None for an
    unset one without a default); a value of the wrong kind is one sentence naming the variable."""
    s = SETTINGS[name]
    raw = os.environ.get(name, "").strip() or s.default
    if not raw:
        return None
    if s.kind == "flag":
        return raw != "0"
    if s.kind == "path":
        return os.path.expanduser(raw)
    if s.kind in ("int", "float"):
        try:
            value = int(raw) if s.kind == "int" else float(raw)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value < 0:
            raise LightCLIPError(f"{name} must be a {'whole ' if s.kind == 'int' else ''}number of at least 0 "
                                 f"(got {raw!r}).")
        return value
    return raw


def markdown_table() -> str:
    lines = ["| Variable | Default | Read by | What it sets |", "|---|---|---|---|"]
    for s in _ALL:
        lines.append(f"| `{s.name}` | {f'`{s.default}`' if s.default else '(unset)'} | {s.read_by} | {s.help} |")
    return "\n".join(lines)


__all__ = ["SETTINGS", "Setting", "get", "markdown_table"]
