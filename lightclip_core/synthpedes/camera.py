"""The ``camera`` SynthPedes renderer: shaded people on photographs, seen through a street camera.

Same identities, same captions as the ``draw`` renderer (``Renderer`` in drawing.py): it takes the
picture's plan from ``Renderer.plan`` (every draw from the picture's generator, in the same order), so
the captions written after the picture, the facts and the counterfactuals are byte-identical, and takes
its own extra randomness (texture offsets, gait, camera height, degradations) from a child generator
(``rng.spawn``), which leaves the picture's generator untouched.

What it models: a light direction with soft self-shading of every body part (each limb, the torso and
the head are rounded volumes, lit with a Lambert term and, on leather, a highlight), a soft ground
shadow and contact shadows; fabric by garment type (denim twill and fading, knit ribs, leather sheen,
wool and cotton folds); hair with strands and sheen; skin, eyes and brows at the scale of a 256 px
person; 8-head proportions, a walking gait with bent knees; an elevated camera (head and shoulders a
little larger, legs foreshortened, feet on a ground plane in perspective); photographic backgrounds
(backgrounds/, see its README.md); and the camera: lower resolution (rendered, shrunk, enlarged),
motion blur, defocus, sensor noise, JPEG blocks, colour casts and exposure.

What it does not: real 3D bodies or cloth simulation, faces a person could recognise, hands with
fingers, occlusion by the scene's own objects, other people's shadows, night and rain. Numbers measured
on its pictures are numbers about synthetic people.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .drawing import RGB, Figure, Occluder, Renderer, Shot, ShotPlan, _contrast
from .identities import Identity
from .vocabulary import SKIN_TONES

BACKGROUNDS = Path(__file__).resolve().parent / "backgrounds"



# --------------------------------------------------------------------------------------------------
# Backgrounds
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _photos(kind: str) -> tuple[np.ndarray, ...]:
    """The shipped photos whose names start with `kind` (wall, ground, scene, wall_brick, ...) as float32
    RGB in [0, 1]."""
    files = sorted(BACKGROUNDS.glob(f"{kind}*.jpg"))
    if not files:
        raise FileNotFoundError(f"No {kind}*.jpg in {BACKGROUNDS}; the camera renderer ships them with the package.")
    return tuple(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255.0 for f in files)


def _resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
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
                scenes = _photos("scene_")
                self._built[i] = self._photo(scenes[int(rng.integers(len(scenes)))], rng)
            else:
                walls, grounds = _photos("wall_"), _photos("ground_")
                wall, ground = walls[int(rng.integers(len(walls)))], grounds[int(rng.integers(len(grounds)))]
                # Pavements are greyer than the textures: take some colour out.
                ground = ground * 0.6 + ground.mean(axis=2, keepdims=True) * 0.4
                self._built[i] = self._street(wall, ground, rng)
        return self._built[i]

    def _photo(self, photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        H, W = self.big
        ph, pw = photo.shape[:2]
        scale = max(H / ph, W / pw) * rng.uniform(1.0, 1.6)
        big = _resize(photo, (int(ph * scale) + 1, int(pw * scale) + 1))
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
            wall_img = _resize(wall, (wh, max(W, int(wall.shape[1] * wh / wall.shape[0] * rng.uniform(0.5, 1.0)))))
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
                img = _resize(img, (max(h, round(img.shape[0] * k)), max(w, round(img.shape[1] * k))))
            self._scaled[key] = img
        x = int(round(fx * (img.shape[1] - w)))
        y = int(round(fy * (img.shape[0] - h)))
        out = img[y : y + h, x : x + w]
        return (out[:, ::-1] if mirrored else out).copy()


# --------------------------------------------------------------------------------------------------
# Shapes: each body part is a tapered volume around a segment, rasterised over its bounding box
# --------------------------------------------------------------------------------------------------


@dataclass
class Patch:
    """One shape over its bounding box: coverage, local frame (along, across) and surface normal."""

    ys: slice
    xs: slice
    alpha: np.ndarray  # (h, w) coverage, anti-aliased
    along: np.ndarray  # px from the segment's start, along it
    across: np.ndarray  # signed px from the axis
    t: np.ndarray  # 0..1 along the segment
    nx: np.ndarray
    ny: np.ndarray
    nz: np.ndarray
    light: np.ndarray  # (3,) unit vector toward the light: x right, y down, z toward the camera


class Canvas:
    """An RGB float image, the picture's light direction, and a mask of where the person is (self-shadows
    fall only on the person). `wobble` (h, w) px, when given, moves every shape's edge in and out a
    little: cloth and hair are never the perfect outlines that make a figure look like a mannequin."""

    def __init__(self, background: np.ndarray, light: np.ndarray, wobble: np.ndarray | None = None) -> None:
        self.rgb = background
        self.light = light
        self.h, self.w = background.shape[:2]
        self.body = np.zeros((self.h, self.w), dtype=np.float32)
        self.wobble = wobble
        # Pixel centres, sliced by every shape (cheaper than a new arange per shape).
        self._xc = np.arange(self.w, dtype=np.float32)[None, :] + 0.5
        self._yc = np.arange(self.h, dtype=np.float32)[:, None] + 0.5

    def shape(self, a: tuple[float, float], b: tuple[float, float], ts, ws, round_ends=(True, True),
              flat: float = 1.0) -> Patch | None:
        """A volume around segment a->b with half-width `ws` at fractions `ts` of its length.

        `flat` < 1 makes the volume shallower (a torso is wider than deep): normals lean less sideways.
        Round ends are half-discs, flat ends cut square.
        """
        ax, ay = a
        bx, by = b
        dx, dy = bx - ax, by - ay
        length = max(math.hypot(dx, dy), 1e-3)
        ex, ey = dx / length, dy / length
        px, py = -ey, ex
        r = max(ws) + 1.5
        x0, x1 = max(0, int(min(ax, bx) - r)), min(self.w, int(max(ax, bx) + r) + 2)
        y0, y1 = max(0, int(min(ay, by) - r)), min(self.h, int(max(ay, by) + r) + 2)
        if x1 <= x0 or y1 <= y0:
            return None
        X = self._xc[:, x0:x1] - ax
        Y = self._yc[y0:y1] - ay
        along = X * ex + Y * ey
        across = X * px + Y * py
        t = _clip01(along * (1.0 / length))
        if len(ts) == 2:  # the common case, without np.interp's overhead
            w = ws[0] + (ws[1] - ws[0]) * t
        else:
            w = np.interp(t, ts, ws).astype(np.float32)
        off = along - t * length  # 0 beside the segment, past an end the distance beyond it
        d = np.hypot(off, across) - w
        if not (round_ends[0] and round_ends[1]):
            d_flat = np.maximum(np.abs(across) - w, np.maximum(-along, along - length))
            if not round_ends[0]:
                d = np.where(along < 0, d_flat, d)
            if not round_ends[1]:
                d = np.where(along > length, d_flat, d)
        if self.wobble is not None:
            d = d + self.wobble[y0:y1, x0:x1]
        alpha = _clip01(0.5 - d)
        if not alpha.any():
            return None
        inv = 1.0 / np.maximum(w, 0.5)
        nu = off * inv
        nv = np.minimum(np.maximum(across * inv, -1.0), 1.0) * flat
        nz = np.sqrt(np.maximum(1.0 - nu * nu - nv * nv, 0.02))
        nx = nu * ex + nv * px
        ny = nu * ey + nv * py
        return Patch(slice(y0, y1), slice(x0, x1), alpha, along, across, t, nx, ny, nz, self.light)

    def ellipse(self, c: tuple[float, float], rx: float, ry: float) -> Patch | None:
        """An ellipsoid seen face on (head, bun, shoe toe)."""
        cx, cy = c
        x0, x1 = max(0, int(cx - rx - 2)), min(self.w, int(cx + rx) + 3)
        y0, y1 = max(0, int(cy - ry - 2)), min(self.h, int(cy + ry) + 3)
        if x1 <= x0 or y1 <= y0:
            return None
        X = (self._xc[:, x0:x1] - cx) * (1.0 / rx)
        Y = (self._yc[y0:y1] - cy) * (1.0 / ry)
        r2 = X * X + Y * Y
        alpha = _clip01((1.0 - np.sqrt(r2)) * min(rx, ry) + 0.5)
        if not alpha.any():
            return None
        nz = np.sqrt(np.maximum(1.0 - r2, 0.02))
        return Patch(slice(y0, y1), slice(x0, x1), alpha, Y * ry, X * rx, _clip01(Y * 0.5 + 0.5),
                     np.minimum(np.maximum(X, -1), 1), np.minimum(np.maximum(Y, -1), 1), nz, self.light)

    def fill(self, p: Patch | None, colour: np.ndarray, body: bool = True, clip: np.ndarray | None = None) -> None:
        """Composite per-pixel `colour` (h, w, 3) over the canvas with the patch's coverage."""
        if p is None:
            return
        a = p.alpha if clip is None else p.alpha * clip
        a3 = a[..., None]
        region = self.rgb[p.ys, p.xs]
        self.rgb[p.ys, p.xs] = region + (colour - region) * a3
        if body:
            self.body[p.ys, p.xs] = np.maximum(self.body[p.ys, p.xs], a)

    def darken(self, p: Patch | None, amount: float) -> None:
        """A soft shadow in the patch's shape, on the person only (a part casting onto the body); it fades
        toward the shape's edge."""
        if p is None:
            return
        a = p.alpha * amount * self.body[p.ys, p.xs] * (0.4 + 0.6 * p.nz)
        self.rgb[p.ys, p.xs] *= (1.0 - a)[..., None]


