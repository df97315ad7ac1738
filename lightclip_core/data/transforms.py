"""Image transforms from the model's input size and the trunk's normalisation.

Training augmentations are the person-search set (flip, pad + crop, random erasing) plus a colour
jitter that changes light, not colour names: no hue shift, and brightness / contrast / saturation
kept small, because captions name colours ("navy" vs "blue", "grey" vs "black" differ mostly in
brightness) and an augmentation that renames them would teach the model wrong pairs.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torchvision import transforms as T

from ..train_config import AUGMENTATIONS, AugmentConfig  # noqa: F401  (re-exported; declared with the run's config)
from .base import load_image


def _normalize(model) -> T.Normalize:
    mean = getattr(model, "image_mean", None) or model.backbone.mean
    std = getattr(model, "image_std", None) or model.backbone.std
    return T.Normalize(mean=mean, std=std)


class Letterbox:
    """Pad a PIL image (centred, black) to the aspect ratio H:W, so resizing does not distort it."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.h, self.w = size

    def __call__(self, img):
        from PIL import Image

        iw, ih = img.size
        target_w = max(iw, round(ih * self.w / self.h))
        target_h = max(ih, round(iw * self.h / self.w))
        if (target_w, target_h) == (iw, ih):
            return img
        canvas = Image.new("RGB", (target_w, target_h))
        canvas.paste(img, ((target_w - iw) // 2, (target_h - ih) // 2))
        return canvas


def eval_transform(model) -> Callable:
    """PIL image -> normalised tensor (3, H, W) at the model's input size (models with
    ``letterbox = True``, the square-input zero-shot CLIPs, get tall crops padded, not squashed)."""
    steps: list = [Letterbox(model.image_size)] if getattr(model, "letterbox", False) else []
    steps += [T.Resize(model.image_size, interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(), _normalize(model)]
    return T.Compose(steps)


def train_transform(model, aug: AugmentConfig | None = None) -> Callable:
    """PIL image -> augmented, normalised tensor (3, H, W)."""
    aug = aug or AugmentConfig()
    h, w = model.image_size
    steps: list = [T.Resize((h, w), interpolation=T.InterpolationMode.BICUBIC)]
    if aug.flip:
        steps.append(T.RandomHorizontalFlip(aug.flip))
    pad = round(aug.pad * w)
    if pad:
        steps += [T.Pad(pad), T.RandomCrop((h, w))]
    if aug.brightness or aug.contrast or aug.saturation:
        steps.append(T.ColorJitter(brightness=aug.brightness, contrast=aug.contrast, saturation=aug.saturation, hue=0.0))
    steps += [T.ToTensor(), _normalize(model)]
    if aug.erase:
        steps.append(T.RandomErasing(p=aug.erase, scale=tuple(aug.erase_scale), value=0))
    return T.Compose(steps)


class ImageFiles(torch.utils.data.Dataset):
    """Image files through a transform (for gallery encoding)."""

    def __init__(self, paths: Sequence[str], transform: Callable) -> None:
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(load_image(self.paths[i]))
