"""SynthPedes: a procedural, labelled stand-in for CUHK-PEDES that needs no download.

Identities have fixed attributes (clothes, colours, bags, hair, ...); each is drawn with PIL several
times with a different view, pose, scale, background, occlusion, lighting, blur and noise, and each
picture gets two independently written captions in the style of CUHK-PEDES annotations. A share of the
identities are near-duplicates that differ from another identity in exactly one attribute, so that
fine detail decides the rank. Output is RSTPReid's format (``data_captions.json`` + ``imgs/``) plus
``attributes.json`` with every identity's ground truth. The same seed and sizes give byte-identical
files, whatever the number of worker processes.

It is synthetic and always called so: numbers measured on it never stand in for a real benchmark's.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..errors import LightCLIPError
from ..fileio import atomic_write_json, read_json_or_none
from ..outputs import OutputKind, check_output_dir, remove_owned
from ..registry import Registry, one_of

VERSION = 1

# --------------------------------------------------------------------------------------------------
# Attribute vocabulary
# --------------------------------------------------------------------------------------------------

# Base RGB of each colour name; every picture draws its own shade around it (see `shade`).
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (196, 32, 38),
    "blue": (38, 84, 196),
    "navy": (28, 36, 86),
    "light blue": (138, 184, 228),
    "green": (42, 136, 62),
    "yellow": (232, 204, 44),
    "orange": (236, 128, 34),
    "pink": (236, 150, 186),
    "purple": (116, 52, 146),
    "brown": (108, 70, 42),
    "black": (28, 28, 31),
    "white": (236, 236, 232),
    "grey": (126, 126, 128),
    "beige": (212, 192, 156),
}
HAIR_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (24, 20, 18),
    "brown": (88, 56, 32),
    "blonde": (214, 178, 96),
    "grey": (150, 148, 144),
    "red": (160, 66, 30),
}
SKIN_TONES = [(241, 206, 178), (224, 178, 140), (196, 144, 104), (150, 100, 66), (102, 66, 44)]

GENDERS = ("man", "woman")
AGES = ("young", "adult", "elderly")
HAIR_STYLES = ("short", "long", "ponytail", "bun", "bald")
UPPER_TYPES = ("t-shirt", "shirt", "jacket", "coat", "hoodie", "sweater", "dress")
LOWER_TYPES = ("trousers", "jeans", "shorts", "skirt")
SHOE_TYPES = ("sneakers", "boots", "shoes", "sandals")
BAG_TYPES = ("backpack", "handbag", "shoulder bag", "none")
HEADWEAR = ("hat", "cap", "none")
CARRY = ("umbrella", "phone", "none")
PATTERNS = ("plain", "striped", "checked")
VIEWS = ("front", "back", "left", "right")

# Attributes a near-duplicate may change (one of them, nothing else).
MUTABLE = (
    "upper_colour",
    "lower_colour",
    "shoes_colour",
    "bag",
    "bag_colour",
    "hair_colour",
    "headwear",
    "glasses",
    "upper_pattern",
    "carry",
    "upper_type",
    "lower_type",
)


@dataclass
class Identity:
    """Ground-truth attributes of one synthetic person (fixed across its pictures)."""

    pid: int
    gender: str
    age: str
    skin: int  # index into SKIN_TONES (rendered, never captioned)
    height: float  # relative body height
    build: float  # relative body width
    hair_style: str
    hair_colour: str
    upper_type: str
    upper_colour: str
    upper_pattern: str
    sleeves: str  # "long" | "short"
    lower_type: str  # "none" under a dress
    lower_colour: str
    shoes_type: str
    shoes_colour: str
    bag: str
    bag_colour: str  # "none" without a bag
    headwear: str
    headwear_colour: str
    glasses: bool
    carry: str
    carry_colour: str
    family: int = -1  # identities of one family differ in exactly one attribute
    twin_of: int = -1  # pid of the family's first identity, for a near-duplicate
    differs_in: str = ""  # the attribute that differs from that identity

    def captioned(self) -> dict[str, Any]:
        """The attributes as stored in attributes.json."""
        return {k: v for k, v in asdict(self).items() if k not in ("skin", "height", "build")}


def _pick(rng: np.random.Generator, options, p=None):
    return options[int(rng.choice(len(options), p=p))]


def _colour(rng: np.random.Generator, exclude: tuple[str, ...] = ()) -> str:
    names = [c for c in COLOURS if c not in exclude]
    return _pick(rng, names)


def sample_identity(rng: np.random.Generator, pid: int) -> Identity:
    """Draw one identity with plausible, mutually consistent attributes."""
    gender = _pick(rng, GENDERS)
    age = _pick(rng, AGES, p=[0.3, 0.5, 0.2])
    woman = gender == "woman"
    hair_style = _pick(rng, HAIR_STYLES, p=[0.15, 0.45, 0.22, 0.15, 0.03] if woman else [0.78, 0.08, 0.04, 0.0, 0.10])
    hair_colour = (
        _pick(rng, ("grey", "black", "brown"), p=[0.7, 0.15, 0.15])
        if age == "elderly"
        else _pick(rng, tuple(HAIR_COLOURS), p=[0.42, 0.3, 0.16, 0.02, 0.10])
    )
    upper_type = _pick(rng, UPPER_TYPES, p=[0.2, 0.14, 0.18, 0.12, 0.12, 0.12, 0.12] if woman else [0.24, 0.17, 0.21, 0.13, 0.13, 0.12, 0.0])
    sleeves = "short" if upper_type == "t-shirt" else (
        _pick(rng, ("long", "short"), p=[0.5, 0.5]) if upper_type in ("shirt", "dress") else "long"
    )
    upper_pattern = _pick(rng, PATTERNS, p=[0.7, 0.18, 0.12]) if upper_type in ("t-shirt", "shirt", "sweater", "dress") else "plain"
    upper_colour = _colour(rng)
    if upper_type == "dress":
        lower_type, lower_colour = "none", "none"
    else:
        lower_type = _pick(rng, LOWER_TYPES, p=[0.4, 0.3, 0.15, 0.15] if woman else [0.5, 0.35, 0.15, 0.0])
        lower_colour = (
            _pick(rng, ("blue", "navy", "light blue", "black", "grey"), p=[0.45, 0.2, 0.15, 0.12, 0.08])
            if lower_type == "jeans"
            else _colour(rng, exclude=(upper_colour,))
        )
    shoes_type = _pick(rng, SHOE_TYPES, p=[0.45, 0.2, 0.27, 0.08])
    shoes_colour = _pick(rng, ("black", "white", "brown", "grey", "red", "blue", "beige", "navy"), p=[0.34, 0.28, 0.14, 0.08, 0.04, 0.05, 0.04, 0.03])
    bag = _pick(rng, BAG_TYPES, p=[0.3, 0.18 if woman else 0.04, 0.2, 0.32 if woman else 0.46])
    bag_colour = "none" if bag == "none" else _colour(rng)
    headwear = _pick(rng, HEADWEAR, p=[0.1, 0.16, 0.74])
    headwear_colour = "none" if headwear == "none" else _colour(rng)
    carry = _pick(rng, CARRY, p=[0.1, 0.14, 0.76])
    carry_colour = _colour(rng) if carry == "umbrella" else ("black" if carry == "phone" else "none")
    return Identity(
        pid=pid,
        gender=gender,
        age=age,
        skin=int(rng.integers(len(SKIN_TONES))),
        height=float(rng.uniform(0.9, 1.0) if age != "young" else rng.uniform(0.84, 0.96)),
        build=float(rng.uniform(0.9, 1.12)),
        hair_style=hair_style,
        hair_colour=hair_colour if hair_style != "bald" else "none",
        upper_type=upper_type,
        upper_colour=upper_colour,
        upper_pattern=upper_pattern,
        sleeves=sleeves,
        lower_type=lower_type,
        lower_colour=lower_colour,
        shoes_type=shoes_type,
        shoes_colour=shoes_colour,
        bag=bag,
        bag_colour=bag_colour,
        headwear=headwear,
        headwear_colour=headwear_colour,
        glasses=bool(rng.random() < 0.18),
        carry=carry,
        carry_colour=carry_colour,
    )


def mutate_identity(rng: np.random.Generator, base: Identity, pid: int) -> Identity | None:
    """A copy of `base` that differs in exactly one captionable attribute (None if none applies)."""
    order = list(MUTABLE)
    rng.shuffle(order)
    for attr in order:
        new = Identity(**{**asdict(base), "pid": pid, "differs_in": attr})
        if attr == "upper_colour":
            new.upper_colour = _colour(rng, exclude=(base.upper_colour, base.lower_colour))
        elif attr == "lower_colour" and base.lower_type != "none":
            new.lower_colour = _colour(rng, exclude=(base.lower_colour, base.upper_colour))
        elif attr == "shoes_colour":
            new.shoes_colour = _pick(rng, [c for c in ("black", "white", "brown", "grey", "red", "blue") if c != base.shoes_colour])
        elif attr == "bag":
            choices = [b for b in BAG_TYPES if b != base.bag]
            new.bag = _pick(rng, choices)
            new.bag_colour = "none" if new.bag == "none" else (base.bag_colour if base.bag != "none" else _colour(rng))
            if base.bag != "none" and new.bag != "none":
                new.differs_in = "bag_type"
        elif attr == "bag_colour" and base.bag != "none":
            new.bag_colour = _colour(rng, exclude=(base.bag_colour,))
        elif attr == "hair_colour" and base.hair_style != "bald":
            new.hair_colour = _pick(rng, [c for c in HAIR_COLOURS if c != base.hair_colour])
        elif attr == "headwear":
            new.headwear = _pick(rng, [h for h in HEADWEAR if h != base.headwear])
            new.headwear_colour = "none" if new.headwear == "none" else _colour(rng)
        elif attr == "glasses":
            new.glasses = not base.glasses
        elif attr == "upper_pattern" and base.upper_type in ("t-shirt", "shirt", "sweater", "dress"):
            new.upper_pattern = _pick(rng, [p for p in PATTERNS if p != base.upper_pattern])
        elif attr == "carry":
            new.carry = _pick(rng, [c for c in CARRY if c != base.carry])
            new.carry_colour = _colour(rng) if new.carry == "umbrella" else ("black" if new.carry == "phone" else "none")
        elif attr == "upper_type" and base.upper_type != "dress":
            # Keep the pattern: a striped top can only become another top that may be striped.
            types = ("t-shirt", "sweater") if base.upper_pattern != "plain" else ("t-shirt", "jacket", "coat", "hoodie", "sweater")
            new.upper_type = _pick(rng, [t for t in types if t != base.upper_type])
            new.sleeves = "short" if new.upper_type == "t-shirt" else "long"
        elif attr == "lower_type" and base.lower_type in ("trousers", "jeans", "shorts"):
            new.lower_type = _pick(rng, [t for t in ("trousers", "shorts") if t != base.lower_type])
        else:
            continue
        return new
    return None


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------

RGB = tuple[int, int, int]


def shade(rgb: RGB, rng: np.random.Generator, amount: float = 1.0) -> RGB:
    """A per-picture shade of a named colour: brightness and channel jitter that keep the name."""
    light = rng.uniform(0.86, 1.1) if amount else 1.0
    out = []
    for c in rgb:
        v = c * light + rng.normal(0, 7 * amount)
        out.append(int(min(255, max(0, v))))
    return tuple(out)  # type: ignore[return-value]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(a[i] * (1 - t) + b[i] * t) for i in range(3))  # type: ignore[return-value]


def _darker(rgb: RGB, f: float = 0.7) -> RGB:
    return tuple(int(c * f) for c in rgb)  # type: ignore[return-value]


def _contrast(rgb: RGB) -> RGB:
    """A colour that shows on `rgb` (for stripes, seams, logos)."""
    lum = 0.3 * rgb[0] + 0.59 * rgb[1] + 0.11 * rgb[2]
    return _darker(rgb, 0.45) if lum > 110 else _mix(rgb, (245, 245, 245), 0.6)


@dataclass
class Shot:
    """How one picture of an identity is taken; also what its captions may say about the picture."""

    view: str  # front | back | left | right
    action: str  # walking | standing
    occluder: str  # none | pole | person | obstacle
    visible: set[str] = field(default_factory=set)  # attributes that can be seen in this picture


class BackgroundBank:
    """A few large textured scenes per process; each picture crops one (cheap and deterministic)."""

    KINDS = ("street", "wall", "grass", "pavement", "sky")

    def __init__(self, size: tuple[int, int], seed: int, count: int = 20) -> None:
        h, w = size
        self.size = size
        self.big = (int(h * 1.3), int(w * 1.6))
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xBA5E]))
        self.scenes = [self._scene(self.KINDS[i % len(self.KINDS)], rng) for i in range(count)]
        self.noise = rng.normal(0, 1, size=(h * 2, w * 2, 3)).astype(np.float32)

    def _scene(self, kind: str, rng: np.random.Generator) -> Image.Image:
        H, W = self.big
        img = Image.new("RGB", (W, H))
        d = ImageDraw.Draw(img)
        ground = int(H * rng.uniform(0.55, 0.7))
        if kind in ("street", "sky", "grass"):
            top = tuple(int(v) for v in rng.integers(60, 200, 3)) if kind == "street" else (
                int(rng.integers(110, 170)), int(rng.integers(160, 200)), int(rng.integers(210, 250))
            )
            bottom = _mix(top, (230, 230, 225), 0.5)
            for y in range(ground):
                d.line([(0, y), (W, y)], fill=_mix(top, bottom, y / max(1, ground)))
        if kind == "street":  # building facade with windows
            wall = tuple(int(v) for v in rng.integers(90, 210, 3))
            d.rectangle([0, 0, W, ground], fill=wall)
            ww, wh = int(W * rng.uniform(0.1, 0.16)), int(H * rng.uniform(0.07, 0.1))
            for y in range(int(H * 0.04), ground - wh, int(wh * 1.8)):
                for x in range(int(W * 0.05), W - ww, int(ww * 1.9)):
                    d.rectangle([x, y, x + ww, y + wh], fill=_darker(wall, rng.uniform(0.3, 0.6)))
        elif kind == "wall":  # bricks
            brick = (int(rng.integers(120, 180)), int(rng.integers(50, 90)), int(rng.integers(30, 60)))
            mortar = (180, 175, 165)
            d.rectangle([0, 0, W, ground], fill=mortar)
            bh, bw = max(3, H // 40), max(6, W // 8)
            for row, y in enumerate(range(0, ground, bh + 1)):
                off = (bw // 2) * (row % 2)
                for x in range(-off, W, bw + 1):
                    d.rectangle([x, y, x + bw - 1, y + bh - 1], fill=shade(brick, rng, 0.8))
        elif kind == "grass":
            d.rectangle([0, ground - int(H * 0.1), W, ground], fill=(70, 110, 60))  # hedge
        # ground: pavement tiles, grass or asphalt
        g_col = {
            "street": (120, 120, 122),
            "wall": (150, 146, 140),
            "grass": (76, 132, 58),
            "pavement": (170, 160, 145),
            "sky": (140, 136, 128),
        }[kind]
        if kind == "pavement":
            d.rectangle([0, 0, W, H], fill=_mix(g_col, (255, 255, 255), 0.2))
            ground = int(H * 0.25)
        d.rectangle([0, ground, W, H], fill=g_col)
        if kind in ("street", "pavement", "wall"):
            step = max(6, W // 6)
            for y in range(ground, H, step // 2):
                d.line([(0, y), (W, y)], fill=_darker(g_col, 0.85))
            for x in range(0, W, step):
                d.line([(x, ground), (x, H)], fill=_darker(g_col, 0.85))
        arr = np.asarray(img, dtype=np.float32)
        grain = rng.normal(0, 9 if kind == "grass" else 5, size=arr.shape[:2] + (1,)).astype(np.float32)
        return Image.fromarray(np.clip(arr + grain, 0, 255).astype(np.uint8))

    def draw_crop(self, rng: np.random.Generator) -> "Crop":
        """Which scene, where and whether mirrored (the picture's background draws)."""
        h, w = self.size
        index = int(rng.integers(len(self.scenes)))
        scene = self.scenes[index]
        x = int(rng.integers(0, scene.width - w + 1))
        y = int(rng.integers(0, scene.height - h + 1))
        return Crop(index, x, y, bool(rng.random() < 0.5), scene.width - w, scene.height - h)

    def cut(self, crop: "Crop") -> Image.Image:
        """The planned crop's pixels."""
        h, w = self.size
        img = self.scenes[crop.scene].crop((crop.x, crop.y, crop.x + w, crop.y + h))
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if crop.mirrored else img


@dataclass(frozen=True)
class Crop:
    """A background crop: scene index, top-left corner, mirrored; x_max/y_max give the corner as a
    fraction of its range (another renderer maps it onto scenes of its own)."""

    scene: int
    x: int
    y: int
    mirrored: bool
    x_max: int
    y_max: int


@dataclass
class Figure:
    """Where one drawn person's parts go and which colours they get; every length is a fraction of the
    person's height ``ph`` (``L``) measured from the top of the head (``Y``). Built by :meth:`Figure.draw`,
    which makes the picture's random choices in a fixed order (the bundled gallery depends on it)."""

    H: int
    W: int
    view: str
    action: str
    woman: bool
    bw: float  # build (width factor)
    ph: float
    top: float
    cx: float
    skin: RGB
    upper: RGB
    lower: RGB
    shoes: RGB
    hair: RGB
    bagc: RGB | None
    hatc: RGB | None
    stride: float
    phase: float

    @classmethod
    def draw(cls, ident: Identity, rng: np.random.Generator, size: tuple[int, int], view: str, action: str) -> "Figure":
        H, W = size
        ph = H * rng.uniform(0.74, 0.93) * ident.height
        feet = H * rng.uniform(0.94, 0.995)
        cx = W / 2 + rng.uniform(-0.1, 0.1) * W
        woman = ident.gender == "woman"
        skin = shade(SKIN_TONES[ident.skin], rng, 0.5)
        upper = shade(COLOURS[ident.upper_colour], rng)
        lower = shade(COLOURS[ident.lower_colour], rng) if ident.lower_type != "none" else upper
        shoes = shade(COLOURS[ident.shoes_colour], rng)
        hair = shade(HAIR_COLOURS[ident.hair_colour], rng, 0.6) if ident.hair_style != "bald" else skin
        bagc = shade(COLOURS[ident.bag_colour], rng) if ident.bag != "none" else None
        hatc = shade(COLOURS[ident.headwear_colour], rng) if ident.headwear != "none" else None
        stride = rng.uniform(0.18, 0.38) if action == "walking" else rng.uniform(0.0, 0.05)
        phase = rng.choice([-1.0, 1.0])
        return cls(H=H, W=W, view=view, action=action, woman=woman, bw=ident.build * (0.93 if woman else 1.0), ph=ph,
                   top=feet - ph, cx=cx, skin=skin, upper=upper, lower=lower, shoes=shoes, hair=hair, bagc=bagc,
                   hatc=hatc, stride=stride, phase=phase)

    def Y(self, f: float) -> float:  # noqa: N802 - a height on the body, as in the drawings' comments
        return self.top + f * self.ph

    def L(self, f: float) -> float:  # noqa: N802 - a length on the body
        return f * self.ph

    @property
    def side(self) -> bool:
        return self.view in ("left", "right")

    @property
    def face(self) -> int:
        """Facing direction on screen for side views."""
        return -1 if self.view == "left" else 1

    @property
    def sh(self) -> float:  # shoulder half-width
        return self.L(0.06 if self.side else 0.118) * self.bw

    @property
    def hip(self) -> float:
        return self.L(0.055 if self.side else (0.102 if self.woman else 0.094)) * self.bw

    @property
    def ys(self) -> float:  # shoulders
        return self.Y(0.165)

    @property
    def yh(self) -> float:  # hips
        return self.Y(0.5)

    @property
    def yk(self) -> float:  # knees
        return self.Y(0.73)

    @property
    def ya(self) -> float:  # ankles
        return self.Y(0.955)

    @property
    def limb(self) -> int:
        return max(2, int(self.L(0.05) * self.bw))

    @property
    def arm_w(self) -> int:
        return max(2, int(self.L(0.04) * self.bw))


@dataclass
class Occluder:
    """What stands in front of the person (``kind``: none | pole | person | obstacle) and its drawn
    geometry and colour; fields a kind does not use stay None."""

    kind: str
    x: float | None = None  # pole centre
    width: float | None = None  # pole width, or passer-by width
    colour: RGB | None = None
    left: bool | None = None  # passer-by at the left edge
    skin: int | None = None  # passer-by skin tone index
    top: float | None = None  # obstacle top edge


@dataclass
class CameraDraw:
    """The camera's draws: blur radius (None: sharp), per-channel gain, offset, noise window and amount."""

    blur: float | None
    gain: np.ndarray  # (3,) float
    offset: float
    noise_yx: tuple[int, int]
    noise: float


@dataclass
class ShotPlan:
    """Every random choice of one picture, made by :meth:`Renderer.plan` in a fixed order. A renderer
    paints a plan without drawing from the picture's generator again, so any renderer leaves it in the
    same state and the captions written from it after the picture are the same."""

    view: str
    action: str
    crop: Crop
    figure: Figure
    umbrella: RGB | None  # the umbrella's shade, when the person carries one
    occluder: Occluder
    camera: CameraDraw


class Renderer:
    """Draws pictures of identities at a fixed (H, W) with PIL: one method per part, back to front."""

    def __init__(self, size: tuple[int, int] = (256, 128), seed: int = 0) -> None:
        self.size = size
        self.bank = BackgroundBank(size, seed)

    def plan(self, ident: Identity, rng: np.random.Generator, view: str | None = None) -> ShotPlan:
        """Make every random draw of a picture, in this order: view, action, background, figure,
        umbrella colour, occluder, camera. Changing it changes every generated picture (and caption)."""
        view = view or _pick(rng, VIEWS)
        action = "walking" if rng.random() < 0.7 else "standing"
        crop = self.bank.draw_crop(rng)
        g = Figure.draw(ident, rng, self.size, view, action)
        umbrella = shade(COLOURS[ident.carry_colour], rng) if ident.carry == "umbrella" else None
        occluder = self._draw_occluder(g, rng)
        camera = self._draw_camera(rng)
        return ShotPlan(view, action, crop, g, umbrella, occluder, camera)

    def shot(self, ident: Identity, plan: ShotPlan) -> Shot:
        """What the captions of a planned picture may say."""
        return Shot(view=plan.view, action=plan.action, occluder=plan.occluder.kind,
                    visible=self._visible(ident, plan.view, plan.occluder.kind))

    def render(self, ident: Identity, rng: np.random.Generator, view: str | None = None) -> tuple[Image.Image, Shot]:
        plan = self.plan(ident, rng, view)
        return self.paint(ident, plan), self.shot(ident, plan)

    def render_named(self, name: str, ident: Identity, rng: np.random.Generator,
                     view: str | None = None) -> tuple[Image.Image, Shot]:
        """The picture that will be saved as `name` (a renderer that mixes styles picks by name)."""
        return self.render(ident, rng, view)

    def paint(self, ident: Identity, plan: ShotPlan) -> Image.Image:
        """The flat PIL drawing of a planned picture."""
        view, g = plan.view, plan.figure
        img = self.bank.cut(plan.crop)
        d = ImageDraw.Draw(img)
        ankles = self._legs(d, ident, g)
        self._shoes(d, ident, g, ankles)
        if ident.bag == "backpack" and view != "back":
            self._backpack_behind(d, g)
        if g.side:
            self._arm(d, ident, g, g.cx, g.stride * g.phase * 0.9, far=True)
        self._torso(d, ident, g)
        hands = self._near_arms(d, ident, g)
        self._bags(d, ident, g, hands)
        self._head(d, ident, g)
        self._headwear(d, ident, g)
        self._carried(d, ident, g, hands, plan.umbrella)
        self._occluder(d, g, plan.occluder)
        return self._camera(img, plan.camera)

    @staticmethod
    def _legs(d: ImageDraw.ImageDraw, ident: Identity, g: Figure) -> list[tuple[float, float]]:
        """The lower garment (or bare legs); returns the ankle points."""
        L, cx, limb = g.L, g.cx, g.limb

        def leg(x_hip: float, angle: float, colour_thigh: RGB, colour_shin: RGB, far: bool) -> tuple[float, float]:
            k = (x_hip + math.sin(angle) * (g.yk - g.yh), g.yk)
            a = (k[0] + math.sin(angle * 0.8) * (g.ya - g.yk), g.ya - abs(math.sin(angle)) * L(0.02))
            f = 0.78 if far else 1.0
            d.line([(x_hip, g.yh), k], fill=_darker(colour_thigh, f), width=limb + 1, joint="curve")
            d.line([k, a], fill=_darker(colour_shin, f), width=limb, joint="curve")
            return a

        legs_covered = ident.lower_type in ("trousers", "jeans")
        thigh = g.lower if ident.lower_type in ("trousers", "jeans", "shorts") else g.skin
        shin = g.lower if legs_covered else g.skin
        if ident.shoes_type == "boots":
            shin = shin if legs_covered else g.shoes
        if g.side:
            return [
                leg(cx, -g.stride * g.phase, thigh, shin, far=True),
                leg(cx, g.stride * g.phase, thigh, shin, far=False),
            ]
        spread = L(0.045) * g.bw
        ankles = [
            leg(cx - spread, -0.04 - g.stride * 0.15, thigh, shin, far=False),
            leg(cx + spread, 0.04 + g.stride * 0.15, thigh, shin, far=False),
        ]
        if ident.lower_type == "jeans":  # outer seams
            for (ax, ay), sx in zip(ankles, (-1, 1)):
                top_x = cx + sx * spread
                d.line([(ax + sx * limb * 0.3, ay - L(0.02)), (top_x + sx * limb * 0.3, g.yh + L(0.02))], fill=_darker(g.lower, 0.75), width=1)
        return ankles

    @staticmethod
    def _shoes(d: ImageDraw.ImageDraw, ident: Identity, g: Figure, ankles: list[tuple[float, float]]) -> None:
        L = g.L
        for ax, ay in ankles:
            length = L(0.075) if g.side else L(0.045)
            x0 = ax - length * (0.3 if g.face > 0 else 0.7) if g.side else ax - length
            x1 = x0 + (length * 1.0 if g.side else 2 * length)
            if ident.shoes_type == "sandals":
                d.ellipse([x0, ay - L(0.01), x1, ay + L(0.03)], fill=g.skin)
                d.line([(x0, ay + L(0.008)), (x1, ay + L(0.008))], fill=g.shoes, width=max(1, int(L(0.012))))
            else:
                d.ellipse([x0, ay - L(0.012), x1, ay + L(0.035)], fill=g.shoes)
                if ident.shoes_type == "sneakers":
                    d.line([(x0 + 1, ay + L(0.03)), (x1 - 1, ay + L(0.03))], fill=(235, 235, 235), width=max(1, int(L(0.01))))
                if ident.shoes_type == "boots":
                    d.rectangle([ax - g.arm_w * 0.8, ay - L(0.07), ax + g.arm_w * 0.8, ay], fill=g.shoes)

    @staticmethod
    def _backpack_behind(d: ImageDraw.ImageDraw, g: Figure) -> None:
        """A backpack seen from the front or side sits behind the body."""
        L, Y, cx, sh = g.L, g.Y, g.cx, g.sh
        if g.side:
            bx = cx - g.face * (sh + L(0.005))
            x0, x1 = sorted([bx, bx - g.face * L(0.085)])
            d.rounded_rectangle([x0, Y(0.19), x1, Y(0.44)], radius=max(1, int(L(0.02))), fill=g.bagc)
        else:
            d.rounded_rectangle([cx - sh * 1.08, Y(0.2), cx + sh * 1.08, Y(0.42)], radius=max(1, int(L(0.02))), fill=_darker(g.bagc, 0.8))

    @staticmethod
    def _arm(d: ImageDraw.ImageDraw, ident: Identity, g: Figure, x_sh: float, swing: float, far: bool,
             raised: bool = False) -> tuple[float, float]:
        """One arm from the shoulder at ``x_sh``, sleeve over skin; returns the hand point."""
        L, ys, arm_w = g.L, g.ys, g.arm_w
        sleeve_long = ident.sleeves == "long"
        f = 0.78 if far else 1.0
        elbow = (x_sh + math.sin(swing) * L(0.16), ys + math.cos(swing) * L(0.16))
        if raised:  # forearm up toward the chest (phone)
            hand = (elbow[0] + (g.cx - elbow[0]) * 0.6, elbow[1] - L(0.08))
        else:
            hand = (elbow[0] + math.sin(swing * 1.2) * L(0.15), elbow[1] + math.cos(swing * 1.2) * L(0.15))
        upper_end = elbow if sleeve_long else ((x_sh + elbow[0]) / 2, (ys + elbow[1]) / 2)
        d.line([(x_sh, ys + L(0.01)), elbow, hand], fill=_darker(g.skin, f), width=arm_w, joint="curve")
        d.line([(x_sh, ys + L(0.01)), upper_end], fill=_darker(g.upper, f), width=arm_w + 1, joint="curve")
        if sleeve_long:
            d.line([elbow, (elbow[0] + (hand[0] - elbow[0]) * 0.85, elbow[1] + (hand[1] - elbow[1]) * 0.85)], fill=_darker(g.upper, f), width=arm_w + 1)
        r = arm_w * 0.6
        d.ellipse([hand[0] - r, hand[1] - r, hand[0] + r, hand[1] + r], fill=_darker(g.skin, f))
        return hand

    def _near_arms(self, d: ImageDraw.ImageDraw, ident: Identity, g: Figure) -> list[tuple[float, float]]:
        phone_hand = ident.carry == "phone"
        if g.side:
            return [self._arm(d, ident, g, g.cx, -g.stride * g.phase * 0.9, far=False, raised=phone_hand)]
        return [
            self._arm(d, ident, g, g.cx - g.sh, -0.12 - g.stride * 0.2, far=False),
            self._arm(d, ident, g, g.cx + g.sh, 0.12 + g.stride * 0.2, far=False, raised=phone_hand and g.view == "front"),
        ]

    @staticmethod
    def _torso(d: ImageDraw.ImageDraw, ident: Identity, g: Figure) -> None:
        """The upper garment (a trapezoid, a dress's flare, a skirt), its pattern and the details that tell its type."""
        L, Y, cx, sh, hip, ys, arm_w, upper = g.L, g.Y, g.cx, g.sh, g.hip, g.ys, g.arm_w, g.upper
        shirt_bottom = {"coat": 0.64, "jacket": 0.53, "hoodie": 0.53, "dress": 0.5}.get(ident.upper_type, 0.51)
        waist = hip * 0.98 if ident.upper_type != "dress" else hip
        bottom = Y(shirt_bottom)
        body = [(cx - sh, ys), (cx + sh, ys), (cx + waist, bottom), (cx - waist, bottom)]
        d.polygon(body, fill=upper)
        d.ellipse([cx - sh - arm_w * 0.6, ys - 2, cx - sh + arm_w * 0.9, ys + arm_w * 1.6], fill=upper)
        d.ellipse([cx + sh - arm_w * 0.9, ys - 2, cx + sh + arm_w * 0.6, ys + arm_w * 1.6], fill=upper)
        if ident.upper_type == "dress":
            flare = hip * 1.5
            d.polygon([(cx - waist, bottom), (cx + waist, bottom), (cx + flare, Y(0.72)), (cx - flare, Y(0.72))], fill=upper)
            bottom_pattern = Y(0.72)
        else:
            bottom_pattern = bottom
        if ident.lower_type == "skirt":
            flare = hip * 1.45
            d.polygon([(cx - hip, Y(0.49)), (cx + hip, Y(0.49)), (cx + flare, Y(0.7)), (cx - flare, Y(0.7))], fill=g.lower)
        # pattern, clipped to the trapezoid row by row
        if ident.upper_pattern != "plain":
            pc = _contrast(upper)
            step = max(3, int(L(0.035)))
            y = ys + step / 2
            while y < bottom_pattern - 1:
                t = (y - ys) / max(1.0, bottom - ys)
                half = sh + (waist - sh) * min(1.0, t)
                if y > bottom:
                    half = waist + (hip * 1.5 - waist) * (y - bottom) / max(1.0, bottom_pattern - bottom)
                d.line([(cx - half + 1, y), (cx + half - 1, y)], fill=pc, width=max(1, step // 3))
                y += step
            if ident.upper_pattern == "checked":
                x = cx - waist + step / 2
                while x < cx + waist:
                    d.line([(x, ys + 2), (x, bottom_pattern - 2)], fill=pc, width=max(1, step // 3))
                    x += step
        # garment details that tell the type apart
        if g.view == "front":
            if ident.upper_type in ("jacket", "coat"):
                d.line([(cx, ys + L(0.02)), (cx, bottom)], fill=_darker(upper, 0.55), width=max(1, int(L(0.01))))
                d.polygon([(cx - sh * 0.5, ys), (cx, ys + L(0.07)), (cx + sh * 0.5, ys)], fill=_contrast(upper) if ident.upper_type == "jacket" else _darker(upper, 0.8))
                if ident.upper_type == "coat":
                    for by in (0.26, 0.34, 0.42, 0.5):
                        d.ellipse([cx - 2 + L(0.015), Y(by) - 1, cx + L(0.015), Y(by) + 1], fill=_darker(upper, 0.4))
            elif ident.upper_type == "shirt":
                d.polygon([(cx - sh * 0.45, ys), (cx, ys + L(0.04)), (cx + sh * 0.45, ys), (cx, ys + L(0.015))], fill=_contrast(upper))
                d.line([(cx, ys + L(0.04)), (cx, bottom)], fill=_darker(upper, 0.7), width=1)
            elif ident.upper_type == "hoodie":
                d.rectangle([cx - waist * 0.6, Y(0.38), cx + waist * 0.6, Y(0.47)], outline=_darker(upper, 0.65))
                d.line([(cx - L(0.02), ys + L(0.01)), (cx - L(0.02), Y(0.27))], fill=(225, 225, 225), width=1)
                d.line([(cx + L(0.02), ys + L(0.01)), (cx + L(0.02), Y(0.27))], fill=(225, 225, 225), width=1)
            elif ident.upper_type in ("t-shirt", "dress"):
                d.chord([cx - L(0.035), ys - L(0.02), cx + L(0.035), ys + L(0.03)], 0, 180, fill=g.skin)
        if ident.upper_type == "sweater":
            d.line([(cx - waist, bottom - L(0.012)), (cx + waist, bottom - L(0.012))], fill=_darker(upper, 0.7), width=max(1, int(L(0.02))))
        if ident.upper_type == "hoodie" and g.view != "front":
            hx = cx - g.face * L(0.03) if g.side else cx
            d.ellipse([hx - L(0.06), ys - L(0.03), hx + L(0.06), ys + L(0.06)], fill=_darker(upper, 0.85))

    @staticmethod
    def _bags(d: ImageDraw.ImageDraw, ident: Identity, g: Figure, hands: list[tuple[float, float]]) -> None:
        """Bags drawn on top of the body (a backpack from behind, straps, shoulder bags, handbags)."""
        L, Y, cx, sh, hip, ys, bagc, view = g.L, g.Y, g.cx, g.sh, g.hip, g.ys, g.bagc, g.view
        strap_w = max(1, int(L(0.012)))
        if ident.bag == "backpack" and view == "back":
            d.rounded_rectangle([cx - sh * 0.82, Y(0.19), cx + sh * 0.82, Y(0.45)], radius=max(1, int(L(0.025))), fill=bagc)
            d.rectangle([cx - sh * 0.55, Y(0.33), cx + sh * 0.55, Y(0.42)], outline=_darker(bagc, 0.6))
        elif ident.bag == "backpack" and view == "front":
            for sx in (-1, 1):
                d.line([(cx + sx * sh * 0.6, ys), (cx + sx * sh * 0.75, Y(0.36))], fill=bagc, width=strap_w + 1)
        elif ident.bag == "shoulder bag":
            if g.side:
                d.line([(cx, ys), (cx + g.face * L(0.01), Y(0.45))], fill=bagc, width=strap_w)
                d.rectangle([cx - L(0.045), Y(0.45), cx + L(0.045), Y(0.53)], fill=bagc)
            else:
                d.line([(cx - sh * 0.8, ys), (cx + hip * 1.1, Y(0.47))], fill=bagc, width=strap_w)
                d.rectangle([cx + hip * 0.7, Y(0.46), cx + hip * 1.7, Y(0.55)], fill=bagc)
        elif ident.bag == "handbag":
            hx, hy = hands[0]
            d.arc([hx - L(0.025), hy - L(0.01), hx + L(0.025), hy + L(0.035)], 180, 360, fill=bagc, width=strap_w)
            d.rectangle([hx - L(0.04), hy + L(0.015), hx + L(0.04), hy + L(0.075)], fill=bagc)

    @staticmethod
    def _head(d: ImageDraw.ImageDraw, ident: Identity, g: Figure) -> None:
        """Neck, hair, face (eyes, ear, mouth by view) and glasses."""
        L, Y, cx, view, side, face, skin, hair = g.L, g.Y, g.cx, g.view, g.side, g.face, g.skin, g.hair
        hc_y, hr_y, hr_x = Y(0.075), L(0.062), L(0.05)
        hcx = cx + (face * L(0.008) if side else 0)
        d.rectangle([cx - L(0.018), hc_y + hr_y * 0.6, cx + L(0.018), g.ys + 1], fill=skin)  # neck
        long_hair = ident.hair_style == "long"
        if long_hair and view != "back":
            d.rounded_rectangle(
                [hcx - hr_x * 1.15 - (face * L(0.02) if side else 0), hc_y - hr_y, hcx + hr_x * 1.15 - (face * L(0.02) if side else 0), Y(0.26)],
                radius=max(1, int(L(0.03))),
                fill=hair,
            )
        head_box = [hcx - hr_x, hc_y - hr_y, hcx + hr_x, hc_y + hr_y]
        if view == "back":
            d.ellipse(head_box, fill=hair if ident.hair_style != "bald" else skin)
            if long_hair:
                d.rounded_rectangle([hcx - hr_x * 1.15, hc_y - hr_y * 0.4, hcx + hr_x * 1.15, Y(0.27)], radius=max(1, int(L(0.03))), fill=hair)
            if ident.hair_style == "ponytail":
                d.ellipse([hcx - L(0.02), hc_y, hcx + L(0.02), Y(0.2)], fill=_darker(hair, 0.9))
            if ident.hair_style == "bun":
                d.ellipse([hcx - L(0.03), hc_y - hr_y - L(0.02), hcx + L(0.03), hc_y - hr_y + L(0.035)], fill=_darker(hair, 0.9))
            return
        if ident.hair_style != "bald":
            d.ellipse([hcx - hr_x * 1.08, hc_y - hr_y * 1.08, hcx + hr_x * 1.08, hc_y + hr_y * 0.5], fill=hair)
        if side:
            d.ellipse([hcx - hr_x * 0.85 + face * L(0.012), hc_y - hr_y * 0.55, hcx + hr_x * 0.85 + face * L(0.012), hc_y + hr_y], fill=skin)
            d.polygon([(hcx + face * hr_x * 0.95, hc_y - L(0.005)), (hcx + face * (hr_x + L(0.012)), hc_y + L(0.01)), (hcx + face * hr_x * 0.95, hc_y + L(0.018))], fill=skin)
            d.ellipse([hcx + face * hr_x * 0.5 - 1, hc_y - 1, hcx + face * hr_x * 0.5 + 1, hc_y + 1], fill=(30, 25, 25))
            if ident.hair_style == "ponytail":
                px = hcx - face * hr_x
                d.ellipse([px - L(0.025), hc_y - L(0.02), px + L(0.02), Y(0.19)], fill=hair)
            if ident.hair_style == "bun":
                bx = hcx - face * hr_x * 0.8
                d.ellipse([bx - L(0.028), hc_y - hr_y - L(0.01), bx + L(0.028), hc_y - hr_y + L(0.04)], fill=hair)
        else:
            d.ellipse([hcx - hr_x * 0.88, hc_y - hr_y * 0.6, hcx + hr_x * 0.88, hc_y + hr_y], fill=skin)
            for ex in (-1, 1):
                ecx = hcx + ex * hr_x * 0.38
                d.ellipse([ecx - 1, hc_y - 1, ecx + 1, hc_y + 1], fill=(30, 25, 25))
            d.line([(hcx - L(0.012), hc_y + hr_y * 0.55), (hcx + L(0.012), hc_y + hr_y * 0.55)], fill=_darker(skin, 0.7), width=1)
            if ident.hair_style == "bun":
                d.ellipse([hcx - L(0.028), hc_y - hr_y - L(0.035), hcx + L(0.028), hc_y - hr_y + L(0.02)], fill=hair)
        if ident.glasses:
            gc = (20, 20, 20)
            lw = max(1, int(L(0.006)))
            if side:
                gx = hcx + face * hr_x * 0.55
                d.rectangle([gx - L(0.014), hc_y - L(0.01), gx + L(0.014), hc_y + L(0.01)], outline=gc, width=lw)
                d.line([(gx - face * L(0.014), hc_y), (hcx - face * hr_x * 0.3, hc_y - L(0.004))], fill=gc, width=lw)
            else:
                for ex in (-1, 1):
                    ecx = hcx + ex * hr_x * 0.4
                    d.rectangle([ecx - L(0.018), hc_y - L(0.011), ecx + L(0.018), hc_y + L(0.011)], outline=gc, width=lw)
                d.line([(hcx - L(0.004), hc_y), (hcx + L(0.004), hc_y)], fill=gc, width=lw)

    @staticmethod
    def _headwear(d: ImageDraw.ImageDraw, ident: Identity, g: Figure) -> None:
        L, Y, face, hatc = g.L, g.Y, g.face, g.hatc
        hc_y, hr_y, hr_x = Y(0.075), L(0.062), L(0.05)
        hcx = g.cx + (face * L(0.008) if g.side else 0)
        if ident.headwear == "cap":
            d.chord([hcx - hr_x * 1.05, hc_y - hr_y * 1.15, hcx + hr_x * 1.05, hc_y + hr_y * 0.2], 180, 360, fill=hatc)
            if g.side:
                bx0, bx1 = sorted([hcx + face * hr_x * 0.6, hcx + face * (hr_x + L(0.05))])
                d.rectangle([bx0, hc_y - hr_y * 0.5, bx1, hc_y - hr_y * 0.35], fill=_darker(hatc, 0.85))
            elif g.view == "front":
                d.ellipse([hcx - hr_x * 1.0, hc_y - hr_y * 0.6, hcx + hr_x * 1.0, hc_y - hr_y * 0.25], fill=_darker(hatc, 0.85))
        elif ident.headwear == "hat":
            d.rounded_rectangle([hcx - hr_x * 0.9, hc_y - hr_y * 1.55, hcx + hr_x * 0.9, hc_y - hr_y * 0.45], radius=max(1, int(L(0.015))), fill=hatc)
            d.ellipse([hcx - hr_x * 1.7, hc_y - hr_y * 0.65, hcx + hr_x * 1.7, hc_y - hr_y * 0.3], fill=_darker(hatc, 0.85))

    @staticmethod
    def _carried(d: ImageDraw.ImageDraw, ident: Identity, g: Figure, hands: list[tuple[float, float]],
                 uc: RGB | None) -> None:
        """An umbrella (of the planned shade `uc`) or a phone in the last hand."""
        L = g.L
        if ident.carry == "umbrella":
            hx, hy = hands[-1]
            top_y = g.top - L(0.04)
            d.line([(hx, hy), (hx, top_y + L(0.06))], fill=(40, 40, 40), width=max(1, int(L(0.008))))
            d.pieslice([hx - L(0.24), top_y - L(0.02), hx + L(0.24), top_y + L(0.17)], 180, 360, fill=uc)
        elif ident.carry == "phone" and g.view != "back":
            hx, hy = hands[-1]
            d.rectangle([hx - L(0.012), hy - L(0.035), hx + L(0.012), hy], fill=(15, 15, 18))

    @staticmethod
    def _draw_occluder(g: Figure, rng: np.random.Generator) -> Occluder:
        """Maybe a pole, a passer-by or an obstacle in front of the person: which, where, what colour."""
        W, H, cx = g.W, g.H, g.cx
        kind = _pick(rng, ("none", "pole", "person", "obstacle"), p=[0.62, 0.16, 0.12, 0.10])
        if kind == "pole":
            px = cx + rng.uniform(-0.35, 0.35) * W
            pw = max(3, int(W * rng.uniform(0.04, 0.08)))
            return Occluder(kind, x=px, width=pw, colour=tuple(int(v) for v in rng.integers(40, 120, 3)))
        if kind == "person":
            left = bool(rng.random() < 0.5)
            ow = W * rng.uniform(0.14, 0.26)
            oc = tuple(int(v) for v in rng.integers(20, 230, 3))
            return Occluder(kind, left=left, width=ow, colour=oc, skin=int(rng.integers(len(SKIN_TONES))))
        if kind == "obstacle":
            oy = H * rng.uniform(0.78, 0.88)
            return Occluder(kind, top=oy, colour=tuple(int(v) for v in rng.integers(30, 200, 3)))
        return Occluder(kind)

    @staticmethod
    def _occluder(d: ImageDraw.ImageDraw, g: Figure, occ: Occluder) -> None:
        """The planned pole, passer-by or obstacle, drawn in front of the person."""
        H, W, Y, L = g.H, g.W, g.Y, g.L
        occluder = occ.kind
        if occluder == "pole":
            px, pw, pc = occ.x, occ.width, occ.colour
            d.rectangle([px - pw / 2, 0, px + pw / 2, H], fill=pc)
            d.line([(px - pw / 2 + 1, 0), (px - pw / 2 + 1, H)], fill=_mix(pc, (255, 255, 255), 0.3), width=1)
        elif occluder == "person":
            left, ow, oc = occ.left, occ.width, occ.colour
            x0, x1 = (-ow * 0.6, ow) if left else (W - ow, W + ow * 0.6)
            d.rounded_rectangle([x0, Y(0.15), x1, H + 5], radius=int(ow * 0.4), fill=oc)
            hx = x1 - ow * 0.3 if left else x0 + ow * 0.3
            d.ellipse([hx - L(0.055), Y(0.02), hx + L(0.055), Y(0.15)], fill=SKIN_TONES[occ.skin])
        elif occluder == "obstacle":
            oy, oc = occ.top, occ.colour
            d.rounded_rectangle([-5, oy, W + 5, H + 5], radius=max(1, int(W * 0.06)), fill=oc)
            d.line([(0, oy + 3), (W, oy + 3)], fill=_mix(oc, (255, 255, 255), 0.35), width=1)

    def _draw_camera(self, rng: np.random.Generator) -> CameraDraw:
        blur = rng.uniform(0.3, 1.0) if rng.random() < 0.55 else None
        gain = rng.uniform(0.72, 1.18) * rng.uniform(0.92, 1.08, size=3).astype(np.float32)
        offset = rng.uniform(-12, 12)
        h, w = self.size
        ny, nx = int(rng.integers(0, h)), int(rng.integers(0, w))
        return CameraDraw(blur, gain, offset, (ny, nx), rng.uniform(0.0, 6.0))

    def _camera(self, img: Image.Image, cam: CameraDraw) -> Image.Image:
        """Lighting, colour cast, blur and sensor noise."""
        if cam.blur is not None:
            img = img.filter(ImageFilter.GaussianBlur(cam.blur))
        arr = np.asarray(img, dtype=np.float32)
        h, w = self.size
        ny, nx = cam.noise_yx
        noise = self.bank.noise[ny : ny + h, nx : nx + w] * cam.noise
        arr = arr * cam.gain + cam.offset + noise
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))

    @staticmethod
    def _visible(ident: Identity, view: str, occluder: str) -> set[str]:
        """Attributes a careful annotator could see in this picture."""
        vis = {"gender", "age", "hair", "upper", "upper_pattern", "sleeves", "lower", "shoes", "headwear", "bag", "carry"}
        if view != "back":
            vis.add("glasses")
        if ident.carry == "phone" and view == "back":
            vis.discard("carry")
        if ident.bag == "backpack" and view == "front":
            vis.add("bag")  # straps show; the colour too
        if occluder == "obstacle":
            vis.discard("shoes")
        return vis


def _camera_renderer(size: tuple[int, int], seed: int) -> Renderer:
    from .camera_renderer import CameraRenderer  # numpy shading and photo backgrounds, loaded when asked for

    return CameraRenderer(size, seed)


def _mixed_renderer(size: tuple[int, int], seed: int) -> Renderer:
    from .camera_renderer import MixedRenderer

    return MixedRenderer(size, seed)


# Renderers by name: `factory(size, seed)` gives an object with `render(ident, rng, view)`. Every renderer
# makes the same draws from the picture's generator (`Renderer.plan`), so only the pictures differ.
RENDERERS: Registry[Callable[[tuple[int, int], int], Renderer]] = Registry("renderer", plural="renderers")
RENDERERS.register("draw", Renderer)  # flat PIL figures on procedural scenes (the bundled gallery's)
RENDERERS.register("camera", _camera_renderer)  # shaded people on photos, through a surveillance camera
RENDERERS.register("mixed", _mixed_renderer)  # half of each, fixed per picture name (the students' training set)


# --------------------------------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------------------------------

COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red",),
    "blue": ("blue",),
    "navy": ("navy", "navy blue", "dark blue"),
    "light blue": ("light blue", "pale blue", "sky blue"),
    "green": ("green",),
    "yellow": ("yellow",),
    "orange": ("orange",),
    "pink": ("pink",),
    "purple": ("purple", "violet"),
    "brown": ("brown",),
    "black": ("black",),
    "white": ("white",),
    "grey": ("grey", "gray"),
    "beige": ("beige", "tan", "cream"),
}
HAIR_WORDS: dict[str, tuple[str, ...]] = {
    "black": ("black", "dark"),
    "brown": ("brown", "dark brown"),
    "blonde": ("blonde", "blond", "fair"),
    "grey": ("grey", "gray", "silver"),
    "red": ("red", "ginger"),
}
ITEM_WORDS: dict[str, tuple[str, ...]] = {
    "t-shirt": ("t-shirt", "T-shirt", "tee", "tee shirt"),
    "shirt": ("shirt", "button-up shirt", "collared shirt"),
    "jacket": ("jacket", "zip-up jacket"),
    "coat": ("coat", "long coat", "overcoat"),
    "hoodie": ("hoodie", "hooded sweatshirt", "hooded top"),
    "sweater": ("sweater", "jumper", "pullover"),
    "dress": ("dress", "knee-length dress"),
    "trousers": ("trousers", "pants", "slacks"),
    "jeans": ("jeans", "denim jeans"),
    "shorts": ("shorts",),
    "skirt": ("skirt", "knee-length skirt"),
    "sneakers": ("sneakers", "trainers", "running shoes"),
    "boots": ("boots", "ankle boots"),
    "shoes": ("shoes", "leather shoes"),
    "sandals": ("sandals",),
    "backpack": ("backpack", "rucksack"),
    "handbag": ("handbag", "purse"),
    "shoulder bag": ("shoulder bag", "messenger bag", "crossbody bag"),
    "hat": ("hat",),
    "cap": ("cap", "baseball cap"),
    "umbrella": ("umbrella",),
    "phone": ("phone", "cell phone", "mobile phone"),
}
PLURAL_ITEMS = {"trousers", "jeans", "shorts", "sneakers", "boots", "shoes", "sandals"}
PATTERN_WORDS = {"striped": ("striped", "stripy"), "checked": ("checked", "plaid", "checkered")}
NOUNS = {
    ("man", "young"): ("young man", "man", "guy", "boy", "male"),
    ("man", "adult"): ("man", "guy", "gentleman", "male", "person"),
    ("man", "elderly"): ("old man", "elderly man", "older gentleman", "man"),
    ("woman", "young"): ("young woman", "woman", "girl", "lady", "female"),
    ("woman", "adult"): ("woman", "lady", "female", "person"),
    ("woman", "elderly"): ("old woman", "elderly woman", "older lady", "woman"),
}
PRONOUNS = {"man": ("he", "his", "him"), "woman": ("she", "her", "her")}


def _article(phrase: str) -> str:
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


class CaptionWriter:
    """Writes CUHK-PEDES-style descriptions of one picture; every stated fact is true of it.

    `write` returns the caption and the list of (attribute, value) facts it states, which the tests
    check against the identity.
    """

    styles = 4  # sentence constructions drawn from (VariedCaptionWriter adds more)
    min_words = 12  # CUHK-PEDES-like lengths (VariedCaptionWriter also writes short typed queries)
    shuffle_clothes = 0.3  # how often the garments are named in a random order, not top to bottom

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng  # a numpy Generator, or a counterfactuals.UniformStream (same calls)

    def _w(self, options):
        return options[int(self.rng.integers(len(options)))]

    def colour(self, name: str) -> str:
        return self._w(COLOUR_WORDS[name])

    def item_np(self, ident: Identity, slot: str, facts: list, with_article: bool = True) -> str:
        """Noun phrase for a garment/accessory slot with its colour (and pattern / sleeves)."""
        rng = self.rng
        if slot == "upper":
            words = []
            if ident.upper_pattern != "plain" and rng.random() < 0.75:
                words.append(self._w(PATTERN_WORDS[ident.upper_pattern]))
                facts.append(("upper_pattern", ident.upper_pattern))
            if rng.random() < 0.93:
                words.insert(0, self.colour(ident.upper_colour))
                facts.append(("upper_colour", ident.upper_colour))
            if ident.upper_type in ("shirt", "dress") and rng.random() < 0.35:
                words.append(f"{ident.sleeves}-sleeved")
                facts.append(("sleeves", ident.sleeves))
            words.append(self._w(ITEM_WORDS[ident.upper_type]))
            facts.append(("upper_type", ident.upper_type))
            item = ident.upper_type
        else:
            item, colour = {
                "lower": (ident.lower_type, ident.lower_colour),
                "shoes": (ident.shoes_type, ident.shoes_colour),
                "bag": (ident.bag, ident.bag_colour),
                "headwear": (ident.headwear, ident.headwear_colour),
                "carry": (ident.carry, ident.carry_colour),
            }[slot]
            words = []
            say_colour = rng.random() < (0.9 if slot != "carry" else (0.6 if item == "umbrella" else 0.0))
            if say_colour:
                words.append(self.colour(colour))
                facts.append((f"{slot}_colour", colour))
            words.append(self._w(ITEM_WORDS[item]))
            facts.append((slot, item))
        phrase = " ".join(words)
        if not with_article or item in PLURAL_ITEMS:
            return phrase
        return _article(phrase)

    def hair_phrase(self, ident: Identity, facts: list) -> str:
        facts.append(("hair_style", ident.hair_style))
        if ident.hair_style == "bald":
            return self._w(("a bald head", "no hair"))
        colour = self._w(HAIR_WORDS[ident.hair_colour])
        facts.append(("hair_colour", ident.hair_colour))
        return {
            "short": self._w((f"short {colour} hair", f"{colour} short hair")),
            "long": self._w((f"long {colour} hair", f"{colour} hair down to the shoulders")),
            "ponytail": self._w((f"{colour} hair in a ponytail", f"a {colour} ponytail")),
            "bun": self._w((f"{colour} hair tied in a bun", f"a {colour} bun")),
        }[ident.hair_style]

    def write(self, ident: Identity, shot: Shot) -> tuple[str, list[tuple[str, Any]]]:
        """One caption for `ident` as seen in `shot`, `min_words`-60 words."""
        for _ in range(20):
            caption, facts = self._draft(ident, shot)
            n = len(caption.split())
            if self.min_words <= n <= 60:
                return caption, facts
        return caption, facts  # the last draft; lengths are tested on the whole corpus

    def _draft(self, ident: Identity, shot: Shot) -> tuple[str, list[tuple[str, Any]]]:
        rng = self.rng
        facts: list[tuple[str, Any]] = [("gender", ident.gender)]
        he, his, _ = PRONOUNS[ident.gender]
        noun = self._w(NOUNS[(ident.gender, ident.age)])
        if ident.age != "adult" and noun.split()[0] in ("young", "old", "elderly", "older"):
            facts.append(("age", ident.age))
        clothes, extras, mention_hair, mention_glasses, say_no_bag = self._mentions(ident, shot.visible)
        style = int(rng.integers(self.styles))
        action = self._action(shot, he)
        if style >= 4:
            sentences, complete = self._varied(style, ident, noun, action, clothes, extras, facts)
            if complete:  # a whole description (a list, a typed query): nothing is appended
                return " ".join(sentences), facts
        else:
            sentences, mention_hair = self._classic(style, ident, noun, action, clothes, mention_hair, facts)

        if mention_hair:
            sentences.append(f"{_cap(he)} has {self.hair_phrase(ident, facts)}.")
        if mention_glasses:
            facts.append(("glasses", True))
            sentences.append(self._w((f"{_cap(he)} wears glasses.", f"{_cap(he)} is wearing glasses.", f"{_cap(he)} has glasses on.")))
        for s in extras:
            sentences.append(self._extra(ident, s, he, his, facts))
        if say_no_bag:
            facts.append(("bag", "none"))
            sentences.append(self._w((f"{_cap(he)} is not carrying a bag.", f"{_cap(he)} has no bag.")))
        return " ".join(sentences), facts

    def _mentions(self, ident: Identity, vis) -> tuple[list[str], list[str], bool, bool, bool]:
        """Which slots this annotator mentions (each caption omits some): the clothes (in the order they
        are told), the extras (bag, headwear, carried item; shuffled), and whether hair, glasses and a
        missing bag are said."""
        rng = self.rng
        p = {"upper": 0.97, "lower": 0.85, "shoes": 0.5, "bag": 0.85, "headwear": 0.8, "carry": 0.75, "hair": 0.5, "glasses": 0.75}
        present = {"upper": True, "lower": ident.lower_type != "none", "shoes": True, "bag": ident.bag != "none",
                   "headwear": ident.headwear != "none", "carry": ident.carry != "none"}
        slots = [slot for slot in ("upper", "lower", "shoes", "bag", "headwear", "carry")
                 if present[slot] and slot in vis and rng.random() < p[slot]]
        mention_hair = "hair" in vis and rng.random() < p["hair"] and not (ident.headwear == "hat" and ident.hair_style in ("short", "bald"))
        mention_glasses = ident.glasses and "glasses" in vis and rng.random() < p["glasses"]
        say_no_bag = ident.bag == "none" and rng.random() < 0.12
        clothes = [s for s in slots if s in ("upper", "lower", "shoes")]
        extras = [s for s in slots if s not in clothes]
        rng.shuffle(extras)
        if rng.random() < self.shuffle_clothes:
            rng.shuffle(clothes)
        return clothes, extras, mention_hair, mention_glasses, say_no_bag

    def _classic(self, style: int, ident: Identity, noun: str, action: str, clothes: list[str], mention_hair: bool,
                 facts: list) -> tuple[list[str], bool]:
        """The sentences of the four original styles (0-3), and whether hair is still to be said."""
        rng = self.rng
        he, his, _ = PRONOUNS[ident.gender]
        sentences: list[str] = []
        if style == 0:  # "The man is walking. He is wearing ... . His bag is black."
            opener = f"The {noun} {action}" if action else f"The {noun} {self._w(('is in the picture', 'is on the street', 'is outdoors'))}"
            if mention_hair and rng.random() < 0.5:
                opener = f"{_article(noun)} with {self.hair_phrase(ident, facts)} {action or 'is shown'}"
                mention_hair = False
            sentences.append(_cap(opener) + ".")
            if clothes:
                verb = self._w(("is wearing", "wears", "has on", "is dressed in"))
                sentences.append(f"{_cap(he)} {verb} {self._join([self.item_np(ident, s, facts) for s in clothes])}.")
        elif style == 1:  # one long sentence
            head = _article(noun)
            if ident.age == "elderly" and noun in ("man", "woman", "person") and rng.random() < 0.5:
                head = f"an elderly {noun}"
                facts.append(("age", "elderly"))
            parts = [head]
            if mention_hair:
                parts.append(f"with {self.hair_phrase(ident, facts)}")
                mention_hair = False
            if clothes:
                parts.append(f"{self._w(('wearing', 'in', 'dressed in'))} {self._join([self.item_np(ident, s, facts) for s in clothes])}")
            if action and rng.random() < 0.5:
                parts.append(action.replace("is ", "", 1) if action.startswith("is ") else action)
            sentences.append(_cap(", ".join(parts[:1]) + " " + " ".join(parts[1:])) + ".")
        elif style == 2:  # "This person has ... and wears ..."
            start = self._w((f"This {noun}", f"The {noun}", _cap(_article(noun))))
            subj = start
            if mention_hair:
                sentences.append(f"{start} has {self.hair_phrase(ident, facts)}.")
                mention_hair = False
                subj = _cap(he)
            if clothes:
                sentences.append(f"{subj} {self._w(('is wearing', 'wears'))} {self._join([self.item_np(ident, s, facts) for s in clothes])}.")
            if action and rng.random() < 0.6:
                sentences.append(f"{_cap(he)} {action}.")
        else:  # predicate style: "His shirt is red and his pants are black."
            sentences.append(_cap(f"{_article(noun)} {action}" if action else f"{_article(noun)} in the street") + ".")
            preds = [self._predicate(ident, s, his, facts) for s in clothes]
            if preds:
                sentences.append(_cap(self._join(preds)) + ".")
        return sentences, mention_hair

    def _varied(self, style, ident, noun, action, clothes, extras, facts) -> tuple[list[str], bool]:
        raise NotImplementedError  # only phrasings.VariedCaptionWriter draws styles past 3

    def _action(self, shot: Shot, he: str) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            return ""
        if shot.action == "walking":
            options = ["is walking", "is walking down the street", "walks along the pavement"]
            if shot.view == "back":
                options += ["is walking away from the camera", "is seen from behind walking"]
            elif shot.view == "front":
                options += ["is walking toward the camera"]
            else:
                options += [f"is walking to the {shot.view}"]
        else:
            options = ["is standing", "is standing still", "stands on the sidewalk"]
            if shot.view == "back":
                options += ["is standing with their back to the camera"]
        return self._w(options)

    @staticmethod
    def _garment(ident: Identity, slot: str, facts: list) -> tuple[str, str]:
        """(item, colour) of a garment slot, recorded as stated facts (no random draw)."""
        item, colour = {
            "upper": (ident.upper_type, ident.upper_colour),
            "lower": (ident.lower_type, ident.lower_colour),
            "shoes": (ident.shoes_type, ident.shoes_colour),
        }[slot]
        facts += [(f"{slot}_type" if slot == "upper" else slot, item), (f"{slot}_colour", colour)]
        return item, colour

    def _predicate(self, ident: Identity, slot: str, his: str, facts: list) -> str:
        item, colour = self._garment(ident, slot, facts)
        verb = "are" if item in PLURAL_ITEMS else "is"
        return f"{his} {self._w(ITEM_WORDS[item])} {verb} {self.colour(colour)}"

    def _extra(self, ident: Identity, slot: str, he: str, his: str, facts: list) -> str:
        np_ = self.item_np(ident, slot, facts)
        if slot == "bag":
            where = {"backpack": "on {his} back", "handbag": "in {his} hand", "shoulder bag": "over {his} shoulder"}[ident.bag]
            return self._w(
                (
                    f"{_cap(he)} is carrying {np_}.",
                    f"{_cap(he)} has {np_} {where.format(his=his)}.",
                    f"{_cap(he)} carries {np_}.",
                )
            )
        if slot == "headwear":
            return self._w((f"{_cap(he)} is wearing {np_}.", f"{_cap(he)} has {np_} on {his} head.", f"On {his} head is {np_}."))
        # carry
        return self._w((f"{_cap(he)} is holding {np_}.", f"{_cap(he)} holds {np_} in {his} hand."))

    def _join(self, phrases: list[str]) -> str:
        if len(phrases) <= 1:
            return "".join(phrases)
        return ", ".join(phrases[:-1]) + " and " + phrases[-1]


# --------------------------------------------------------------------------------------------------
# Dataset generation
# --------------------------------------------------------------------------------------------------

SPLITS = ("train", "val", "test")
COUNTERFACTUALS_FILE = "counterfactuals.json"
MAX_IDS, MAX_IMAGES_PER_ID, MAX_SIDE = 1_000_000, 100, 1024  # bounds on one run (a typo of --ids must not fill a disk)

@dataclass(frozen=True)
class SynthConfig:
    """Sizes and seed of a SynthPedes dataset; the same config gives byte-identical files."""

    ids: int = 2000
    images_per_id: int = 4
    size: tuple[int, int] = (256, 128)  # (H, W)
    val_ids: int = 250
    test_ids: int = 500
    seed: int = 0
    hard_share: float = 0.3  # share of identities created as near-duplicates of another
    jpeg_quality: int = 76
    # More training identities beyond ``ids``, drawn from a random stream of their own (pids from
    # ``ids`` on): the val and test splits, and every picture of the first ``ids`` identities, stay
    # exactly what they are without them. None repeats the attributes of a val or test identity.
    extra_train_ids: int = 0
    # "varied": captions in more orders and constructions (data/phrasings.py); "classic": the four
    # patterns the bundled gallery was written with.
    phrasings: str = "classic"
    # > 0: up to that many counterfactual captions per caption (data/counterfactuals.py), written to
    # counterfactuals.json. Either option draws captions from a replayable stream, so the captions (not
    # the pictures) differ from a dataset written without them.
    counterfactuals: int = 0
    # How pictures are made (RENDERERS): "draw" (flat figures, the bundled gallery's) or "camera"
    # (data/camera_renderer.py). Captions, facts and counterfactuals do not depend on it.
    renderer: str = "draw"

    def check(self) -> None:
        if self.ids < 1 or self.images_per_id < 1:
            raise LightCLIPError("SynthPedes needs at least one identity and one image per identity.")
        if self.val_ids < 0 or self.test_ids < 0 or self.val_ids + self.test_ids > self.ids:
            raise LightCLIPError(
                f"--val-ids ({self.val_ids}) + --test-ids ({self.test_ids}) must not exceed --ids ({self.ids})."
            )
        if self.extra_train_ids < 0:
            raise LightCLIPError(f"--extra-train-ids must be 0 or more, got {self.extra_train_ids}.")
        one_of("--phrasings", self.phrasings, ("classic", "varied"), "values")
        RENDERERS.get(self.renderer)
        if not 0 <= self.counterfactuals <= 8:
            raise LightCLIPError(f"--counterfactuals must be 0 to 8 per caption, got {self.counterfactuals}.")
        if min(self.size) < 32:
            raise LightCLIPError(f"SynthPedes pictures need at least 32 px a side, got {self.size[0]}x{self.size[1]}.")
        if max(self.size) > MAX_SIDE:
            raise LightCLIPError(f"SynthPedes pictures are at most {MAX_SIDE} px a side, got {self.size[0]}x{self.size[1]}.")
        if self.ids + self.extra_train_ids > MAX_IDS or self.images_per_id > MAX_IMAGES_PER_ID:
            raise LightCLIPError(f"SynthPedes writes at most {MAX_IDS:,} identities (--ids + --extra-train-ids) of at most "
                                 f"{MAX_IMAGES_PER_ID} pictures each, got {self.ids + self.extra_train_ids:,} of "
                                 f"{self.images_per_id:,}.")


def _draw_families(
    rng: np.random.Generator, count: int, first_pid: int, first_family: int, hard_share: float, allowed=None
) -> tuple[list[list[Identity]], list[Identity]]:
    """`count` identities in families (a base, sometimes a near-duplicate twin), pids from `first_pid`.

    `allowed(identity) -> bool` rejects an identity (a rejected base takes no twin); the random
    stream is consumed the same way either way, so rejection never shifts later identities.
    """
    families: list[list[Identity]] = []
    people: list[Identity] = []
    while len(people) < count:
        base = sample_identity(rng, first_pid + len(people))
        want_twin = len(people) + 1 < count and rng.random() < hard_share / (1 + hard_share)
        twin = mutate_identity(rng, base, first_pid + len(people) + 1) if want_twin else None
        if allowed is not None and not allowed(base):
            continue
        base.family = first_family + len(families)
        family = [base]
        people.append(base)
        if twin is not None and (allowed is None or allowed(twin)):
            twin.pid = first_pid + len(people)
            twin.family = base.family
            family.append(twin)
            people.append(twin)
        families.append(family)
    return families, people


def attribute_key(ident: Identity) -> tuple:
    """What captions can say about an identity: two identities with equal keys are the same person."""
    d = ident.captioned()
    return tuple(v for k, v in sorted(d.items()) if k not in ("pid", "family", "twin_of", "differs_in"))


def make_identities(cfg: SynthConfig) -> tuple[list[Identity], dict[int, str]]:
    """All identities (families of near-duplicates included) and their identity-disjoint splits."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1]))
    families, people = _draw_families(rng, cfg.ids, 0, 0, cfg.hard_share)
    # Whole families go to one split, so near-duplicates meet in the same gallery.
    order = rng.permutation(len(families))
    quota = {"test": cfg.test_ids, "val": cfg.val_ids}
    split_of: dict[int, str] = {}  # keyed by generation index
    for f in order:
        family = families[int(f)]
        name = next((s for s in ("test", "val") if quota[s] >= len(family)), "train")
        if name != "train":
            quota[name] -= len(family)
        for person in family:
            split_of[person.pid] = name
    # Final ids run train, val, test, each from where the previous ended (RSTPReid's layout; IRRA's
    # loader expects training ids 0..n-1).
    ordered = sorted(people, key=lambda p: (SPLITS.index(split_of[p.pid]), p.pid))
    new_pid = {p.pid: i for i, p in enumerate(ordered)}
    first_of_family: dict[int, int] = {}
    for p in people:  # generation order: a family's first identity comes first
        first_of_family.setdefault(p.family, new_pid[p.pid])
    split: dict[int, str] = {}
    for p in ordered:
        split[new_pid[p.pid]] = split_of[p.pid]
        p.pid = new_pid[p.pid]
        if p.differs_in:
            p.twin_of = first_of_family[p.family]
    if cfg.extra_train_ids:
        held_out = {attribute_key(p) for p in ordered if split[p.pid] != "train"}
        extra_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 4]))
        _, extra = _draw_families(
            extra_rng, cfg.extra_train_ids, cfg.ids, len(families), cfg.hard_share,
            allowed=lambda ident: attribute_key(ident) not in held_out,
        )
        # Extra ids come after test, so the first `ids` keep their pids (and so their pictures).
        for p in extra:
            split[p.pid] = "train"
            if p.differs_in:
                p.twin_of = p.pid - 1
        ordered += extra
    return ordered, split


_worker_state: dict[str, Any] = {}


def _init_worker(cfg: SynthConfig) -> None:
    _worker_state["cfg"] = cfg
    _worker_state["renderer"] = RENDERERS.get(cfg.renderer)(cfg.size, cfg.seed)


def _image_rng(cfg: SynthConfig, pid: int, k: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, 2, pid, k]))


def render_identity(ident: Identity) -> list[dict[str, Any]]:
    """Pictures and captions of one identity (in a worker process, or inline)."""
    cfg: SynthConfig = _worker_state["cfg"]
    renderer: Renderer = _worker_state["renderer"]
    views = list(np.random.default_rng(np.random.SeedSequence([cfg.seed, 3, ident.pid])).permutation(VIEWS))
    out, drafts = [], []
    for k in range(cfg.images_per_id):
        rng, name = _image_rng(cfg, ident.pid, k), f"{ident.pid:05d}_{k:02d}.jpg"
        img, shot = renderer.render_named(name, ident, rng, view=str(views[k % len(views)]))
        if cfg.phrasings == "classic" and not cfg.counterfactuals:
            writer = CaptionWriter(rng)
            captions, facts = zip(*(writer.write(ident, shot) for _ in range(2)))
        else:
            captions, facts, streams = _write_replayable(cfg, ident, shot, rng)
            drafts.append((shot, facts, streams))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=cfg.jpeg_quality)
        out.append(
            {
                "name": name,
                "jpeg": buf.getvalue(),
                "captions": list(captions),
                "facts": [[[a, v] for a, v in f] for f in facts],
                "view": shot.view,
                "action": shot.action,
                "occluder": shot.occluder,
            }
        )
    if cfg.counterfactuals:
        true_texts = {c for pic in out for c in pic["captions"]}
        for k, (pic, (shot, facts, streams)) in enumerate(zip(out, drafts)):
            pic["counterfactuals"] = [
                _counterfactuals(cfg, ident, shot, stream, f, true_texts, np.random.default_rng(
                    np.random.SeedSequence([cfg.seed, 5, ident.pid, k, c])))
                for c, (stream, f) in enumerate(zip(streams, facts))
            ]
    return out


def _write_replayable(cfg: SynthConfig, ident: Identity, shot: Shot, rng: np.random.Generator):
    """Two captions, each from its own recorded stream of `rng` (so counterfactuals can replay it)."""
    from .counterfactuals import UniformStream
    from .phrasings import WRITERS

    captions, facts, streams = [], [], []
    for _ in range(2):
        stream = UniformStream(rng)
        text, fact = WRITERS[cfg.phrasings](stream).write(ident, shot)
        captions.append(text)
        facts.append(fact)
        streams.append(stream)
    return tuple(captions), tuple(facts), streams


def _counterfactuals(cfg: SynthConfig, ident, shot, stream, facts, true_texts, rng) -> list[dict[str, Any]]:
    from .counterfactuals import write_counterfactuals
    from .phrasings import WRITERS

    def write(other, shot, replay):
        return WRITERS[cfg.phrasings](replay).write(other, shot)

    return write_counterfactuals(ident, shot, stream, facts, true_texts, rng, write, cfg.counterfactuals)


def iter_rendered(cfg: SynthConfig, people: list[Identity], workers: int = 1) -> Iterator[tuple[Identity, list[dict]]]:
    """(identity, pictures) in pid order; the same output for any number of workers."""
    if workers <= 1 or len(people) < 8:
        _init_worker(cfg)
        for ident in people:
            yield ident, render_identity(ident)
        return
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(cfg,)) as pool:
        yield from zip(people, pool.imap(render_identity, people, chunksize=8))


def _config_record(cfg: SynthConfig) -> dict[str, Any]:
    """The config as attributes.json stores it (options added later, like ``extra_train_ids`` or
    ``renderer``, only when not the default, so files written before they existed, like the bundled
    gallery's, stay byte-identical)."""
    d = {**asdict(cfg), "size": list(cfg.size)}
    for key, default in (("extra_train_ids", 0), ("phrasings", "classic"), ("counterfactuals", 0), ("renderer", "draw")):
        if d[key] == default:
            del d[key]
    return d


PARTIAL_FILE = ".synthpedes-partial.json"  # written first, removed last: marks a run that was stopped
_PICTURE_NAME = re.compile(r"^imgs/[0-9]{5,}_[0-9]{2}\.jpg$")


def synthpedes_files(folder: Path) -> set[str] | None:
    """The files a SynthPedes run wrote in `folder` (its manifest: the JSON files and the pictures its
    annotations list; for a stopped run, pictures named as the generator names them), or None when
    `folder` is not a SynthPedes dataset (another dataset's annotations are not ours)."""
    meta = {"data_captions.json", "attributes.json", COUNTERFACTUALS_FILE, PARTIAL_FILE}
    present = {p.relative_to(folder).as_posix() for p in (folder / "imgs").glob("*")} if (folder / "imgs").is_dir() else set()
    if (folder / PARTIAL_FILE).is_file():
        return meta | {f for f in present if _PICTURE_NAME.match(f)}
    attributes = read_json_or_none(folder / "attributes.json")
    records = read_json_or_none(folder / "data_captions.json")
    if not (isinstance(attributes, dict) and attributes.get("generator") == "SynthPedes" and isinstance(records, list)):
        return None
    return meta | {f"imgs/{r['img_path']}" for r in records if isinstance(r, dict) and isinstance(r.get("img_path"), str)
                   and _PICTURE_NAME.match(f"imgs/{r['img_path']}")}


DATASET_OUTPUT = OutputKind("a SynthPedes dataset", synthpedes_files)


def generate(
    out_dir: str | Path,
    cfg: SynthConfig = SynthConfig(),
    splits: tuple[str, ...] = SPLITS,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Write SynthPedes to `out_dir` (``data_captions.json``, ``attributes.json``, ``imgs/``).

    `splits` limits what is written (the bundled gallery is ``("test",)``); pictures of a split are
    identical whichever splits are written. Returns a summary with counts and timing.
    """
    import time

    cfg.check()
    if not splits:
        raise LightCLIPError(f"No split to write; valid splits are: {', '.join(SPLITS)}.")
    for split in splits:
        one_of("split", split, SPLITS, "splits")
    out = Path(out_dir)
    earlier = check_output_dir(out, DATASET_OUTPUT)
    if earlier is not None:
        if not overwrite:
            raise LightCLIPError(f"{out} already holds a SynthPedes dataset; pass --overwrite to replace it.")
        remove_owned(out, earlier)  # only what an earlier run listed (foreign files were refused)
    (out / "imgs").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / PARTIAL_FILE, {"generator": "SynthPedes", "complete": False})

    people, split = make_identities(cfg)
    chosen = [p for p in people if split[p.pid] in splits]
    t0 = time.perf_counter()
    records, facts, counterfactuals, n_images = [], {}, {}, 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(chosen), unit="id", desc="SynthPedes", file=__import__("sys").stderr)
    for ident, pictures in iter_rendered(cfg, chosen, workers):
        for pic in pictures:
            rel = pic["name"]  # relative to imgs/, as in RSTPReid
            (out / "imgs" / rel).write_bytes(pic["jpeg"])
            records.append({"id": ident.pid, "img_path": rel, "captions": pic["captions"], "split": split[ident.pid]})
            facts[rel] = {"view": pic["view"], "action": pic["action"], "occluder": pic["occluder"], "facts": pic["facts"]}
            if "counterfactuals" in pic:
                counterfactuals[rel] = [[{k: v for k, v in cf.items() if k != "facts"} for cf in cfs]
                                        for cfs in pic["counterfactuals"]]
            n_images += 1
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    seconds = time.perf_counter() - t0
    counts = {s: sum(1 for p in chosen if split[p.pid] == s) for s in splits}
    attributes = {
        "generator": "SynthPedes",
        "synthetic": True,
        "version": VERSION,
        "config": _config_record(cfg),
        "splits_written": list(splits),
        "ids_per_split": counts,
        "identities": [dict(p.captioned(), split=split[p.pid]) for p in chosen],
        "pictures": facts,
    }
    atomic_write_json(out / "attributes.json", attributes, indent=None, ensure_ascii=False)
    cf_path = out / COUNTERFACTUALS_FILE
    if cfg.counterfactuals:
        atomic_write_json(cf_path, {"format": "synthpedes-counterfactuals", "version": 1, "synthetic": True,
                                    "per_caption": cfg.counterfactuals, "pictures": counterfactuals},
                          indent=None, ensure_ascii=False)
    elif cf_path.exists():
        cf_path.unlink()  # an overwritten dataset keeps no counterfactuals of its old captions
    atomic_write_json(out / "data_captions.json", records, indent=1, ensure_ascii=False)  # last: its presence marks a complete dataset
    (out / PARTIAL_FILE).unlink()
    return {"out": str(out), "images": n_images, "ids": counts, "seconds": seconds, "images_per_s": n_images / max(seconds, 1e-9)}


def contact_sheet(
    out_png: str | Path,
    cfg: SynthConfig = SynthConfig(),
    n_ids: int = 8,
    caption_width: int = 420,
    reference: Sequence[Image.Image] = (),
    reference_label: str = "",
) -> Path:
    """Draw `n_ids` identities (rows) x their pictures (columns) with one caption per picture; then, if
    given, a row of `reference` pictures (real crops, to compare by eye) labelled `reference_label`."""
    from PIL import ImageFont

    people, _ = make_identities(SynthConfig(**{**asdict(cfg), "ids": max(n_ids, 2), "val_ids": 0, "test_ids": 0}))
    people = people[:n_ids]
    h, w = cfg.size
    k = cfg.images_per_id
    try:
        font = ImageFont.load_default(size=max(10, h // 18))
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    rows = n_ids + (1 if reference else 0)
    sheet = Image.new("RGB", (max(k, len(reference)) * w + caption_width, rows * h), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    _init_worker(cfg)
    for row, (ident, pictures) in enumerate(zip(people, map(render_identity, people))):
        for col, pic in enumerate(pictures):
            sheet.paste(Image.open(io.BytesIO(pic["jpeg"])), (col * w, row * h))
        text = f"id {ident.pid}" + (f" (differs from id {ident.twin_of} in {ident.differs_in})" if ident.differs_in else "")
        lines = [text] + [f"{i + 1}. {c}" for i, c in enumerate(p["captions"][0] for p in pictures)]
        y = row * h + 4
        for line in lines:
            for wrapped in _wrap(line, font, caption_width - 12, d):
                d.text((k * w + 6, y), wrapped, fill=(0, 0, 0), font=font)
                y += font.size + 2 if hasattr(font, "size") else 12
        d.line([(0, row * h + h - 1), (sheet.width, row * h + h - 1)], fill=(200, 200, 200))
    if reference:
        for col, img in enumerate(reference):
            sheet.paste(img.convert("RGB").resize((w, h), Image.Resampling.BILINEAR), (col * w, n_ids * h))
        y = n_ids * h + 4
        for wrapped in _wrap(reference_label, font, caption_width - 12, d):
            d.text((len(reference) * w + 6, y), wrapped, fill=(0, 0, 0), font=font)
            y += font.size + 2 if hasattr(font, "size") else 12
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def _wrap(text: str, font, width: int, draw: ImageDraw.ImageDraw) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= width:
            line = trial
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])
