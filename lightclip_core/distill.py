"""Reinforced training, as MobileCLIP does it: teacher image embeddings stored once, reused every epoch.

A student learns from its own contrastive loss plus a distillation term toward one or more teacher
checkpoints (any LightCLIP checkpoint with the same frozen text encoder). The teacher never runs
during student training: `build_teacher_store` encodes every training image in `views` deterministic
augmentations once, and keeps the result on disk (safetensors, keyed by the teachers' weights, the
data and the views), so the second run with the same teacher and data reuses it.

View `v` of image `i` is a fixed augmentation drawn from (seed, v, i) with sizes relative to the
picture, so the teacher (at its input size) and the student (at its own) see the same crop, flip,
light and erased patch. With flip-only augmentation there are two views: as is, and mirrored.

    store.features  (T, N, V, D) fp16  T teachers, N training images, V views, D text-space width
    store.scales    (T,)               each teacher's logit scale 1/τ (for its similarity softmax)
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import ImageFilter
from torchvision.transforms import InterpolationMode
from tqdm import tqdm

from .checkpoints import load_checkpoint, read_config
from .data.base import load_image
from .data.transforms import down_up, jpeg_roundtrip
from .errors import LightCLIPError
from .fileio import cache_root, read_cache, sha256_file, write_cache

STORE_VERSION = 1


@dataclass
class TeacherStore:
    """Stored teacher image embeddings of a training set (see the module docstring for shapes)."""

    features: torch.Tensor  # (T, N, V, D) fp16
    scales: torch.Tensor  # (T,) fp32
    teachers: list[str]
    views: int
    path: Path | None = None
    reused: bool = False

    def rows(self, image_index: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        """Teacher embeddings ``(T, B, D)`` fp32 of images `image_index` ``(B,)`` in views `view` ``(B,)``."""
        return self.features[:, image_index, view].float()


# --------------------------------------------------------------------------------------------------
# Views: deterministic augmentations that a teacher and a student at other sizes both apply
# --------------------------------------------------------------------------------------------------


def default_views(aug) -> int:
    """Two views (as is, mirrored) for flip-only augmentation, eight when more is switched on."""
    if not (aug.pad or aug.brightness or aug.contrast or aug.saturation or aug.erase or aug.camera):
        return 2 if aug.flip else 1
    return 8


def view_params(aug, seed: int, view: int, index: int) -> dict[str, Any]:
    """The augmentation of view `view` of image `index`, in sizes relative to the picture.

    View 0 is the picture as is and view 1 its mirror (when flips are on); views from 2 on draw
    flip, shift (pad-and-crop), light jitter and an erased box from (seed, view, index).
    """
    p: dict[str, Any] = {"flip": bool(aug.flip) and view % 2 == 1, "dx": 0.0, "dy": 0.0,
                         "brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "erase": None}
    if view < 2:
        return p
    rng = np.random.default_rng((seed, 0xA06, view, index))
    u = rng.random(9)
    if aug.pad:
        p["dx"], p["dy"] = float((2 * u[0] - 1) * aug.pad), float((2 * u[1] - 1) * aug.pad)
    p["brightness"] = float(1 + (2 * u[2] - 1) * aug.brightness)
    p["contrast"] = float(1 + (2 * u[3] - 1) * aug.contrast)
    p["saturation"] = float(1 + (2 * u[4] - 1) * aug.saturation)
    if aug.erase and u[5] < aug.erase:
        lo, hi = aug.erase_scale
        area = lo + (hi - lo) * u[6]
        ratio = float(np.exp(np.log(0.3) + (np.log(3.3) - np.log(0.3)) * u[7]))
        eh, ew = min(1.0, float(np.sqrt(area * ratio))), min(1.0, float(np.sqrt(area / ratio)))
        y0 = float(u[8] * (1 - eh))
        x0 = float(rng.random() * (1 - ew))
        p["erase"] = (y0, x0, eh, ew)
    if aug.camera:  # a stream of its own, so views without camera degradations stay as they were
        _camera_view(p, aug, np.random.default_rng((seed, 0xCA3, view, index)))
    return p


def _camera_view(p: dict[str, Any], aug, rng: np.random.Generator) -> None:
    """A view's camera degradations (data/transforms.py's, drawn once): lost resolution, blur, JPEG,
    greyscale, noise. Random resized crops are left to the shift (pad) of the view."""
    u = rng.random(10)
    p["downsample"] = float(0.3 + 0.5 * u[1]) if u[0] < aug.downsample else None
    p["blur"] = float(0.3 + 0.9 * u[3]) if u[2] < aug.blur else None
    p["jpeg"] = int(25 + 60 * u[5]) if u[4] < aug.jpeg else None
    p["grey"] = bool(u[6] < aug.greyscale)
    p["noise"] = float(aug.noise * u[7])
    p["noise_seed"] = int(rng.integers(2**31))


class ViewTransform:
    """PIL image + view parameters -> normalised tensor (3, H, W) at `size`."""

    def __init__(self, size: tuple[int, int], mean: Sequence[float], std: Sequence[float]) -> None:
        self.size = tuple(size)
        self.mean, self.std = list(mean), list(std)

    def __call__(self, img, p: dict[str, Any]) -> torch.Tensor:
        h, w = self.size
        img = TF.resize(img, [h, w], interpolation=InterpolationMode.BICUBIC)
        if p["flip"]:
            img = TF.hflip(img)
        if p["dx"] or p["dy"]:  # pad-and-crop = a shift with black fill, in shares of the width
            img = TF.affine(img, angle=0.0, translate=[round(p["dx"] * w), round(p["dy"] * w)], scale=1.0, shear=[0.0],
                            fill=0)
        if p["brightness"] != 1.0:
            img = TF.adjust_brightness(img, p["brightness"])
        if p["contrast"] != 1.0:
            img = TF.adjust_contrast(img, p["contrast"])
        if p["saturation"] != 1.0:
            img = TF.adjust_saturation(img, p["saturation"])
        x = TF.to_tensor(self._camera(img, p)) if "noise" in p else TF.to_tensor(img)
        if p.get("noise"):
            gen = torch.Generator().manual_seed(p["noise_seed"])
            x = (x + torch.randn(x.shape, generator=gen) * p["noise"]).clamp_(0.0, 1.0)
        x = TF.normalize(x, self.mean, self.std)
        if p["erase"] is not None:
            y0, x0, eh, ew = p["erase"]
            top, left = int(y0 * h), int(x0 * w)
            x[:, top : top + max(1, round(eh * h)), left : left + max(1, round(ew * w))] = 0
        return x

    @staticmethod
    def _camera(img, p: dict[str, Any]):
        """The view's lost resolution, blur, greyscale and JPEG on a PIL image (same size)."""

        if p["downsample"]:
            img = down_up(img, p["downsample"])
        if p["blur"]:
            img = img.filter(ImageFilter.GaussianBlur(p["blur"]))
        if p["grey"]:
            img = img.convert("L").convert("RGB")
        if p["jpeg"]:
            img = jpeg_roundtrip(img, p["jpeg"])
        return img


