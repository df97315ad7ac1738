"""A person's crop from a frame, how good a crop it is, and its LightCLIP image embedding."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..data.transforms import eval_transform
from ..retrieval import encode_gallery_images
from .opencv import opencv


def crop(frame: np.ndarray, box: Sequence[float]) -> np.ndarray:
    H, W = frame.shape[:2]
    x0, y0 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    x1, y1 = min(W, int(math.ceil(box[2]))), min(H, int(math.ceil(box[3])))
    return frame[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]


def sharpness(patch: np.ndarray) -> float:
    """Variance of the Laplacian of the crop in grey at a height of 128 pixels (blur lowers it)."""
    cv2 = opencv()
    grey = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY) if patch.ndim == 3 else patch
    h, w = grey.shape[:2]
    if h < 2 or w < 2:
        return 0.0
    grey = cv2.resize(grey, (max(2, round(w * 128 / h)), 128), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def crop_quality(box: Sequence[float], sharp: float) -> float:
    """Larger and sharper is better: box height x log(1 + sharpness)."""
    return float((box[3] - box[1]) * math.log1p(max(sharp, 0.0)))


def image_embedder(model, batch_size: int = 64) -> Callable[[list[np.ndarray]], np.ndarray]:
    """BGR crops -> LightCLIP gallery embeddings ``(N, D)`` float32 (eval transform; each the mean of the crop
    and its mirror image, `retrieval.encode_gallery_images`)."""

    tf = eval_transform(model)

    def embed(patches: list[np.ndarray]) -> np.ndarray:
        if not patches:
            return np.zeros((0, model.embed_dim), np.float32)
        out = []
        model.eval()
        with torch.no_grad():
            for s in range(0, len(patches), batch_size):
                x = torch.stack([tf(Image.fromarray(np.ascontiguousarray(p[:, :, ::-1]))) for p in patches[s:s + batch_size]])
                out.append(encode_gallery_images(model, x.to(model.device)).cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    return embed
