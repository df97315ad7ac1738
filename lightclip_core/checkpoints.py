"""Checkpoints: a directory with ``model.safetensors`` (everything but the frozen text encoder) and
``config.json`` (the architecture, and what it was trained on). Nothing is ever unpickled.

Writes are atomic (temporary file, fsync, rename), so a run killed while saving leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import LightCLIPError

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "lightclip-checkpoint-v1"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def save_checkpoint(model, path: str | Path, extra: dict[str, Any] | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write `model` to the checkpoint directory `path`; `extra` goes into config.json."""
    from safetensors.torch import save

    path = Path(path)
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.trainable_state_dict().items()}
    config = {"format": FORMAT, "model": model.config.to_dict(), **(extra or {})}
    atomic_write_bytes(path / MODEL_FILE, save(state))
    atomic_write_json(path / CONFIG_FILE, config)
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    cfg_path = path / CONFIG_FILE
    if not path.is_dir():
        raise LightCLIPError(f"Checkpoint {path} is not a directory (expected {MODEL_FILE} + {CONFIG_FILE} inside).")
    if not cfg_path.is_file() or not (path / MODEL_FILE).is_file():
        raise LightCLIPError(f"Checkpoint {path} lacks {CONFIG_FILE if not cfg_path.is_file() else MODEL_FILE}.")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise LightCLIPError(f"{cfg_path} is not valid JSON ({exc.msg}).") from None
    if config.get("format") != FORMAT or "model" not in config:
        raise LightCLIPError(f"{cfg_path} is not a LightCLIP checkpoint config (format {config.get('format')!r}).")
    return config


def load_checkpoint(
    path: str | Path,
    backbone: str | None = None,
    text_encoder: str | None = None,
    device: str | torch.device = "cpu",
):
    """Rebuild the model saved in checkpoint directory `path`.

    `backbone` / `text_encoder`, when given, must match what the checkpoint was trained with; a
    mismatch, a truncated or foreign weights file, or missing / unexpected tensors raise a
    `LightCLIPError` that names what differs.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .models.lightclip import LightCLIP, LightCLIPConfig

    path = Path(path)
    config = read_config(path)
    cfg = LightCLIPConfig.from_dict(config["model"])
    for what, want, have in (("backbone", backbone, cfg.backbone), ("text encoder", text_encoder, cfg.text_encoder)):
        if want is not None and want != have:
            raise LightCLIPError(f"Checkpoint {path} was trained with {what} {have!r}, not {want!r}.")
    try:
        state = load_file(str(path / MODEL_FILE))
    except (SafetensorError, OSError, ValueError) as exc:
        raise LightCLIPError(f"{path / MODEL_FILE} cannot be read ({exc}); the file may be truncated.") from None
    model = LightCLIP(cfg)
    expected = model.trainable_state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise LightCLIPError(
            f"{path / MODEL_FILE} does not fit a {cfg.backbone} model: "
            f"{len(missing)} tensor(s) missing (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})."
        )
    bad = [k for k in expected if expected[k].shape != state[k].shape]
    if bad:
        k = bad[0]
        raise LightCLIPError(
            f"{path / MODEL_FILE} does not fit a {cfg.backbone} model: {k} is {tuple(state[k].shape)}, "
            f"expected {tuple(expected[k].shape)}."
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False)
    model.checkpoint_info = config
    return model.to(device).eval()
