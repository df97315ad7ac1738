"""Checkpoints: a directory with ``model.safetensors`` (everything but the frozen text encoder) and
``config.json`` (the architecture, and what it was trained on). Nothing is ever unpickled.

Writes are atomic (temporary file, fsync, rename), so a run killed while saving leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from .errors import LightCLIPError
from .fileio import (
    atomic_write_bytes,
    atomic_write_json,
    portable_path,
    portable_record,
    read_json,
    read_json_or_none,
    write_dir,
)
from .models.lightclip import IMAGE_TOWER, LightCLIP, LightCLIPConfig
from .outputs import OutputKind, check_output_dir

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "lightclip-checkpoint-v1"
SHIPPED_SUFFIX = "_embeddings.safetensors"  # <gallery folder>_embeddings.safetensors: a bundled gallery's (gallery_embeddings.py)
SHIPPED_EMBEDDINGS = "gallery" + SHIPPED_SUFFIX  # the synthetic gallery's


METRICS_FILE, CURVES_FILE = "metrics.json", "curves.json"


def checkpoint_files(folder: Path) -> set[str] | None:
    """The files a checkpoint folder of ours may hold (weights, config, metrics, curves, shipped gallery
    embeddings), or None when `folder` has no LightCLIP ``config.json`` (then it is not ours)."""
    config = read_json_or_none(Path(folder) / CONFIG_FILE)
    if not (isinstance(config, dict) and config.get("format") == FORMAT):
        return None
    shipped = {p.name for p in Path(folder).glob("*" + SHIPPED_SUFFIX)}
    return {MODEL_FILE, CONFIG_FILE, METRICS_FILE, CURVES_FILE, SHIPPED_EMBEDDINGS} | shipped


CHECKPOINT_OUTPUT = OutputKind("a LightCLIP checkpoint", checkpoint_files)


SCALE_SUFFIX = ".int8_scale"
INT8_MIN_NUMEL = 4096  # smaller tensors (biases, norms, depthwise filters of tiny layers) stay fp16


def quantize_int8(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weight-only int8 storage: each float tensor with >= 2 dims and >= INT8_MIN_NUMEL elements
    becomes int8 with one fp32 scale per output channel (symmetric, max |w| -> 127); the rest fp16.
    `dequantize_int8` restores float weights (error <= scale / 2 per element)."""
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        v = v.detach().cpu()
        if v.is_floating_point() and v.ndim >= 2 and v.numel() >= INT8_MIN_NUMEL:
            w = v.float()
            scale = w.abs().amax(dim=tuple(range(1, w.ndim)), keepdim=True).clamp(min=1e-12) / 127.0
            out[k] = torch.round(w / scale).clamp(-127, 127).to(torch.int8).contiguous()
            out[k + SCALE_SUFFIX] = scale.contiguous()
        else:
            out[k] = (v.half() if v.is_floating_point() else v).contiguous()
    return out


