"""The camera renderer's backgrounds: street scenes cut from the photos in backgrounds/ (walls and
ground in perspective), one bank per dataset seed."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image


BACKGROUNDS = Path(__file__).resolve().parent / "backgrounds"



# --------------------------------------------------------------------------------------------------
# Backgrounds
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def load_photos(kind: str) -> tuple[np.ndarray, ...]:
    """The shipped photos whose names start with `kind` (wall, ground, scene, wall_brick, ...) as float32
    RGB in [0, 1]."""
    files = sorted(BACKGROUNDS.glob(f"{kind}*.jpg"))
    if not files:
        raise FileNotFoundError(f"No {kind}*.jpg in {BACKGROUNDS}; the camera renderer ships them with the package.")
    return tuple(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255.0 for f in files)


def resize_photo(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`arr` (H, W, 3) in [0, 1] resized to `size` (h, w)."""
    img = Image.fromarray(np.clip(arr * 255, 0, 255).astype(np.uint8))
    return np.asarray(img.resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0


def _ground_plane(tile: np.ndarray, h: int, w: int, horizon: float, zoom: float, rng: np.random.Generator) -> np.ndarray:
    """A textured ground seen from an elevated camera: the texture's scale at row y goes as
    1/(y - horizon), so it shrinks toward the horizon; `zoom` is texture px per screen px at the bottom
    row, and rows are foreshortened to half of that."""
    th, tw = tile.shape[:2]
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    dist = np.maximum(ys - horizon, 1.0)
    near = h - horizon
    u = ((xs - w / 2) * zoom * near / dist + rng.uniform(0, tw)).astype(np.int64) % tw
    v = (0.5 * zoom * near * near / dist + rng.uniform(0, th)).astype(np.int64) % th
    out = tile[v, u]
    # Far ground fades into haze; near ground keeps its contrast.
    fade = np.clip((ys - horizon) / (0.6 * h), 0.0, 1.0)[..., None]
    mean = tile.reshape(-1, 3).mean(0)
    return out * (0.6 + 0.4 * fade) + mean * (0.4 - 0.4 * fade)


class PhotoBank:
    """Large background scenes built from the shipped photos: a wall or trees behind a ground plane in
    perspective, or a whole landscape photo; each picture crops one. A scene is built the first time a
    picture asks for it, from a generator of its own, so a short run builds few."""

    def __init__(self, size: tuple[int, int], seed: int, count: int = 24) -> None:
        h, w = size
        self.size = size
        self.seed = seed
        self.count = count
        self.big = (int(h * 1.3), int(w * 1.6))
        self._built: dict[int, np.ndarray] = {}
        self._scaled: dict[tuple[int, int, int], np.ndarray] = {}

    def scene(self, i: int) -> np.ndarray:
        """Scene `i` (mod `count`), built on first use."""
        i %= self.count
        if i not in self._built:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xCA3E, i]))
            if i % 4 == 3:  # a landscape photo, as it is
                scenes = load_photos("scene_")
                self._built[i] = self._photo(scenes[int(rng.integers(len(scenes)))], rng)
            else:
                walls, grounds = load_photos("wall_"), load_photos("ground_")
                wall, ground = walls[int(rng.integers(len(walls)))], grounds[int(rng.integers(len(grounds)))]
                # Pavements are greyer than the textures: take some colour out.
                ground = ground * 0.6 + ground.mean(axis=2, keepdims=True) * 0.4
                self._built[i] = self._street(wall, ground, rng)
        return self._built[i]

    def _photo(self, photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        H, W = self.big
        ph, pw = photo.shape[:2]
        scale = max(H / ph, W / pw) * rng.uniform(1.0, 1.6)
        big = resize_photo(photo, (int(ph * scale) + 1, int(pw * scale) + 1))
        y = int(rng.integers(0, big.shape[0] - H + 1))
        x = int(rng.integers(0, big.shape[1] - W + 1))
        return big[y : y + H, x : x + W]

    def _street(self, wall: np.ndarray, ground: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        H, W = self.big
        # An elevated camera sees mostly ground: the wall's foot is often above the picture.
        horizon = H * rng.uniform(-0.15, 0.4)
        out = _ground_plane(ground, H, W, horizon - H * rng.uniform(0.4, 1.2), rng.uniform(1.0, 2.2), rng)
        wh = int(horizon)
        if wh > 2:
            wall_img = resize_photo(wall, (wh, max(W, int(wall.shape[1] * wh / wall.shape[0] * rng.uniform(0.5, 1.0)))))
            x = int(rng.integers(0, wall_img.shape[1] - W + 1))
            out[:wh] = wall_img[:, x : x + W]
            # Where the wall meets the ground: a darker band (ambient occlusion).
            band = np.exp(-np.abs(np.arange(H, dtype=np.float32) - wh) / (H * 0.02))[:, None, None]
            out *= 1.0 - 0.3 * band
        return out

    def cut(self, scene: int, fx: float, fy: float, mirrored: bool, size: tuple[int, int]) -> np.ndarray:
        """The window of scene `scene` at fractions (fx, fy) of the free range, at `size` (h, w): the
        scene is scaled by h / self.size[0] first (cached: a few camera resolutions recur)."""
        h, w = size
        key = (scene % self.count, h, w)
        img = self._scaled.get(key)
        if img is None:
            img = self.scene(scene)
            if h != self.size[0]:
                k = h / self.size[0]
                img = resize_photo(img, (max(h, round(img.shape[0] * k)), max(w, round(img.shape[1] * k))))
            self._scaled[key] = img
        x = int(round(fx * (img.shape[1] - w)))
        y = int(round(fy * (img.shape[0] - h)))
        out = img[y : y + h, x : x + w]
        return (out[:, ::-1] if mirrored else out).copy()
