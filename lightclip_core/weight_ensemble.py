"""Weight-space ensembling (WiSE-FT, Wortsman et al., CVPR 2022): a fine-tuned trunk moved back toward
the weights it started from.

Fine-tuning on SynthPedes drawings teaches a trunk to read drawings and slowly overwrites what ImageNet
pretraining taught it about photographs. Interpolating every float tensor of the trunk,

    w = alpha * w_finetuned + (1 - alpha) * w_start        (alpha = 1: the fine-tuned trunk, 0: the start)

keeps much of both without any training. Only the trunk moves: the projection head, part-pooling layer,
text head and temperature stay fine-tuned (they have no pretrained counterpart, and the interpolated trunk
still feeds the same head). Integer buffers (BatchNorm's step counter) stay as fine-tuned.

The start is the trunk's pretrained weights (`Backbone(pretrained=True)`: EfficientNet-Lite0's offline
ImageNet weights, the Hub for the others) or the trunk of another checkpoint of the same backbone (an
earlier fine-tune, for trunks that were trained from scratch).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from .checkpoints import CHECKPOINT_OUTPUT, load_checkpoint, read_config, save_checkpoint
from .errors import LightCLIPError
from .fileio import portable_path, portable_record, write_dir
from .models.backbones import Backbone
from .outputs import check_output_dir

PRETRAINED = "pretrained"


def _trunk_state(model) -> dict[str, torch.Tensor]:
    return model.backbone.trunk.state_dict()


def pretrained_trunk_state(model) -> dict[str, torch.Tensor]:
    """The trunk of `model`'s backbone as pretraining left it (same architecture, input size, pooling)."""

    cfg = model.config
    start = Backbone(model.backbone.spec, image_size=cfg.image_size, pretrained=True, stripes=cfg.stripes)
    return start.trunk.state_dict()


def checkpoint_trunk_state(model, path: str | Path) -> dict[str, torch.Tensor]:
    """The trunk of checkpoint `path`, which must be the same backbone at the same input size as `model`."""

    other = load_checkpoint(path)
    if other.config.backbone != model.config.backbone or other.image_size != model.image_size:
        raise LightCLIPError(
            f"--toward {path} is a {other.config.backbone} trunk at {other.image_size[0]}x{other.image_size[1]}, "
            f"not {model.config.backbone} at {model.image_size[0]}x{model.image_size[1]}."
        )
    return _trunk_state(other)


def interpolate_trunk(model, start: dict[str, torch.Tensor], alpha: float):
    """Set `model`'s trunk to ``alpha * trunk + (1 - alpha) * start`` for every float tensor (in place;
    returns `model`). alpha = 1 leaves the trunk as it is and alpha = 0 copies `start`, bit for bit."""
    if not 0.0 <= alpha <= 1.0:
        raise LightCLIPError(f"--alpha must be from 0 (the start) to 1 (the fine-tuned weights), got {alpha}.")
    tuned = _trunk_state(model)
    if tuned.keys() != start.keys():
        differ = sorted(set(tuned) ^ set(start))
        raise LightCLIPError(f"The start trunk does not fit this model: {len(differ)} tensor name(s) differ "
                             f"(e.g. {differ[:2]}).")
    mixed = {}
    for name, w in tuned.items():
        s = start[name].to(w.device)
        if s.shape != w.shape:
            raise LightCLIPError(f"The start trunk does not fit this model: {name} is {tuple(s.shape)}, "
                                 f"expected {tuple(w.shape)}.")
        if not w.is_floating_point() or alpha == 1.0:
            mixed[name] = w
        elif alpha == 0.0:
            mixed[name] = s.to(w.dtype).clone()
        else:
            mixed[name] = torch.lerp(s.to(w.dtype), w, alpha)  # s + alpha * (w - s)
    model.backbone.trunk.load_state_dict(mixed, strict=True)
    return model


def _label(path: Path) -> str:
    """A checkpoint as the record names it: relative to the working directory, or its last two parts
    (``run/best``: a run's ``best`` alone says nothing), never a machine's absolute path."""

    label = portable_path(path)
    return label if label != path.name else "/".join(path.resolve().parts[-2:])


def wise_record(alpha: float, toward: str, source: str) -> dict[str, Any]:
    """What a checkpoint's config.json says about the interpolation that made it."""
    return {"wise_alpha": alpha, "wise": {"alpha": alpha, "toward": toward, "from": source,
                                          "formula": "alpha * fine-tuned trunk + (1 - alpha) * start"}}


def wise_checkpoint(src: str | Path, dst: str | Path, alpha: float, toward: str = PRETRAINED) -> Path:
    """Write checkpoint `dst`: checkpoint `src` with its trunk interpolated toward `toward` (``"pretrained"``
    or another checkpoint directory of the same backbone) by `alpha`; float32 weights, `src`'s records kept
    and the interpolation recorded (``wise_alpha``, ``wise``). `src`'s validation metrics describe the
    un-interpolated weights, so they move into the ``wise`` record (``source_metrics``) instead of standing
    as this checkpoint's own."""

    src, dst = Path(src), Path(dst)
    inputs = [src] + ([] if toward == PRETRAINED else [toward])
    check_output_dir(dst, CHECKPOINT_OUTPUT, "--out", inputs)  # before loading anything
    model = load_checkpoint(src)
    if toward == PRETRAINED:
        start, toward_label = pretrained_trunk_state(model), f"pretrained ({model.config.backbone})"
    else:
        start, toward_label = checkpoint_trunk_state(model, toward), _label(Path(toward))
    interpolate_trunk(model, start, alpha)
    config = read_config(src)
    keep = {k: v for k, v in config.items()
            if k not in ("format", "model", "weights_dtype", "wise", "wise_alpha", "metrics")}
    extra = portable_record(keep) | wise_record(alpha, toward_label, _label(src))
    extra["wise"]["source_metrics"] = config.get("metrics", {})

    def fill(folder: Path) -> None:
        save_checkpoint(model, folder, extra)
        if (src / "curves.json").is_file():  # the training that made the fine-tuned end
            shutil.copyfile(src / "curves.json", folder / "curves.json")

    return write_dir(dst, fill)  # built beside and swapped in