def dequantize_int8(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of `quantize_int8` (a state without scales passes through unchanged)."""
    out = {}
    for k, v in state.items():
        if k.endswith(SCALE_SUFFIX):
            continue
        scale = state.get(k + SCALE_SUFFIX)
        out[k] = v.float() * scale if scale is not None else v
    return out


def save_checkpoint(model, path: str | Path, extra: dict[str, Any] | None = None,
                    dtype: torch.dtype | str | None = None) -> Path:
    """Write `model` to the checkpoint directory `path`; `extra` goes into config.json.

    `dtype`: None keeps the weights as they are; a float dtype (``torch.float16``) casts them;
    ``"int8"`` stores large weight matrices as per-channel int8 (see `quantize_int8`).
    """

    path = Path(path)
    raw = model.trainable_state_dict()
    if dtype == "int8":
        state = quantize_int8(raw)
    else:
        state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in raw.items()}
    config = {"format": FORMAT, "model": model.config.to_dict(), **(extra or {})}
    if dtype is not None:
        config["weights_dtype"] = str(dtype).replace("torch.", "")
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
    config = read_json(cfg_path)
    if not isinstance(config, dict):
        raise LightCLIPError(f"{cfg_path} is not a LightCLIP checkpoint config (a JSON {type(config).__name__}, "
                             "not an object).")
    if config.get("format") != FORMAT or not isinstance(config.get("model"), dict):
        raise LightCLIPError(f"{cfg_path} is not a LightCLIP checkpoint config (format {config.get('format')!r}).")
    return config


def load_checkpoint(
    path: str | Path,
    backbone: str | None = None,
    text_encoder: str | None = None,
    device: str | torch.device = "cpu",
    defer_image: bool = False,
):
    """Rebuild the model saved in checkpoint directory `path`.

    `backbone` / `text_encoder`, when given, must match what the checkpoint was trained with; a
    mismatch, a truncated or foreign weights file, or missing / unexpected tensors raise a
    `LightCLIPError` that names what differs. With `defer_image`, the image side (trunk, heads) is built
    and read from the file when first used (`LightCLIP.defer_image_tower`): what a server needs whose
    gallery embeddings are shipped; its tensors are checked then.
    """

    path = Path(path)
    config = read_config(path)
    try:
        cfg = LightCLIPConfig.from_dict(config["model"])
    except LightCLIPError as exc:
        raise LightCLIPError(f"{path / CONFIG_FILE}: {exc}") from None
    for what, want, have in (("backbone", backbone, cfg.backbone), ("text encoder", text_encoder, cfg.text_encoder)):
        if want is not None and want != have:
            raise LightCLIPError(f"Checkpoint {path} was trained with {what} {have!r}, not {want!r}.")
    state = _read_weights(path)
    model = LightCLIP(cfg, image_tower=not defer_image)
    if defer_image:
        state = {k: v for k, v in state.items() if not _is_image_tensor(k)}
        model.defer_image_tower(lambda m: _attach_image_tower(m, path))
    _load_weights(model, model.trainable_state_dict(), state, path / MODEL_FILE, cfg.backbone)
    model.checkpoint_info = config
    return model.to(device).eval()


def _is_image_tensor(name: str) -> bool:
    return name.split(".", 1)[0] in IMAGE_TOWER


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = load_file(str(path / MODEL_FILE))
    except (SafetensorError, OSError, ValueError) as exc:
        raise LightCLIPError(f"{path / MODEL_FILE} cannot be read ({exc}); the file may be truncated.") from None
    return dequantize_int8(state)


def _load_weights(model: torch.nn.Module, expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
                  where: Path, backbone: str) -> None:
    """Load `state` into `model` when its names and shapes are exactly `expected`'s; else say what differs."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise LightCLIPError(
            f"{where} does not fit a {backbone} model: "
            f"{len(missing)} tensor(s) missing (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})."
        )
    bad = [k for k in expected if expected[k].shape != state[k].shape]
    if bad:
        k = bad[0]
        raise LightCLIPError(
            f"{where} does not fit a {backbone} model: {k} is {tuple(state[k].shape)}, "
            f"expected {tuple(expected[k].shape)}."
        )
    model.load_state_dict({k: v.to(device=expected[k].device, dtype=expected[k].dtype) for k, v in state.items()},
                          strict=False)


def _attach_image_tower(model: LightCLIP, path: Path) -> None:
    """Build `model`'s deferred image side and fill it from checkpoint `path` (read again: not kept in memory)."""
    model.build_image_tower()
    expected = {k: v for k, v in model.trainable_state_dict().items() if _is_image_tensor(k)}
    state = {k: v for k, v in _read_weights(path).items() if _is_image_tensor(k)}
    _load_weights(model, expected, state, path / MODEL_FILE, model.config.backbone)


def export_checkpoint(src: str | Path, dst: str | Path, dtype: torch.dtype | str | None = torch.float16) -> Path:
    """Copy checkpoint `src` (e.g. ``RUN_DIR/best``) to `dst` with weights in `dtype` (fp16 halves
    the size, "int8" quarters it; `load_checkpoint` restores fp32), keeping config, metrics, curves."""

    src, dst = Path(src), Path(dst)
    check_output_dir(dst, CHECKPOINT_OUTPUT, "--out", [src])  # before loading anything
    model = load_checkpoint(src)
    config = read_config(src)

    extra = portable_record({k: v for k, v in config.items() if k not in ("format", "model", "weights_dtype")})
    extra["exported_from"] = portable_path(src)

    def fill(folder: Path) -> None:
        save_checkpoint(model, folder, extra, dtype=dtype)
        for name in (METRICS_FILE, CURVES_FILE):
            if (src / name).is_file():
                shutil.copyfile(src / name, folder / name)

    return write_dir(dst, fill)  # built beside and swapped in: no stale metrics or embeddings survive


def bundled_checkpoints(root: str | Path) -> dict[str, Path]:
    """Backbone key -> checkpoint directory, for every checkpoint under `root` (a damaged one under its
    folder's name: loading it gives the reason, so the app shows it as unavailable instead of hiding it)."""
    found = {}
    root = Path(root)
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if (d / CONFIG_FILE).is_file():
                try:
                    found[read_config(d)["model"]["backbone"]] = d
                except (LightCLIPError, KeyError):
                    found.setdefault(d.name, d)  # damaged: listed by its folder, so loading it says why
    return found
