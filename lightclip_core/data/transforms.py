"""Image transforms from the model's input size and the trunk's normalisation.

Training augmentations are the person-search set (flip, pad + crop, random erasing) plus a colour
jitter that changes light, not colour names: no hue shift, and brightness / contrast / saturation
kept small, because captions name colours ("navy" vs "blue", "grey" vs "black" differ mostly in
brightness) and an augmentation that renames them would teach the model wrong pairs. The camera set
(``--augment camera``) adds what a street camera does to a person: random resized crops, lost
resolution, blur, JPEG, rare greyscale and sensor noise, so that drawings train for photographs.
"""

from __future__ import annotations

import io
from typing import Callable, Sequence

import torch
from PIL import Image

from ..train_config import AugmentConfig
from .base import load_image


def _normalize(model) -> Callable:
    from torchvision import transforms as T  # a heavy runtime: loaded with the first transform, not with the app

    mean = getattr(model, "image_mean", None) or model.backbone.mean
    std = getattr(model, "image_std", None) or model.backbone.std
    return T.Normalize(mean=mean, std=std)


class Letterbox:
    """Pad a PIL image (centred, black) to the aspect ratio H:W, so resizing does not distort it."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.h, self.w = size

    def __call__(self, img):
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
    from torchvision import transforms as T

    steps: list = [Letterbox(model.image_size)] if getattr(model, "letterbox", False) else []
    steps += [T.Resize(model.image_size, interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(), _normalize(model)]
    return T.Compose(steps)


def _uniform(lo: float, hi: float) -> float:
    # torch's generator, which the data loader seeds per worker (as torchvision's own transforms use)
    return lo + (hi - lo) * float(torch.rand(()))


def down_up(img, f: float):
    """A PIL image shrunk to `f` of its size and brought back (bilinear): what a far, low-resolution camera
    loses. The size is unchanged."""

    small = img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.BILINEAR)
    return small.resize(img.size, Image.Resampling.BILINEAR)


def jpeg_roundtrip(img, quality: int):
    """A PIL image encoded as JPEG at `quality` and decoded again (RGB): compression blocks and ringing."""

    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


class RandomDownUp:
    """With probability `p`, shrink a PIL image to 30-80 % of its size and bring it back: the detail a far,
    low-resolution camera loses (the size is unchanged)."""

    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, img):
        return img if float(torch.rand(())) >= self.p else down_up(img, _uniform(0.3, 0.8))


class RandomJPEG:
    """With probability `p`, re-encode a PIL image as JPEG at quality 25-85 (blocks and ringing)."""

    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, img):
        return img if float(torch.rand(())) >= self.p else jpeg_roundtrip(img, int(_uniform(25, 85)))


class SensorNoise:
    """Gaussian noise with a sigma drawn from [0, `sigma`] on a tensor in [0, 1], clamped back to [0, 1]."""

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x + torch.randn_like(x) * _uniform(0.0, self.sigma)).clamp_(0.0, 1.0)


def train_transform(model, aug: AugmentConfig | None = None) -> Callable:
    """PIL image -> augmented, normalised tensor (3, H, W): geometry, then what a camera does (resolution,
    blur, light, compression), then noise and erasing on the tensor. Evaluation uses `eval_transform`."""
    from torchvision import transforms as T

    aug = aug or AugmentConfig()
    h, w = model.image_size
    if aug.crop:  # keep the tall person shape: aspect within 0.8-1.25x of the input's
        steps: list = [T.RandomResizedCrop((h, w), scale=(aug.crop, 1.0), ratio=(0.8 * w / h, 1.25 * w / h),
                                           interpolation=T.InterpolationMode.BICUBIC)]
    else:
        steps = [T.Resize((h, w), interpolation=T.InterpolationMode.BICUBIC)]
    if aug.flip:
        steps.append(T.RandomHorizontalFlip(aug.flip))
    pad = round(aug.pad * w)
    if pad:
        steps += [T.Pad(pad), T.RandomCrop((h, w))]
    if aug.downsample:
        steps.append(RandomDownUp(aug.downsample))
    if aug.blur:
        k = 2 * max(1, round(1.2 * 3 * max(h, w) / 256)) + 1  # covers 3 sigma at the largest sigma
        steps.append(T.RandomApply([T.GaussianBlur(k, sigma=(0.3, 1.2))], p=aug.blur))
    if aug.brightness or aug.contrast or aug.saturation:
        steps.append(T.ColorJitter(brightness=aug.brightness, contrast=aug.contrast, saturation=aug.saturation, hue=0.0))
    if aug.greyscale:
        steps.append(T.RandomGrayscale(aug.greyscale))
    if aug.jpeg:
        steps.append(RandomJPEG(aug.jpeg))
    steps.append(T.ToTensor())
    if aug.noise:
        steps.append(SensorNoise(aug.noise))
    steps.append(_normalize(model))
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
