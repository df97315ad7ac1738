"""The camera renderer's painting tools: body parts as lit, tapered volumes rasterised on a canvas, the
fabrics, skin and hair textures they are filled with, and the pose (joints) of a walking person."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from .shots import RGB, Figure

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
        t = clip01(along * (1.0 / length))
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
        alpha = clip01(0.5 - d)
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
        alpha = clip01((1.0 - np.sqrt(r2)) * min(rx, ry) + 0.5)
        if not alpha.any():
            return None
        nz = np.sqrt(np.maximum(1.0 - r2, 0.02))
        return Patch(slice(y0, y1), slice(x0, x1), alpha, Y * ry, X * rx, clip01(Y * 0.5 + 0.5),
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


def clip01(a: np.ndarray) -> np.ndarray:
    """np.clip(a, 0, 1) without its wrapper's overhead (it runs thousands of times a picture)."""
    return np.minimum(np.maximum(a, 0.0), 1.0)


def lit_colour(p: Patch, base: np.ndarray, ambient: float = 0.42, shine: float = 0.0, power: float = 18.0) -> np.ndarray:
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


def rgb_of(c: RGB) -> np.ndarray:
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


def side_limbs(g: Figure, L: float, sx, swing: float, sh_y: float, hip_y: float, knee_y: float, ankle_y: float):
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


def front_limbs(g: Figure, L: float, sx, swing: float, sh_y: float, hip_y: float, knee_y: float, ankle_y: float):
    """`side_limbs` for a figure seen from the front or back: the foot ahead is lower on screen, the
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