def _clip01(a: np.ndarray) -> np.ndarray:
    """np.clip(a, 0, 1) without its wrapper's overhead (it runs thousands of times a picture)."""
    return np.minimum(np.maximum(a, 0.0), 1.0)


def _lit(p: Patch, base: np.ndarray, ambient: float = 0.42, shine: float = 0.0, power: float = 18.0) -> np.ndarray:
    """Lambert shading (plus a Blinn highlight when `shine`, its exponent `power` rounded to a power of two)
    of colour `base` (3,) or (h, w, 3)."""
    lx, ly, lz = p.light
    lam = np.maximum(p.nx * lx + p.ny * ly + p.nz * lz, 0.0)
    shade = ambient + (1.0 - ambient) * 1.05 * lam
    out = base * shade[..., None]
    if shine:
        # Blinn half-vector between the light and the viewer (0, 0, 1).
        hx, hy, hz = lx, ly, lz + 1.0
        n = math.sqrt(hx * hx + hy * hy + hz * hz)
        spec = np.maximum((p.nx * hx + p.ny * hy + p.nz * hz) * (1.0 / n), 0.0)
        for _ in range(max(1, round(math.log2(power)))):  # spec ** power, by squaring (power ~ 2^k)
            spec = spec * spec
        out = out + shine * spec[..., None]
    return out


# --------------------------------------------------------------------------------------------------
# Fabric, skin and hair
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fabric:
    """How a garment's surface looks: fine texture, folds and sheen."""

    name: str
    grain: float  # fine texture contrast
    folds: float  # fold shading depth
    fold_px: float  # fold spacing at a 200 px person
    shine: float  # leather/nylon highlight
    ribs: float = 0.0  # knit ribs across the garment
    twill: float = 0.0  # diagonal denim weave
    fade: float = 0.0  # lighter centre of worn denim


FABRICS: dict[str, Fabric] = {
    "denim": Fabric("denim", 0.05, 0.06, 9.0, 0.0, twill=0.07, fade=0.2),
    "cotton": Fabric("cotton", 0.03, 0.05, 11.0, 0.0),
    "jersey": Fabric("jersey", 0.025, 0.035, 14.0, 0.02),
    "wool": Fabric("wool", 0.05, 0.06, 16.0, 0.0),
    "knit": Fabric("knit", 0.05, 0.03, 14.0, 0.0, ribs=0.1),
    "fleece": Fabric("fleece", 0.06, 0.04, 12.0, 0.0),
    "leather": Fabric("leather", 0.02, 0.05, 10.0, 0.3),
    "nylon": Fabric("nylon", 0.015, 0.07, 8.0, 0.15),
}
UPPER_FABRIC = {"t-shirt": "jersey", "shirt": "cotton", "coat": "wool", "hoodie": "fleece", "sweater": "knit",
                "dress": "cotton"}
LOWER_FABRIC = {"jeans": "denim", "trousers": "cotton", "shorts": "cotton", "skirt": "wool"}


def _rgb(c: RGB) -> np.ndarray:
    return np.asarray(c, dtype=np.float32) / 255.0


