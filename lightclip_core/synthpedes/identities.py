"""SynthPedes identities: a person's fixed attributes (`Identity`), drawn at random or as a near
duplicate of another person that differs in exactly one attribute."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .vocabulary import AGES, BAG_TYPES, CARRY, COLOURS, GENDERS, HAIR_COLOURS, HAIR_STYLES, HEADWEAR, LOWER_TYPES, MUTABLE, PATTERNS, SHOE_TYPES, SKIN_TONES, UPPER_TYPES


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