def epoch_view(seed: int, epoch: int, index: int, views: int) -> int:
    """Which stored view image `index` is shown in at `epoch` (independent of workers and resume)."""
    return int(np.random.default_rng((seed, 0x71E, epoch, index)).integers(views)) if views > 1 else 0


# --------------------------------------------------------------------------------------------------
# Teachers
# --------------------------------------------------------------------------------------------------


def check_teacher(path: str | Path, text_encoder: str) -> dict[str, Any]:
    """The teacher's config, if `path` is a checkpoint trained against `text_encoder` (cheap: no weights
    are read, so a run fails on a wrong teacher before it spends minutes on anything else)."""

    path = Path(path)
    if not path.exists():
        raise LightCLIPError(f"Teacher checkpoint {path} does not exist; pass a checkpoint directory such as runs/<run>/best.")
    config = read_config(path)  # clear errors for a file, a missing config or weights
    have = config["model"].get("text_encoder")
    if have != text_encoder:
        raise LightCLIPError(
            f"Teacher {path} was trained against text encoder {have!r}, the student against {text_encoder!r}; "
            "distillation needs both in the same text space."
        )
    return config


def load_teacher(path: str | Path, text_encoder: str, embed_dim: int, device: torch.device | str = "cpu"):
    """A teacher checkpoint, checked against the student: same text encoder, same embedding width."""

    path = Path(path)
    check_teacher(path, text_encoder)
    teacher = load_checkpoint(path, device=device)
    if teacher.embed_dim != embed_dim:
        raise LightCLIPError(f"Teacher {path} embeds into {teacher.embed_dim} dimensions, the student into {embed_dim}.")
    return teacher


