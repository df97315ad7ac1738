"""What a SynthPedes picture is planned as, before any renderer paints it: the colours (RGB, shades),
the `Shot` (view, action, occluder, what can be seen) and the plan records `Renderer.plan` fills in
(background `Crop`, `Figure` geometry, `Occluder`, `CameraDraw`, `ShotPlan`). Every renderer reads them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .vocabulary import COLOURS, HAIR_COLOURS, SKIN_TONES
from .identities import Identity


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


def mix_colours(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(a[i] * (1 - t) + b[i] * t) for i in range(3))  # type: ignore[return-value]


def darker_colour(rgb: RGB, f: float = 0.7) -> RGB:
    return tuple(int(c * f) for c in rgb)  # type: ignore[return-value]


def contrasting(rgb: RGB) -> RGB:
    """A colour that shows on `rgb` (for stripes, seams, logos)."""
    lum = 0.3 * rgb[0] + 0.59 * rgb[1] + 0.11 * rgb[2]
    return darker_colour(rgb, 0.45) if lum > 110 else mix_colours(rgb, (245, 245, 245), 0.6)


@dataclass
class Shot:
    """How one picture of an identity is taken; also what its captions may say about the picture."""

    view: str  # front | back | left | right
    action: str  # walking | standing
    occluder: str  # none | pole | person | obstacle
    visible: set[str] = field(default_factory=set)  # attributes that can be seen in this picture


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
