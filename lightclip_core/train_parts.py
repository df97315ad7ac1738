"""The training loop's parts that need no run: the device and precision, seeding, the (image, caption)
pair dataset, each epoch's sample order, the learning-rate schedule, parameter groups with the trunk's
own rate, and features gathered across processes (`train.py` puts them together)."""

from __future__ import annotations

import math
import os
import random

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn

from .data.base import load_image
from .distill import epoch_view, view_params
from .errors import LightCLIPError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LightCLIPError("--device cuda was asked for, but torch sees no CUDA device.")
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class PairDataset(torch.utils.data.Dataset):
    """One item per training image: (augmented image, index of one of its captions, class label).

    Which caption an image gets is drawn from (seed, epoch, index), so it does not depend on the
    worker count, and a resumed epoch sees the same pairs. With `samples_per_epoch`, an epoch is the
    next `samples_per_epoch` images of an endless chain of permutations (seeded), so every image is
    seen once before any is seen twice, and short epochs give a fine-grained budget and curve.
    """

    def __init__(self, samples, caption_offsets: list[int], labels: list[int], transform, seed: int,
                 samples_per_epoch: int = 0) -> None:
        self.samples = samples
        self.offsets = caption_offsets
        self.labels = labels
        self.transform = transform
        self.seed = seed
        self.samples_per_epoch = samples_per_epoch
        self.epoch = 0
        self.index: np.ndarray | None = None
        self.views = 0  # > 0: distillation; items carry the image's stored view (see distill.py)
        self.view_transform = None
        self.aug = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.samples_per_epoch:
            self.index = epoch_indices(len(self.samples), self.samples_per_epoch, epoch, self.seed)

    def __len__(self) -> int:
        return len(self.index) if self.index is not None else len(self.samples)

    def image_index(self, j: int) -> int:
        return int(self.index[j]) if self.index is not None else j

    def __getitem__(self, j: int):
        i = self.image_index(j)
        s = self.samples[i]
        pick = np.random.default_rng((self.seed, self.epoch, i)).integers(len(s.captions))
        if self.views:
            v = epoch_view(self.seed, self.epoch, i, self.views)
            image = self.view_transform(load_image(s.img_path), view_params(self.aug, self.seed, v, i))
            return image, self.offsets[i] + int(pick), self.labels[i], i, v
        return self.transform(load_image(s.img_path)), self.offsets[i] + int(pick), self.labels[i], i


def epoch_indices(n: int, per_epoch: int, epoch: int, seed: int) -> np.ndarray:
    """Image indices of `epoch` when epochs are `per_epoch` images of a chain of permutations of `n`."""
    start = epoch * per_epoch
    out = []
    while len(out) < per_epoch:
        k, offset = divmod(start, n)
        perm = np.random.default_rng((seed, 0xE90C, k)).permutation(n)
        take = perm[offset : offset + per_epoch - len(out)]
        out.extend(take.tolist())
        start += len(take)
    return np.asarray(out, dtype=np.int64)


def lr_lambda(warmup_steps: int, total_steps: int, min_ratio: float):
    def fn(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return fn


def param_groups(model: nn.Module, weight_decay: float, lr: float, trunk_lr_scale: float = 1.0) -> list[dict]:
    """No weight decay on biases, norms and the temperature (as CLIP / timm); the trunk learns at
    ``lr * trunk_lr_scale``, everything else (heads, text head, temperature) at `lr`."""
    groups: dict[tuple[bool, bool], list] = {(t, d): [] for t in (False, True) for d in (True, False)}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decays = not (p.ndim < 2 or name.endswith("logit_scale"))
        groups[(name.startswith("backbone.trunk."), decays)].append(p)
    return [{"params": params, "weight_decay": weight_decay if decays else 0.0,
             "lr": lr * trunk_lr_scale if trunk else lr}
            for (trunk, decays), params in groups.items() if params]


def gather_features(x: torch.Tensor, with_grad: bool) -> torch.Tensor:
    """Concatenate `x` from all ranks; with `with_grad` the local slice keeps its gradient."""
    world = dist.get_world_size()
    if with_grad:
        return torch.cat(dist_fn.all_gather(x))
    parts = [torch.zeros_like(x) for _ in range(world)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)