class Textures:
    """Per-process noise tiles (fine grain, soft blotches, hair strands) sampled at random offsets."""

    SIZE = 256

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E47]))
        n = self.SIZE
        white = rng.normal(0, 1, (n, n)).astype(np.float32)
        self.fine = self._blur(white, 0.6)
        self.soft = self._blur(rng.normal(0, 1, (n, n)).astype(np.float32), 4.0)
        # Hair: noise stretched along y (strands), normalised to unit spread.
        grey = Image.fromarray(((white * 40) + 128).clip(0, 255).astype(np.uint8))
        strands = np.asarray(grey.resize((n, n // 8)).resize((n, n), Image.Resampling.BICUBIC), dtype=np.float32)
        self.strands = (strands - strands.mean()) / (strands.std() + 1e-6)

    @staticmethod
    def _blur(a: np.ndarray, radius: float) -> np.ndarray:
        img = Image.fromarray(((a * 30) + 128).clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
        out = np.asarray(img, dtype=np.float32)
        return (out - out.mean()) / (out.std() + 1e-6)

    def local(self, tile: np.ndarray, p: Patch, along: float, across: float, oy: int, ox: int) -> np.ndarray:
        """The tile in the patch's own frame, stretched: `along`/`across` tile px per patch px."""
        n = self.SIZE
        ys = (p.along * along + oy).astype(np.int64) % n
        xs = (p.across * across + ox).astype(np.int64) % n
        return tile[ys, xs]

    def sample(self, tile: np.ndarray, p: Patch, oy: int, ox: int) -> np.ndarray:
        """The tile under the patch's pixels (screen-aligned), shifted by (oy, ox)."""
        n = self.SIZE
        ys = (np.arange(p.ys.start, p.ys.stop) + oy) % n
        xs = (np.arange(p.xs.start, p.xs.stop) + ox) % n
        return tile[ys[:, None], xs[None, :]]


# --------------------------------------------------------------------------------------------------
# The person
# --------------------------------------------------------------------------------------------------


@dataclass
class Pose:
    """Joint positions (px) of one picture's person, after gait and the camera's elevation."""

    head: tuple[float, float]
    head_r: tuple[float, float]  # (rx, ry)
    neck: tuple[float, float]
    shoulders: list[tuple[float, float]]  # screen left, right (side view: one point, twice)
    hips: list[tuple[float, float]]
    knees: list[tuple[float, float]]
    ankles: list[tuple[float, float]]
    elbows: list[tuple[float, float]]
    hands: list[tuple[float, float]]
    near: list[bool]  # per leg/arm: drawn in front (side views: one far, one near)
    scale: float  # px per unit of body height
    waist_y: float
    hip_y: float


def _side_limbs(g: Figure, L: float, sx, swing: float, sh_y: float, hip_y: float, knee_y: float, ankle_y: float):
    """Shoulders, hips, legs (knee, ankle), elbows, hands and which limbs are near, of a figure seen
    from the side: the legs and arms swing about one line, the far ones first."""
    cx, face = g.cx, g.face
    shoulders = [(cx, sh_y)] * 2
    hips = [(cx - face * L * 0.005, hip_y)] * 2
    legs = []
    for ang in (-swing, swing):  # far leg first
        thigh = L * 0.235
        shin = ankle_y - knee_y
        # The leg that is behind bends its knee and lifts its heel.
        bend = max(0.0, -ang) * 1.3 + 0.05
        kx = hips[0][0] + face * math.sin(ang) * thigh
        ky = hip_y + math.cos(ang) * thigh * 0.98
        ax_ = kx + face * math.sin(ang - bend) * shin
        ay_ = ky + math.cos(ang - bend) * shin
        legs.append(((kx, ky), (ax_, min(ay_, ankle_y))))
    elbows, hands = [], []
    for ang in (swing * 0.9, -swing * 0.9):
        upper = L * 0.15
        ex_ = cx + face * math.sin(ang) * upper
        ey_ = sh_y + L * 0.01 + math.cos(ang) * upper
        fa = ang + 0.15 + max(0.0, ang) * 0.6
        elbows.append((ex_, ey_))
        hands.append((ex_ + face * math.sin(fa) * L * 0.14, ey_ + math.cos(fa) * L * 0.14))
    return shoulders, hips, legs, elbows, hands, [False, True]


def _front_limbs(g: Figure, L: float, sx, swing: float, sh_y: float, hip_y: float, knee_y: float, ankle_y: float):
    """`_side_limbs` for a figure seen from the front or back: the foot ahead is lower on screen, the
    one behind lifts, and the arms swing against the legs."""
    cx = g.cx
    sh_w = L * 0.112 * g.bw * sx(0.17)
    hip_w = L * (0.066 if g.woman else 0.062) * g.bw * sx(0.5)
    shoulders = [(cx - sh_w, sh_y), (cx + sh_w, sh_y)]
    hips = [(cx - hip_w, hip_y), (cx + hip_w, hip_y)]
    legs = []
    for k, sgn in enumerate((-1, 1)):
        fwd = swing * sgn  # > 0: this foot is ahead, so lower on screen (nearer the camera)
        lift = L * 0.06 * max(0.0, -fwd) / 0.38
        kx = hips[k][0] + sgn * L * 0.005
        ky = knee_y + fwd * L * 0.05 - lift * 0.4
        ax_ = hips[k][0] + sgn * L * 0.012
        ay_ = ankle_y + fwd * L * 0.07 - lift
        legs.append(((kx, ky), (ax_, ay_)))
    elbows, hands = [], []
    for k, sgn in enumerate((-1, 1)):
        fwd = -swing * sgn
        ex_ = shoulders[k][0] + sgn * L * 0.004
        ey_ = sh_y + L * 0.145 - abs(fwd) * L * 0.02
        elbows.append((ex_, ey_))
        hands.append((ex_ + sgn * L * 0.012, ey_ + L * 0.13 - abs(fwd) * L * 0.05 + fwd * L * 0.03))
    return shoulders, hips, legs, elbows, hands, [True, True]


class CameraRenderer(Renderer):
    """Paints `Renderer.plan`'s pictures with shaded volumes on photos and a camera model (module doc)."""

    def __init__(self, size: tuple[int, int] = (256, 128), seed: int = 0) -> None:
        super().__init__(size, seed)  # the draw renderer's bank: its crops are planned (and drawn) from it
        self.photos = PhotoBank(size, seed)
        self.tex = Textures(seed)
        h, w = size
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5E75]))
        self.sensor = rng.normal(0, 1, size=(h * 2, w * 2, 3)).astype(np.float32)

    def render(self, ident: Identity, rng: np.random.Generator, view: str | None = None) -> tuple[Image.Image, Shot]:
        own = rng.spawn(1)[0]  # this picture's own stream; `rng` itself is not advanced by spawning
        plan = self.plan(ident, rng, view)
        return self.paint_camera(ident, plan, own), self.shot(ident, plan)

    # ---- the picture ---------------------------------------------------------------------------

    def paint_camera(self, ident: Identity, plan: ShotPlan, rng: np.random.Generator) -> Image.Image:
        """Background, ground shadow, the person back to front, occluder, then the camera.

        The scene is painted at the camera's own resolution (a street camera sees a passer-by a few dozen
        pixels wide) and enlarged to the dataset's size at the end, as a real crop is."""
        h, w = self.size
        factor = float(rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], p=[0.08, 0.22, 0.3, 0.25, 0.15]))
        hs, ws = max(24, round(h / factor)), max(12, round(w / factor))
        k = hs / h
        c = plan.crop
        bg = self.photos.cut(c.scene, c.x / max(c.x_max, 1), c.y / max(c.y_max, 1), c.mirrored, (hs, ws))
        # The scene's own light: a soft vertical gradient and a tint.
        grad = np.linspace(1.08, 0.9, hs, dtype=np.float32)[:, None, None]
        # Daylight from above, to one side or the other, a little in front.
        light = np.array([rng.uniform(-0.6, 0.6), -rng.uniform(0.5, 0.8), 0.6], dtype=np.float32)
        n = Textures.SIZE
        ys = (np.arange(hs) + int(rng.integers(0, n))) % n
        xs = (np.arange(ws) + int(rng.integers(0, n))) % n
        wobble = self.tex.soft[ys[:, None], xs[None, :]] * (0.45 * k ** 0.5)
        canvas = Canvas((bg * grad * rng.uniform(0.9, 1.08, 3).astype(np.float32)).astype(np.float32),
                        light / np.linalg.norm(light), wobble)
        g = replace(plan.figure, H=hs, W=ws, ph=plan.figure.ph * k, top=plan.figure.top * k, cx=plan.figure.cx * k)
        occ = plan.occluder
        occ = replace(occ, **{f: getattr(occ, f) * k for f in ("x", "width", "top") if getattr(occ, f) is not None})
        pose = self._pose(ident, g, rng)
        self._ground_shadow(canvas, pose, g)
        self._person(canvas, ident, g, plan.umbrella, pose, rng)
        # Light bounced off the surroundings tints the person toward the scene's colour.
        env = bg.reshape(-1, 3).mean(0)
        env = 1.0 + 0.3 * (env / max(float(env.mean()), 1e-3) - 1.0)
        canvas.rgb *= (1.0 + (env - 1.0) * canvas.body[..., None]).astype(np.float32)
        self._occluder(canvas, g, occ, rng)
        return self._camera_effects(canvas.rgb, plan, k, rng)

    def _pose(self, ident: Identity, g: Figure, rng: np.random.Generator) -> Pose:
        """Joints from the planned figure: 8-head proportions, gait, and the camera's elevation (a
        larger head and shoulders, shorter legs: the feet stay where the plan put them)."""
        ph, top, cx = g.ph, g.top, g.cx
        elev = rng.uniform(0.08, 0.3)

        def Y(f: float) -> float:  # noqa: N802 - a height on the body, foreshortened by the elevation
            return top + ph * (1 + elev) * f / (1 + elev * f)

        def sx(f: float) -> float:  # widths shrink with distance from the camera (feet are farther)
            return 1.0 + elev * 0.7 * (0.45 - f)

        L = ph
        side = g.side
        face = g.face
        head_c = (cx + (face * L * 0.01 if side else 0.0), Y(0.064))
        head_r = (L * (0.05 if side else 0.052) * sx(0.06), L * 0.066 * sx(0.06))
        neck = (cx, Y(0.125))
        sh_y, hip_y = Y(0.168), Y(0.5)
        knee_y, ankle_y = Y(0.73), Y(0.965)
        stride = g.stride * (1.0 + rng.uniform(-0.15, 0.15))
        swing = stride * g.phase
        limbs = _side_limbs if side else _front_limbs
        shoulders, hips, legs, elbows, hands, near = limbs(g, L, sx, swing, sh_y, hip_y, knee_y, ankle_y)
        if ident.carry == "phone" and g.view != "back":  # the phone hand comes up to the chest
            k = 1
            hands[k] = (cx + (face * L * 0.06 if side else L * 0.04), Y(0.33))
            elbows[k] = (elbows[k][0] + (face * L * 0.02 if side else 0.0), Y(0.38))
        return Pose(head_c, head_r, neck, shoulders, hips, [k for k, _ in legs], [a for _, a in legs],
                    elbows, hands, near, L, Y(0.42), hip_y)

    def _ground_shadow(self, cv: Canvas, pose: Pose, g: Figure) -> None:
        """A soft shadow on the ground, cast away from the light, and darker contact under the feet."""
        fy = max(a[1] for a in pose.ankles) + pose.scale * 0.02
        fx = sum(a[0] for a in pose.ankles) / 2
        length = pose.scale * 0.28
        # Away from the light, flattened onto the ground plane.
        p = cv.shape((fx, fy), (fx - cv.light[0] * length, fy + 0.15 * length), [0, 1],
                     [pose.scale * 0.07, pose.scale * 0.1])
        if p is not None:
            a = p.alpha * (0.45 * (1 - p.t * 0.6)) * np.clip(p.nz, 0, 1) ** 0.6
            cv.rgb[p.ys, p.xs] *= (1.0 - a)[..., None]
        for ax_, ay_ in pose.ankles:
            q = cv.ellipse((ax_, ay_ + pose.scale * 0.03), pose.scale * 0.045, pose.scale * 0.014)
            if q is not None:
                cv.rgb[q.ys, q.xs] *= (1.0 - 0.45 * q.alpha * q.nz)[..., None]

    # ---- materials -----------------------------------------------------------------------------

    def _cloth(self, p: Patch | None, colour: RGB, fabric: Fabric, offs: tuple[int, int], scale: float,
               pattern: str = "plain", vertical_folds: bool = False) -> np.ndarray | None:
        """A garment's colour under light: texture, folds, pattern, sheen."""
        if p is None:
            return None
        base = _rgb(colour)
        oy, ox = offs
        k = scale / 200.0  # features scale with the person
        # Weave, ribs and twill are under a pixel on a person under 100 px tall: only folds and fading show.
        fine = scale >= 100
        grain = self.tex.sample(self.tex.fine, p, oy, ox) if fine else 0.0
        tone = 1.0 + fabric.grain * grain if fine else np.ones_like(p.alpha)
        if fabric.folds:
            # Creases: soft noise stretched across the garment (sleeves and legs crease across, coats and
            # dresses hang in vertical folds); the spacing scales with the person.
            fast, slow = 16.0 / (fabric.fold_px * k), 2.0 / (fabric.fold_px * k)
            along, across = (slow, fast) if vertical_folds else (fast, slow)
            folds = self.tex.local(self.tex.soft, p, along, across, oy + 31, ox + 17)
            tone = tone - fabric.folds * np.clip(folds, -1.0, 1.5)
        if fabric.ribs and fine:
            tone = tone - fabric.ribs * (0.5 + 0.5 * np.sin(p.across / (1.2 * k + 0.35) * math.pi))
        if fabric.twill and fine:
            tone = tone + fabric.twill * np.sin((p.along + p.across) / (1.1 * k + 0.4) * math.pi)
        if fabric.fade:
            tone = tone + fabric.fade * np.clip(1.0 - np.abs(p.nx) * 1.6, 0, 1) * (0.5 + 0.5 * grain * 0.3)
        col = base[None, None, :] * tone[..., None]
        if pattern != "plain":
            other = _rgb(_contrast(colour))
            period = max(3.0, 7.0 * k)
            stripe = (np.sin(p.along / period * 2 * math.pi) > 0.1).astype(np.float32)
            if pattern == "checked":
                check = (np.sin(p.across / period * 2 * math.pi) > 0.1).astype(np.float32)
                mix = 0.5 * stripe + 0.5 * check
            else:
                mix = stripe
            col = col + (other - base)[None, None, :] * (mix * 0.85)[..., None] * tone[..., None]
        return _lit(p, col, ambient=0.4, shine=fabric.shine)

    def _skin(self, p: Patch | None, g: Figure) -> np.ndarray | None:
        if p is None:
            return None
        # Skin scatters light: a higher ambient term and a warm shadow.
        col = _lit(p, _rgb(g.skin), ambient=0.55)
        return col * np.array([1.0, 0.97, 0.95], dtype=np.float32)

    def _plain(self, p: Patch | None, colour: RGB, shine: float = 0.05, grain: float = 0.02,
               offs: tuple[int, int] = (0, 0)) -> np.ndarray | None:
        if p is None:
            return None
        tone = 1.0 + grain * self.tex.sample(self.tex.fine, p, *offs)
        return _lit(p, _rgb(colour)[None, None, :] * tone[..., None], ambient=0.4, shine=shine)

    # ---- the person, back to front ---------------------------------------------------------------

    def _person(self, cv: Canvas, ident: Identity, g: Figure, umbrella: RGB | None, pose: Pose,
                rng: np.random.Generator) -> None:
        offs = [(int(rng.integers(0, 256)), int(rng.integers(0, 256))) for _ in range(8)]
        upper_fab = FABRICS[UPPER_FABRIC.get(ident.upper_type, "cotton")]
        if ident.upper_type == "jacket":  # leather in dark colours, padded nylon otherwise
            upper_fab = FABRICS["leather" if ident.upper_colour in ("black", "brown") else "nylon"]
        lower_fab = FABRICS[LOWER_FABRIC.get(ident.lower_type, "cotton")]

        if ident.hair_style == "long" and g.view == "front":
            self._long_hair(cv, ident, g, pose, behind=True)
        if ident.bag == "backpack" and g.view != "back":
            self._backpack(cv, g, pose, behind=True)
        if g.side:  # the far arm, in shadow
            self._arm(cv, ident, g, pose, 0, upper_fab, offs[2], dim=0.8)
        for k in (0, 1):  # the far leg first in side views
            self._leg(cv, ident, g, pose, k, lower_fab, offs[1], dim=0.82 if g.side and k == 0 else 1.0)
        self._torso(cv, ident, g, pose, upper_fab, lower_fab, offs[0])
        arms = [1] if g.side else [0, 1]
        for k in arms:
            self._arm(cv, ident, g, pose, k, upper_fab, offs[2])
        self._bags(cv, ident, g, pose, offs[3])
        self._head(cv, ident, g, pose, offs[4])
        self._headwear(cv, ident, g, pose)
        self._carried(cv, ident, g, pose, umbrella)

    def _leg(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, k: int, fab: Fabric,
             offs: tuple[int, int], dim: float = 1.0) -> None:
        L = pose.scale * (1.0 if g.bw < 1 else g.bw ** 0.5)
        hip, knee, ankle = pose.hips[k], pose.knees[k], pose.ankles[k]
        lt = ident.lower_type
        covered = lt in ("trousers", "jeans")
        # bare leg underneath (thigh, shin)
        thigh_w = [L * 0.06, L * 0.04]
        shin_w = [L * 0.038, L * 0.024]
        if not covered:
            for a, b, ws in ((hip, knee, thigh_w), (knee, ankle, shin_w)):
                p = cv.shape(a, b, [0, 1], ws)
                col = self._skin(p, g)
                if col is not None:
                    cv.fill(p, col * dim)
        if lt in ("trousers", "jeans", "shorts"):
            slim = 0.92 if lt == "jeans" else 1.05
            if lt == "shorts":
                end = (hip[0] + (knee[0] - hip[0]) * 0.62, hip[1] + (knee[1] - hip[1]) * 0.62)
                p = cv.shape(hip, end, [0, 1], [L * 0.066, L * 0.06], round_ends=(True, False))
                col = self._cloth(p, g.lower, fab, offs, pose.scale)
                if col is not None:
                    cv.fill(p, col * dim)
            else:
                for a, b, ws in ((hip, knee, [L * 0.066 * slim, L * 0.05 * slim]),
                                 (knee, ankle, [L * 0.049 * slim, L * (0.037 if lt == "jeans" else 0.042)])):
                    p = cv.shape(a, b, [0, 1], ws, round_ends=(True, b is knee))
                    col = self._cloth(p, g.lower, fab, offs, pose.scale)
                    if col is not None:
                        cv.fill(p, col * dim)
                if lt == "jeans":  # the outer seam and a turned-up hem
                    sgn = -1 if k == 0 else 1
                    if not g.side and L >= 80:
                        q = cv.shape((hip[0] + sgn * L * 0.05, hip[1]), (ankle[0] + sgn * L * 0.028, ankle[1] - L * 0.01),
                                     [0, 1], [0.6, 0.6])
                        if q is not None:
                            cv.rgb[q.ys, q.xs] *= (1 - 0.25 * q.alpha * cv.body[q.ys, q.xs])[..., None]
        self._shoe(cv, ident, g, pose, k, dim)

    def _shoe(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, k: int, dim: float) -> None:
        L = pose.scale
        ax_, ay_ = pose.ankles[k]
        st = ident.shoes_type
        toe = g.face if g.side else 0
        length = L * (0.075 if g.side else 0.04)
        if st == "boots":  # the shaft over the ankle
            p = cv.shape((ax_, ay_ - L * 0.075), (ax_, ay_ + L * 0.01), [0, 1], [L * 0.03, L * 0.028])
            col = self._plain(p, g.shoes, shine=0.3, grain=0.02)
            if col is not None:
                cv.fill(p, col * dim)
        if st == "sandals":
            p = cv.shape((ax_ - toe * L * 0.01, ay_), (ax_ + toe * length, ay_ + L * 0.025), [0, 1], [L * 0.018, L * 0.016])
            col = self._skin(p, g)
            if col is not None:
                cv.fill(p, col * dim)
            q = cv.shape((ax_ - L * 0.02, ay_ + L * 0.022), (ax_ + toe * length + L * 0.02 * (1 - abs(toe)), ay_ + L * 0.024),
                         [0, 1], [L * 0.007, L * 0.007])
            col = self._plain(q, g.shoes)
            if col is not None:
                cv.fill(q, col * dim)
            return
        a = (ax_ - toe * L * 0.018, ay_ + L * 0.012)
        b = (ax_ + toe * length, ay_ + L * 0.02) if g.side else (ax_, ay_ + L * 0.025)
        w = L * 0.022 if g.side else L * 0.026
        p = cv.shape(a, b, [0, 1], [w, w * 0.85])
        col = self._plain(p, g.shoes, shine={"shoes": 0.35, "boots": 0.25, "sneakers": 0.05}.get(st, 0.05))
        if col is not None:
            cv.fill(p, col * dim)
        if st == "sneakers" and p is not None:  # a white rubber sole: the downward-facing part of the shoe
            sole = _clip01((p.ny - 0.25) * 3.0)
            cv.fill(p, np.full(p.alpha.shape + (3,), 0.88, dtype=np.float32) * dim, clip=sole)

    def _torso(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, fab: Fabric, lower_fab: Fabric,
               offs: tuple[int, int]) -> None:
        L = pose.scale
        bw = g.bw
        cx = g.cx
        sh_y = pose.shoulders[0][1]
        hip_y = pose.hip_y
        ut = ident.upper_type
        if g.side:
            sh, chest, waist, hip = L * 0.062 * bw, L * 0.075 * bw, L * 0.065 * bw, L * 0.07 * bw
            cx_t = cx - g.face * L * 0.005
        else:
            sh = abs(pose.shoulders[1][0] - pose.shoulders[0][0]) / 2 + L * 0.012
            chest = sh * 0.92
            waist = sh * (0.7 if g.woman else 0.8)
            hip = (abs(pose.hips[1][0] - pose.hips[0][0]) / 2 + L * 0.05) * 1.0
            cx_t = cx
        # Skirt first (the top's hem goes over its waistband).
        if ident.lower_type == "skirt":
            top, bot = (cx, hip_y - L * 0.03), (cx, pose.hip_y + L * 0.2)
            p = cv.shape(top, bot, [0, 1], [hip * 0.95, hip * 1.45], round_ends=(False, False), flat=0.7)
            col = self._cloth(p, g.lower, lower_fab, offs, L, vertical_folds=True)
            if col is not None:
                cv.fill(p, col)
        bottom_f = {"coat": 0.78, "jacket": 0.53, "hoodie": 0.53, "dress": 0.73}.get(ut, 0.52)
        bottom_y = g.top + bottom_f * g.ph * (pose.hip_y - g.top) / (0.5 * g.ph)
        if ut == "dress":
            ts = [0, 0.08, 0.3, 0.5, 0.62, 1.0]
            ws = [sh * 0.9, sh, chest, waist, hip * 1.02, hip * 1.55]
        elif ut == "coat":
            ts = [0, 0.08, 0.3, 0.45, 0.6, 1.0]
            ws = [sh * 0.95, sh * 1.04, chest * 1.05, waist * 1.08, hip * 1.12, hip * 1.28]
        else:
            ts = [0, 0.12, 0.45, 0.75, 1.0]
            loose = 1.05 if ut in ("hoodie", "jacket", "sweater") else 1.0
            ws = [sh * 0.8, sh * loose, chest * loose, waist * loose, hip * loose * 0.97]
        # A flat top: the shoulders' roundness comes from the sleeves' caps.
        a, b = (cx_t, sh_y - L * 0.025), (cx_t, bottom_y)
        p = cv.shape(a, b, ts, ws, round_ends=(g.side, False), flat=0.6)
        pattern = ident.upper_pattern
        col = self._cloth(p, g.upper, fab, offs, L, pattern=pattern, vertical_folds=ut in ("coat", "dress"))
        if col is None:
            return
        # Under the chest and above the hem: ambient occlusion of a rounded body.
        col = col * (1.0 - 0.12 * np.clip((p.t - 0.45) * 2, 0, 1))[..., None]
        cv.fill(p, col)
        # Shadow of the head on the upper chest.
        cv.darken(cv.ellipse((cx_t - cv.light[0] * L * 0.01, sh_y + L * 0.005), L * 0.04, L * 0.025), 0.35)
        self._garment_details(cv, ident, g, pose, p, sh, waist, bottom_y)

    def _garment_details(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, torso: Patch, sh: float,
                         waist: float, bottom_y: float) -> None:
        """What tells the garment types apart: zip and lapels, buttons, collar, kangaroo pocket, hood,
        ribbed hem, neckline."""
        L = pose.scale
        cx = g.cx
        sh_y = pose.shoulders[0][1]
        ut = ident.upper_type
        upper = _rgb(g.upper)
        dark = upper * 0.45

        def line(a, b, width, colour, amount=1.0):
            q = cv.shape(a, b, [0, 1], [width, width])
            if q is not None:
                cv.fill(q, _lit(q, np.broadcast_to(colour, q.alpha.shape + (3,)).astype(np.float32), ambient=0.6),
                        clip=np.full_like(q.alpha, amount))

        if g.view == "front":
            if ut in ("jacket", "coat"):
                line((cx, sh_y + L * 0.02), (cx, bottom_y - 1), max(0.7, L * 0.004), dark)  # opening
                for sgn in (-1, 1):  # lapels / collar
                    line((cx + sgn * sh * 0.45, sh_y - L * 0.01), (cx + sgn * L * 0.008, sh_y + L * 0.075), max(0.8, L * 0.006),
                         upper * 0.7 if ut == "coat" else _rgb(_contrast(g.upper)) * 0.8 + upper * 0.2)
                if ut == "coat" and L >= 80:  # buttons: below a pixel on a smaller person
                    for by in (0.27, 0.34, 0.41, 0.48):
                        yb = pose.neck[1] + (by - 0.135) * L * 1.05
                        q = cv.ellipse((cx + L * 0.018, yb), max(0.8, L * 0.007), max(0.8, L * 0.007))
                        cv.fill(q, np.broadcast_to(upper * 0.35, q.alpha.shape + (3,)).astype(np.float32) if q else None)
                elif ut == "jacket" and L >= 80:  # a zip pull catches the light
                    line((cx, sh_y + L * 0.08), (cx, sh_y + L * 0.1), max(0.7, L * 0.004),
                         np.array([0.8, 0.8, 0.8], np.float32))
            elif ut == "shirt":
                other = _rgb(_contrast(g.upper)) * 0.6 + upper * 0.4
                for sgn in (-1, 1):
                    line((cx + sgn * L * 0.035, sh_y - L * 0.012), (cx + sgn * L * 0.006, sh_y + L * 0.03),
                         max(0.8, L * 0.008), other)
                line((cx, sh_y + L * 0.03), (cx, bottom_y - 1), max(0.6, L * 0.003), upper * 0.65)
            elif ut == "hoodie":
                q = cv.shape((cx - waist * 0.55, pose.waist_y + L * 0.02), (cx + waist * 0.55, pose.waist_y + L * 0.02),
                             [0, 1], [L * 0.035, L * 0.035], round_ends=(False, False))
                if q is not None:
                    cv.rgb[q.ys, q.xs] *= (1 - 0.2 * q.alpha * (np.abs(q.across) > L * 0.03))[..., None]
                for sgn in (-1, 1) if L >= 80 else ():  # drawstrings
                    line((cx + sgn * L * 0.018, sh_y + L * 0.005), (cx + sgn * L * 0.02, sh_y + L * 0.08), max(0.6, L * 0.003),
                         np.array([0.88, 0.88, 0.86], np.float32))
            elif ut in ("t-shirt", "dress", "sweater"):
                q = cv.ellipse((cx, sh_y - L * 0.012), L * 0.038, L * 0.03)
                if q is not None:
                    below = np.clip((q.along + L * 0.004) / 1.0, 0, 1)
                    col = self._skin(q, g)
                    cv.fill(q, col, clip=below)
        if ut == "hoodie" and g.view != "front":  # the hood lying on the back/shoulders
            hx = cx - (g.face * L * 0.035 if g.side else 0)
            q = cv.ellipse((hx, sh_y + L * 0.005), L * (0.045 if g.side else 0.06), L * 0.04)
            cv.fill(q, _lit(q, np.broadcast_to(upper * 0.85, q.alpha.shape + (3,)).astype(np.float32)) if q else None)
        if ut == "sweater":  # ribbed hem band
            q = cv.shape((cx - waist * 1.05, bottom_y - L * 0.012), (cx + waist * 1.05, bottom_y - L * 0.012), [0, 1],
                         [L * 0.011, L * 0.011], round_ends=(False, False))
            if q is not None:
                cv.rgb[q.ys, q.xs] *= (1 - 0.18 * q.alpha * (np.sin(q.along / 1.4) > 0))[..., None]

    def _arm(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, k: int, fab: Fabric, offs: tuple[int, int],
             dim: float = 1.0) -> None:
        L = pose.scale * g.bw ** 0.5
        sh = pose.shoulders[k]
        if not g.side:  # the arm hangs from inside the shoulder's edge, close to the body
            sh = (sh[0] - (1 if k else -1) * L * 0.012, sh[1] + L * 0.022)
        el, hand = pose.elbows[k], pose.hands[k]
        bulk = 1.2 if ident.upper_type in ("coat", "jacket", "hoodie") else 1.0
        if not g.side or k == 1:
            # The arm's soft shadow on the torso beside it, on the side away from the light (drawn
            # first: the arm then covers all but the shadow's edge).
            shift = -cv.light[0] * L * 0.03
            d = cv.shape((sh[0] + shift, sh[1] + L * 0.02), (el[0] + shift, el[1] + L * 0.02), [0, 1],
                         [L * 0.045, L * 0.04])
            cv.darken(d, 0.3)
        # skin first, the sleeve over it (a long sleeve ends where the hand begins: no skin between)
        bare = () if ident.sleeves == "long" else ((sh, el, [L * 0.034, L * 0.027]), (el, hand, [L * 0.026, L * 0.02]))
        for a, b, ws in bare:
            p = cv.shape(a, b, [0, 1], ws)
            col = self._skin(p, g)
            if col is not None:
                cv.fill(p, col * dim)
        if ident.sleeves == "long":
            cuff = (el[0] + (hand[0] - el[0]) * 0.82, el[1] + (hand[1] - el[1]) * 0.82)
            segs = [(sh, el, [L * 0.041 * bulk, L * 0.034 * bulk]), (el, cuff, [L * 0.03 * bulk, L * 0.025 * bulk])]
        else:
            mid = (sh[0] + (el[0] - sh[0]) * 0.5, sh[1] + (el[1] - sh[1]) * 0.5)
            segs = [(sh, mid, [L * 0.042, L * 0.038])]
        for i, (a, b, ws) in enumerate(segs):
            p = cv.shape(a, b, [0, 1], ws, round_ends=(True, i == 0 and len(segs) > 1))
            pattern = "plain" if ident.upper_pattern == "plain" else "striped"  # sleeves: stripes show, checks too
            col = self._cloth(p, g.upper, fab, offs, pose.scale, pattern=pattern)
            if col is not None:
                cv.fill(p, col * dim)
        q = cv.ellipse(hand, L * 0.019, L * 0.022)
        col = self._skin(q, g)
        if col is not None:
            cv.fill(q, col * dim)

    def _bags(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, offs: tuple[int, int]) -> None:
        L = pose.scale
        cx = g.cx
        bag = ident.bag
        if bag == "none" or g.bagc is None:
            return
        colour = g.bagc
        sh_y = pose.shoulders[0][1]
        fab = FABRICS["nylon"] if bag == "backpack" else FABRICS["leather"]

        def strap(a, b, width=L * 0.009):
            q = cv.shape(a, b, [0, 1], [width, width])
            col = self._plain(q, colour, shine=0.1)
            if col is not None:
                cv.fill(q, col * 0.85)

        if bag == "backpack":
            if g.view == "back":
                self._backpack(cv, g, pose, behind=False)
            elif g.view == "front":
                for sgn in (-1, 1):
                    strap((cx + sgn * L * 0.06, sh_y - L * 0.01), (cx + sgn * L * 0.075, pose.waist_y - L * 0.02), L * 0.012)
            else:
                strap((cx + g.face * L * 0.01, sh_y - L * 0.01), (cx + g.face * L * 0.02, pose.waist_y), L * 0.011)
        elif bag == "shoulder bag":
            if g.side:
                strap((cx, sh_y - L * 0.01), (cx + g.face * L * 0.01, pose.hip_y - L * 0.04))
                p = cv.shape((cx, pose.hip_y - L * 0.045), (cx, pose.hip_y + L * 0.035), [0, 1], [L * 0.045, L * 0.045],
                             round_ends=(False, False), flat=0.4)
            else:
                strap((cx - L * 0.07, sh_y - L * 0.01), (cx + L * 0.1, pose.hip_y - L * 0.04))
                p = cv.shape((cx + L * 0.11, pose.hip_y - L * 0.05), (cx + L * 0.11, pose.hip_y + L * 0.035), [0, 1],
                             [L * 0.045, L * 0.045], round_ends=(False, False), flat=0.4)
            col = self._cloth(p, colour, fab, offs, L)
            if col is not None:
                cv.fill(p, col)
        elif bag == "handbag":
            hx, hy = pose.hands[0]
            q = cv.shape((hx - L * 0.02, hy + L * 0.02), (hx, hy - L * 0.005), [0, 1], [L * 0.006, L * 0.006])
            if q is not None:
                cv.fill(q, self._plain(q, colour))
            q = cv.shape((hx + L * 0.02, hy + L * 0.02), (hx, hy - L * 0.005), [0, 1], [L * 0.006, L * 0.006])
            if q is not None:
                cv.fill(q, self._plain(q, colour))
            p = cv.shape((hx, hy + L * 0.02), (hx, hy + L * 0.085), [0, 1], [L * 0.035, L * 0.045], round_ends=(False, False),
                         flat=0.5)
            col = self._cloth(p, colour, fab, offs, L)
            if col is not None:
                cv.fill(p, col)

    def _backpack(self, cv: Canvas, g: Figure, pose: Pose, behind: bool) -> None:
        L = pose.scale
        cx = g.cx
        sh_y = pose.shoulders[0][1]
        colour = g.bagc
        if colour is None:
            return
        if g.side:
            bx = cx - g.face * L * 0.085
            p = cv.shape((bx, sh_y + L * 0.01), (bx, pose.waist_y + L * 0.02), [0, 0.5, 1], [L * 0.045, L * 0.055, L * 0.05],
                         flat=0.8)
        elif behind:  # seen from the front: its sides show beyond the shoulders
            p = cv.shape((cx, sh_y + L * 0.01), (cx, pose.waist_y + L * 0.01), [0, 1], [L * 0.125, L * 0.125],
                         round_ends=(True, False), flat=0.6)
        else:
            p = cv.shape((cx, sh_y + L * 0.02), (cx, pose.waist_y + L * 0.04), [0, 0.2, 1], [L * 0.075, L * 0.088, L * 0.092],
                         round_ends=(True, False), flat=0.5)
        col = self._cloth(p, colour, FABRICS["nylon"], (40, 90), L)
        if col is None:
            return
        cv.fill(p, col * (0.75 if behind else 1.0))
        if not behind and not g.side:  # the front pocket's seam
            q = cv.shape((cx - L * 0.06, pose.waist_y - L * 0.02), (cx + L * 0.06, pose.waist_y - L * 0.02), [0, 1], [0.7, 0.7])
            if q is not None:
                cv.rgb[q.ys, q.xs] *= (1 - 0.35 * q.alpha)[..., None]

    def _long_hair(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, behind: bool) -> None:
        L = pose.scale
        (hx, hy), (rx, ry) = pose.head, pose.head_r
        p = cv.shape((hx, hy - ry * 0.3), (hx, pose.shoulders[0][1] + L * (0.1 if not behind else 0.08)), [0, 0.6, 1],
                     [rx * 1.12, rx * 1.18, rx * 1.05], round_ends=(True, False), flat=0.8)
        col = self._hair(p, g)
        if col is not None:
            cv.fill(p, col)

    def _hair(self, p: Patch | None, g: Figure) -> np.ndarray | None:
        if p is None:
            return None
        strands = self.tex.sample(self.tex.strands, p, 13, 57)
        base = _rgb(g.hair)[None, None, :] * (1.0 + 0.16 * strands)[..., None]
        # Hair sheen: a band of highlight across the strands.
        return _lit(p, base, ambient=0.45, shine=0.12 + 0.25 * float(_rgb(g.hair).mean()), power=8)

    def _head(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, offs: tuple[int, int]) -> None:
        L = pose.scale
        (hx, hy), (rx, ry) = pose.head, pose.head_r
        face = g.face
        style = ident.hair_style
        # neck, with the head's shadow on it
        p = cv.shape((pose.neck[0], hy + ry * 0.5), (pose.neck[0], pose.shoulders[0][1] + L * 0.005), [0, 1],
                     [L * 0.026, L * 0.03])
        col = self._skin(p, g)
        if col is not None:
            cv.fill(p, col * (1.0 - 0.35 * np.clip(1.0 - p.t * 1.5, 0, 1))[..., None])
        head = cv.ellipse((hx, hy), rx, ry)
        if head is None:
            return
        skin = self._skin(head, g)
        if g.view == "back" and style != "bald":
            cv.fill(head, self._hair(head, g))
        else:
            cv.fill(head, skin)
            if g.view != "back":
                self._face(cv, ident, g, pose)
            if style != "bald":
                self._hair_cap(cv, g, pose, head)
        if g.view == "back" and style == "long":
            self._long_hair(cv, ident, g, pose, behind=False)
        if style == "ponytail" and g.view != "front":
            bx = hx - (face * rx * 0.9 if g.side else 0)
            q = cv.shape((bx, hy - ry * 0.1), (bx - (face * L * 0.012 if g.side else 0), hy + ry * 1.35), [0, 0.3, 1],
                         [L * 0.016, L * 0.02, L * 0.01])
            cv.fill(q, self._hair(q, g))
        if style == "bun":
            bx = hx - (face * rx * 0.7 if g.side else 0)
            by = hy - ry * (0.85 if g.view == "front" else 0.7)
            q = cv.ellipse((bx, by), L * 0.026, L * 0.024)
            cv.fill(q, self._hair(q, g))

    def _hair_cap(self, cv: Canvas, g: Figure, pose: Pose, head: Patch) -> None:
        """Hair over the top (and, in side views, the back) of the head: the head's shape above a hairline."""
        (hx, hy), (rx, ry) = pose.head, pose.head_r
        p = cv.ellipse((hx, hy - ry * 0.04), rx * 1.08, ry * 1.06)
        if p is None:
            return
        X = p.across / (rx * 1.08)
        Y = p.along / (ry * 1.06)
        if g.side:
            f = g.face
            # hair covers the back half and the top; the hairline runs from the brow to behind the ear
            keep = np.clip(((-f * X) * 1.2 + 0.25 - Y * 0.9) * 4, 0, 1)
            keep = np.maximum(keep, np.clip((-0.3 - Y) * 5, 0, 1))
        else:
            hairline = -0.28 + 0.25 * X * X  # a rounded brow line
            keep = np.clip((hairline - Y) * 6, 0, 1)
            keep = np.maximum(keep, np.clip((np.abs(X) - 0.86) * 8, 0, 1) * (Y < 0.35))  # at the temples
        cv.fill(p, self._hair(p, g), clip=keep)

    def _face(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose) -> None:
        """Eyes, brows, nose shade and mouth, a pixel or two each at this scale; glasses."""
        (hx, hy), (rx, ry) = pose.head, pose.head_r
        L = pose.scale
        dark = np.array([0.12, 0.09, 0.08], np.float32)
        skin = _rgb(g.skin)

        def dab(x, y, r_x, r_y, colour, amount):
            q = cv.ellipse((x, y), max(r_x, 0.6), max(r_y, 0.5))
            if q is not None:
                cv.fill(q, np.broadcast_to(colour, q.alpha.shape + (3,)).astype(np.float32), clip=np.full_like(q.alpha, amount))

        eye_y = hy + ry * 0.02
        if rx < 3.0:  # a head a few pixels wide: features merge into one shadow across the eyes
            if not g.side:
                dab(hx, eye_y, rx * 0.6, ry * 0.09, skin * 0.5, 0.6)
        elif g.side:
            ex = hx + g.face * rx * 0.55
            dab(ex, eye_y, rx * 0.12, ry * 0.07, dark, 0.8)
            dab(ex, eye_y - ry * 0.16, rx * 0.18, ry * 0.05, _rgb(g.hair) * 0.8, 0.6)
            dab(hx + g.face * rx * 0.95, hy + ry * 0.2, rx * 0.12, ry * 0.1, skin * 0.95, 1.0)  # nose
            dab(hx - g.face * rx * 0.1, hy + ry * 0.05, rx * 0.14, ry * 0.16, skin * 0.75, 0.6)  # ear
            dab(hx + g.face * rx * 0.65, hy + ry * 0.5, rx * 0.14, ry * 0.03, skin * 0.6, 0.6)
        else:
            for sgn in (-1, 1):
                dab(hx + sgn * rx * 0.38, eye_y, rx * 0.13, ry * 0.065, dark, 0.85)
                dab(hx + sgn * rx * 0.38, eye_y - ry * 0.17, rx * 0.2, ry * 0.045, _rgb(g.hair) * 0.8, 0.55)
            dab(hx + rx * 0.08, hy + ry * 0.3, rx * 0.09, ry * 0.12, skin * 0.72, 0.5)  # nose shadow
            dab(hx, hy + ry * 0.55, rx * 0.22, ry * 0.04, skin * 0.55, 0.7)  # mouth
        if ident.glasses:
            frame = np.array([0.06, 0.06, 0.07], np.float32)
            lw = max(0.5, L * 0.0035)
            if g.side:
                gx = hx + g.face * rx * 0.55
                for a, b in (((gx - rx * 0.15, eye_y - ry * 0.1), (gx + rx * 0.15, eye_y - ry * 0.1)),
                             ((gx - rx * 0.15, eye_y + ry * 0.1), (gx + rx * 0.15, eye_y + ry * 0.1)),
                             ((gx - g.face * rx * 0.15, eye_y - ry * 0.05), (hx - g.face * rx * 0.2, eye_y - ry * 0.1))):
                    q = cv.shape(a, b, [0, 1], [lw, lw])
                    if q is not None:
                        cv.fill(q, np.broadcast_to(frame, q.alpha.shape + (3,)).astype(np.float32))
            else:
                for sgn in (-1, 1):
                    ex = hx + sgn * rx * 0.4
                    q = cv.ellipse((ex, eye_y), rx * 0.3, ry * 0.17)
                    if q is not None:
                        rr = np.sqrt((q.across / (rx * 0.3)) ** 2 + (q.along / (ry * 0.17)) ** 2)
                        ring = np.clip(1.0 - np.abs(rr - 0.9) * (rx * 0.3) / lw, 0, 1)
                        cv.fill(q, np.broadcast_to(frame, q.alpha.shape + (3,)).astype(np.float32), clip=ring)
                        # glass: a faint reflection
                        cv.fill(q, np.broadcast_to(np.float32(0.8), q.alpha.shape + (3,)).astype(np.float32),
                                clip=(rr < 0.85) * 0.12)
                q = cv.shape((hx - rx * 0.12, eye_y), (hx + rx * 0.12, eye_y), [0, 1], [lw, lw])
                if q is not None:
                    cv.fill(q, np.broadcast_to(frame, q.alpha.shape + (3,)).astype(np.float32))

    def _headwear(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose) -> None:
        if ident.headwear == "none" or g.hatc is None:
            return
        (hx, hy), (rx, ry) = pose.head, pose.head_r
        colour = g.hatc
        if ident.headwear == "cap":
            p = cv.ellipse((hx, hy - ry * 0.3), rx * 1.06, ry * 0.8)
            if p is not None:
                crown = np.clip((-p.along / (ry * 0.8) + 0.05) * 6, 0, 1)
                cv.fill(p, self._plain(p, colour, shine=0.05, grain=0.04), clip=crown)
            if g.side:
                a, b = (hx + g.face * rx * 0.6, hy - ry * 0.3), (hx + g.face * rx * 1.55, hy - ry * 0.22)
                q = cv.shape(a, b, [0, 1], [ry * 0.07, ry * 0.06])
            elif g.view == "front":
                q = cv.ellipse((hx, hy - ry * 0.3), rx * 1.0, ry * 0.17)
            else:
                q = None
            if q is not None:
                cv.fill(q, self._plain(q, colour, shine=0.03) * 0.75)
        else:  # a hat: a brim and a crown
            q = cv.ellipse((hx, hy - ry * 0.45), rx * 1.65, ry * 0.2)
            if q is not None:
                cv.fill(q, self._plain(q, colour, shine=0.02, grain=0.05) * 0.8)
            p = cv.shape((hx, hy - ry * 1.3), (hx, hy - ry * 0.5), [0, 1], [rx * 0.82, rx * 0.92],
                         round_ends=(True, False), flat=0.8)
            if p is not None:
                cv.fill(p, self._plain(p, colour, shine=0.04, grain=0.05))
                band = (p.t > 0.72).astype(np.float32) * 0.6
                cv.rgb[p.ys, p.xs] *= (1 - band * p.alpha * 0.5)[..., None]

    def _carried(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, umbrella: RGB | None) -> None:
        L = pose.scale
        hx, hy = pose.hands[-1]
        if ident.carry == "umbrella" and umbrella is not None:
            top_y = g.top - L * 0.05
            q = cv.shape((hx, hy), (hx, top_y + L * 0.08), [0, 1], [max(0.7, L * 0.005)] * 2)
            if q is not None:
                cv.fill(q, np.broadcast_to(np.float32(0.15), q.alpha.shape + (3,)).astype(np.float32))
            p = cv.ellipse((hx, top_y + L * 0.1), L * 0.26, L * 0.13)
            if p is not None:
                dome = (p.along < 0).astype(np.float32)
                ribs = 1 - 0.12 * (np.sin(p.across / (L * 0.06) * math.pi) > 0.7)  # the canopy's panels
                col = _lit(p, _rgb(umbrella)[None, None, :] * ribs[..., None], ambient=0.5, shine=0.12)
                cv.fill(p, col, clip=dome)
        elif ident.carry == "phone" and g.view != "back":
            q = cv.shape((hx, hy - L * 0.03), (hx, hy + L * 0.005), [0, 1], [L * 0.011, L * 0.011], round_ends=(False, False))
            if q is not None:
                cv.fill(q, np.broadcast_to(np.array([0.05, 0.05, 0.07], np.float32), q.alpha.shape + (3,)).copy())
            q = cv.ellipse((hx, hy), L * 0.017, L * 0.018)
            if q is not None:
                cv.fill(q, self._skin(q, g))

    # ---- in front of the person ------------------------------------------------------------------

    def _occluder(self, cv: Canvas, g: Figure, occ: Occluder, rng: np.random.Generator) -> None:
        """The planned pole, passer-by or obstacle: lit volumes, the passer-by out of focus."""
        H, W = cv.h, cv.w
        if occ.kind == "pole":
            pw = occ.width / 2
            p = cv.shape((occ.x, -2), (occ.x, H + 2), [0, 1], [pw, pw], round_ends=(False, False))
            if p is not None:
                cv.fill(p, _lit(p, np.broadcast_to(_rgb(occ.colour), p.alpha.shape + (3,)).astype(np.float32), shine=0.35,
                                power=12), body=False)
        elif occ.kind == "person":
            ow = occ.width
            x = -ow * 0.2 if occ.left else W + ow * 0.2
            layer = Canvas(cv.rgb.copy(), cv.light)
            L = g.ph * rng.uniform(1.0, 1.15)  # nearer the camera than the person
            top = g.top - L * 0.02
            p = layer.shape((x, top + L * 0.2), (x, H + 10), [0, 0.2, 1], [ow * 0.7, ow, ow * 0.9], flat=0.8)
            col = self._plain(p, occ.colour, grain=0.03)
            if col is not None:
                legs = _clip01((p.t - 0.55) * 8)[..., None]  # darker trousers below the hips
                layer.fill(p, col * (1 - 0.55 * legs))
            hxp = x + (ow * 0.3 if occ.left else -ow * 0.3)
            q = layer.ellipse((hxp, top + L * 0.09), L * 0.05, L * 0.065)
            if q is not None:
                layer.fill(q, _lit(q, _rgb(SKIN_TONES[occ.skin]), ambient=0.55))
                hair = layer.ellipse((hxp, top + L * 0.07), L * 0.053, L * 0.055)
                if hair is not None:
                    layer.fill(hair, _lit(hair, _rgb((40, 30, 25))), clip=(hair.along < -L * 0.01).astype(np.float32))
            # out of focus: it is much nearer than the focus distance
            blurred = Image.fromarray(np.clip(layer.rgb * 255, 0, 255).astype(np.uint8)).filter(
                ImageFilter.GaussianBlur(rng.uniform(1.0, 2.5) * H / self.size[0]))
            cv.rgb = np.asarray(blurred, dtype=np.float32) / 255.0
        elif occ.kind == "obstacle":
            top = occ.top
            p = cv.shape((-10, top + (H - top) * 0.5), (W + 10, top + (H - top) * 0.5), [0, 1], [(H - top) * 0.5 + 4] * 2,
                         round_ends=(False, False), flat=0.5)
            if p is not None:
                # A wall, a planter or a bench in front: one of the wall photos, tinted by the planned colour.
                walls = _photos("wall_brick") + _photos("wall_stone") + _photos("wall_wood")
                wall = walls[int(rng.integers(len(walls)))]
                surface = wall[:p.alpha.shape[0], :p.alpha.shape[1]]
                if surface.shape[:2] != p.alpha.shape:
                    surface = _resize(wall, p.alpha.shape)
                base = surface * 0.5 + _rgb(occ.colour)[None, None, :] * surface.mean(axis=2, keepdims=True) * 1.1
                col = _lit(p, base, ambient=0.5, shine=0.1)
                # the top edge catches the light
                col = col * (1 + 0.25 * np.clip(1 - (p.across + (H - top) * 0.5) / 3, 0, 1))[..., None]
                cv.fill(p, col, body=False)

    # ---- the camera ----------------------------------------------------------------------------

    def _camera_effects(self, rgb: np.ndarray, plan: ShotPlan, k: float, rng: np.random.Generator) -> Image.Image:
        """Exposure, gamma and colour cast, defocus or motion blur, sensor noise and JPEG blocks at the
        camera's resolution, then enlarged to the dataset's size."""
        cam = plan.camera
        h, w = self.size
        mean_gain = float(np.mean(cam.gain))
        exposure = mean_gain * rng.uniform(0.9, 1.15)
        cast = cam.gain / mean_gain * rng.uniform(0.94, 1.06, 3)  # the plan's colour cast, and a little more
        gamma = rng.uniform(0.85, 1.2)
        # One lookup table per channel (exposure, gamma, cast, black level) instead of float maths per pixel.
        ramp = np.linspace(0.0, 1.0, 256) ** gamma * exposure
        lut = np.clip((ramp[None, :] * cast[:, None] + cam.offset / 255.0) * 255, 0, 255).astype(np.uint8)  # (3, 256)
        arr8 = np.clip(rgb * 255, 0, 255).astype(np.uint8)
        img = Image.fromarray(np.stack([lut[c][arr8[..., c]] for c in range(3)], axis=-1))
        # Street cameras render colours flatter than the eye sees them.
        sat = rng.uniform(0.7, 1.0)
        if sat < 0.98:
            grey = img.convert("L").convert("RGB")
            img = Image.blend(grey, img, sat)
        if cam.blur is not None:  # defocus: the plan's blur radius, at this resolution
            img = img.filter(ImageFilter.GaussianBlur(cam.blur * rng.uniform(0.8, 1.5) * max(k, 0.5)))
        arr = np.asarray(img, dtype=np.float32)
        if plan.action == "walking" and rng.random() < 0.35:  # motion blur along the walk
            n = int(rng.integers(2, 4))
            axis = 1 if plan.view in ("left", "right") else 0
            arr = sum(np.roll(arr, i - n // 2, axis=axis) for i in range(n)) / n
        # Sensor noise: shot noise grows with brightness, read noise does not.
        hs, ws = arr.shape[:2]
        ny, nx = cam.noise_yx
        noise = self.sensor[ny : ny + hs, nx : nx + ws]
        sigma = rng.uniform(1.5, 6.0)
        arr = arr + noise * (sigma * (0.5 + np.sqrt(arr * (1 / 255.0))))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        # The camera's own compression, at its own resolution, before the dataset's.
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(30, 80)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        if img.size != (w, h):
            img = img.resize((w, h), Image.Resampling.BILINEAR)
        return img


class MixedRenderer(CameraRenderer):
    """Half the pictures drawn, half through the camera, fixed per picture name (``crc32(name) % 2``), so
    a set made with it is its draw-rendered twin with every other picture swapped for the camera's. Both
    halves take the same plan from the picture's generator, so the captions equal both renderers'."""

    def __init__(self, size: tuple[int, int] = (256, 128), seed: int = 0) -> None:
        super().__init__(size, seed)
        self.draw = Renderer(size, seed)  # the camera renderer's own part painters take other arguments

    def render_named(self, name: str, ident: Identity, rng: np.random.Generator,
                     view: str | None = None) -> tuple[Image.Image, Shot]:
        if zlib.crc32(name.encode()) % 2:
            return self.render(ident, rng, view)
        return self.draw.render(ident, rng, view)