def store_key(teacher_dirs: Sequence[str | Path], samples, views: int, aug, seed: int) -> str:
    """A digest of what the stored embeddings depend on: each teacher's weights and config, every
    training image (path relative to its dataset, size, captions), the views and their augmentation."""
    h = hashlib.sha256(f"lightclip-teacher-store-v{STORE_VERSION}".encode())
    for d in teacher_dirs:
        d = Path(d)
        h.update(sha256_file(d / "model.safetensors").encode())
        h.update(json.dumps(json.loads((d / "config.json").read_text())["model"], sort_keys=True).encode())
    for s in samples:
        p = Path(s.img_path)
        h.update(f"{p.parent.name}/{p.name}|{p.stat().st_size}|{s.pid}|{'|'.join(s.captions)}\n".encode())
    h.update(json.dumps({"views": views, "seed": seed, "aug": aug.to_dict()}, sort_keys=True).encode())
    return h.hexdigest()[:24]


def teacher_store_dir() -> Path:
    return cache_root() / "teacher_features"


class _ViewImages(torch.utils.data.Dataset):
    def __init__(self, paths: Sequence[str], transform: ViewTransform, aug, seed: int, views: int) -> None:
        self.paths, self.transform, self.aug, self.seed, self.views = list(paths), transform, aug, seed, views

    def __len__(self) -> int:
        return len(self.paths) * self.views

    def __getitem__(self, j: int) -> torch.Tensor:
        i, v = divmod(j, self.views)
        return self.transform(load_image(self.paths[i]), view_params(self.aug, self.seed, v, i))


@torch.no_grad()
def build_teacher_store(
    teacher_dirs: Sequence[str | Path],
    samples,
    text_encoder: str,
    embed_dim: int,
    aug,
    views: int = 0,
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int = 128,
    num_workers: int = 0,
    progress: bool = False,
    cache_dir: str | Path | None = None,
) -> TeacherStore:
    """The teachers' embeddings of `samples` in `views` views: from the cache, or encoded once and stored.

    `views` 0 picks `default_views(aug)`. The file is ``<cache>/teacher_features/<key>.safetensors``
    (`store_key`); a damaged file is rebuilt. Each teacher is checked with `load_teacher`.
    """
    if not teacher_dirs:
        raise LightCLIPError("build_teacher_store needs at least one teacher checkpoint.")
    views = views or default_views(aug)
    for d in teacher_dirs:
        check_teacher(d, text_encoder)
    key = store_key(teacher_dirs, samples, views, aug, seed)
    path = Path(cache_dir or teacher_store_dir()) / f"{key}.safetensors"
    n = len(samples)
    t = read_cache(path, lambda t: t["features"].shape == (len(teacher_dirs), n, views, embed_dim))  # the width, too
    if t is not None:
        return TeacherStore(t["features"], t["scales"], [str(d) for d in teacher_dirs], views, path, reused=True)
    teachers = [load_teacher(d, text_encoder, embed_dim, device) for d in teacher_dirs]
    t0 = time.perf_counter()
    feats = torch.empty(len(teachers), n, views, embed_dim, dtype=torch.float16)
    paths = [s.img_path for s in samples]
    for k, teacher in enumerate(teachers):
        ds = _ViewImages(paths, ViewTransform(teacher.image_size, teacher.image_mean, teacher.image_std), aug, seed, views)
        loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
        it = loader
        if progress:
            it = tqdm(loader, desc=f"teacher {k + 1}/{len(teachers)}: {n} images x {views} views", unit="batch",
                      leave=False, file=sys.stderr)
        rows = []
        for images in it:
            rows.append(teacher.encode_image(images.to(teacher.device)).float().cpu())
        feats[k] = torch.cat(rows).reshape(n, views, embed_dim).half()
    scales = torch.tensor([float(t.scale()) for t in teachers], dtype=torch.float32)
    meta = {"teachers": json.dumps([str(d) for d in teacher_dirs]), "views": str(views), "images": str(n)}
    write_cache(path, {"features": feats.contiguous(), "scales": scales}, metadata=meta)
    print(f"teacher store: {n} images x {views} views x {len(teachers)} teacher(s) encoded in "
          f"{time.perf_counter() - t0:.1f} s, stored at {path}", file=sys.stderr, flush=True)
    return TeacherStore(feats, scales, [str(d) for d in teacher_dirs], views, path, reused=False)


__all__ = [
    "TeacherStore", "ViewTransform", "build_teacher_store", "check_teacher", "default_views", "epoch_view", "load_teacher",
    "store_key", "view_params",
]
