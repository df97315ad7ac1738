"""Counterfactual captions: near-misses of a true caption, written by construction (NegCLIP-style
hard negatives for SynthPedes).

A caption is written from a stream of uniform random numbers (`UniformStream`). Writing it again from
the *same* numbers for a copy of the person with one attribute changed (`counterfactual_identity`)
gives the same sentence structure, synonyms and order, with only that attribute's words different:

    true:            "The man is walking. He wears a grey jacket and black trousers."
    swap_colours:    "The man is walking. He wears a black jacket and grey trousers."
    lower_colour:    "The man is walking. He wears a grey jacket and red trousers."

`write_counterfactuals` keeps a rewrite only if the facts it states differ from the true caption's in
exactly the intended attributes (and nothing else), and if its text equals no true caption of the
person; so a counterfactual is always a false description of that person.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Callable

import numpy as np

from ..registry import one_of
from .vocabulary import BAG_TYPES, COLOURS, HAIR_COLOURS, HEADWEAR, LOWER_TYPES, UPPER_TYPES

# Each kind: the attributes it changes (its facts must differ there and only there; `also` lists
# attributes that may come or go with the change, like a shirt's sleeves when it becomes a coat).
KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "swap_colours": {"changes": ("upper_colour", "lower_colour"), "also": ()},
    "upper_colour": {"changes": ("upper_colour",), "also": ()},
    "lower_colour": {"changes": ("lower_colour",), "also": ()},
    "upper_type": {"changes": ("upper_type",), "also": ("sleeves", "upper_pattern")},
    "lower_type": {"changes": ("lower",), "also": ()},
    "gender": {"changes": ("gender",), "also": ()},
    "shoes_colour": {"changes": ("shoes_colour",), "also": ()},
    "bag_colour": {"changes": ("bag_colour",), "also": ()},
    "bag_type": {"changes": ("bag",), "also": ()},
    "headwear": {"changes": ("headwear",), "also": ()},
    "hair_colour": {"changes": ("hair_colour",), "also": ()},
}
BINDING_KINDS = ("swap_colours", "upper_colour", "lower_colour")  # which colour goes with which garment


class UniformStream:
    """The few `numpy.random.Generator` calls a caption writer makes (``random``, ``integers(n)``,
    ``shuffle``), all drawn from one recorded sequence of uniforms, so that `replay` can write again
    with the same choices. Past the recorded end, a replay draws from its own seeded generator."""

    def __init__(self, rng: np.random.Generator, recorded: list[float] | None = None) -> None:
        self._rng = rng
        self._recorded = recorded if recorded is not None else []
        self._live = recorded is None  # the original stream appends what it draws
        self._pos = 0

    def random(self) -> float:
        if self._pos < len(self._recorded):
            u = self._recorded[self._pos]
        else:
            u = float(self._rng.random())
            if self._live:
                self._recorded.append(u)
        self._pos += 1
        return u

    def integers(self, n: int) -> int:
        return min(int(self.random() * n), n - 1)

    def shuffle(self, items: list) -> None:
        for i in range(len(items) - 1, 0, -1):  # Fisher-Yates
            j = self.integers(i + 1)
            items[i], items[j] = items[j], items[i]

    def replay(self) -> "UniformStream":
        """A stream that yields the same numbers from the start (frozen at what was drawn so far)."""
        seed = int(self._recorded[0] * 2**32) if self._recorded else 0
        return UniformStream(np.random.default_rng(seed), list(self._recorded))


def _other(rng: np.random.Generator, options, *exclude) -> Any:
    choices = [o for o in options if o not in exclude]
    return choices[int(rng.integers(len(choices)))] if choices else None


def counterfactual_identity(ident, kind: str, rng: np.random.Generator):
    """A copy of `ident` (an identities.Identity) with the attribute(s) of `kind` changed, or None when
    the kind does not apply (no lower garment to swap with, no bag to recolour, ...)."""
    d = asdict(ident)
    up, low = d["upper_colour"], d["lower_colour"]
    if kind == "swap_colours":
        if d["lower_type"] == "none" or up == low:
            return None
        d["upper_colour"], d["lower_colour"] = low, up
    elif kind == "upper_colour":
        d["upper_colour"] = _other(rng, list(COLOURS), up, low)
    elif kind == "lower_colour":
        if d["lower_type"] == "none":
            return None
        d["lower_colour"] = _other(rng, list(COLOURS), low, up)
    elif kind == "upper_type":
        if d["upper_type"] == "dress":
            return None
        d["upper_type"] = _other(rng, [t for t in UPPER_TYPES if t != "dress"], d["upper_type"])
        d["sleeves"] = "short" if d["upper_type"] == "t-shirt" else "long"
        if d["upper_type"] not in ("t-shirt", "shirt", "sweater"):
            d["upper_pattern"] = "plain"
    elif kind == "lower_type":
        if d["lower_type"] == "none":
            return None
        d["lower_type"] = _other(rng, LOWER_TYPES, d["lower_type"])
    elif kind == "gender":
        d["gender"] = "woman" if d["gender"] == "man" else "man"
    elif kind == "shoes_colour":
        d["shoes_colour"] = _other(rng, list(COLOURS), d["shoes_colour"])
    elif kind == "bag_colour":
        if d["bag"] == "none":
            return None
        d["bag_colour"] = _other(rng, list(COLOURS), d["bag_colour"])
    elif kind == "bag_type":
        if d["bag"] == "none":
            return None
        d["bag"] = _other(rng, [b for b in BAG_TYPES if b != "none"], d["bag"])
    elif kind == "headwear":
        if d["headwear"] == "none":
            return None
        d["headwear"] = _other(rng, [h for h in HEADWEAR if h != "none"], d["headwear"])
    elif kind == "hair_colour":
        if d["hair_style"] == "bald":
            return None
        d["hair_colour"] = _other(rng, list(HAIR_COLOURS), d["hair_colour"])
    else:
        one_of("counterfactual kind", kind, KINDS, "kinds")
        raise AssertionError(f"counterfactual kind {kind!r} is listed in KINDS but has no rewrite")
    return type(ident)(**d)


def facts_dict(facts) -> dict[str, Any]:
    """A caption's facts [(attribute, value), ...] as a dict (the writer states each at most once)."""
    return {a: v for a, v in facts}


def differs_only_in(true_facts, cf_facts, kind: str) -> bool:
    """Whether `cf_facts` change every attribute of `kind` that the true caption states, and nothing else."""
    t, c = facts_dict(true_facts), facts_dict(cf_facts)
    spec = KINDS[kind]
    changed, allowed = spec["changes"], set(spec["changes"]) | set(spec["also"])
    if not all(a in t and a in c and t[a] != c[a] for a in changed):
        return False
    keys = (set(t) | set(c)) - allowed
    return all(t.get(a) == c.get(a) for a in keys)


def write_counterfactuals(
    ident, shot, stream: UniformStream, true_facts, true_texts: set[str], rng: np.random.Generator,
    write: Callable, count: int, kinds: tuple[str, ...] = tuple(KINDS), tries: int = 4,
) -> list[dict[str, Any]]:
    """Up to `count` counterfactuals of the caption just written from `stream` (its facts
    `true_facts`): the first a binding kind where one applies, the rest other kinds, in a seeded
    order. `write(ident, shot, stream) -> (text, facts)` is the caption writer; `true_texts` holds
    every true caption of the person (a counterfactual equal to one is dropped)."""
    out: list[dict[str, Any]] = []
    first = next((k for k in BINDING_KINDS if k in kinds and _try_kind(k, ident, shot, stream, true_facts, true_texts, rng, write, tries, out)), None)
    rest = [k for k in kinds if k != first]
    for i in rng.permutation(len(rest)):
        if len(out) >= count:
            break
        _try_kind(rest[int(i)], ident, shot, stream, true_facts, true_texts, rng, write, tries, out)
    return out


def _try_kind(kind, ident, shot, stream, true_facts, true_texts, rng, write, tries, out) -> bool:
    """Append one counterfactual of `kind` to `out` if a valid one is found within `tries` values."""
    for _ in range(1 if kind in ("swap_colours", "gender") else tries):  # those have one value only
        other = counterfactual_identity(ident, kind, rng)
        if other is None:
            return False
        text, facts = write(other, shot, stream.replay())
        if text not in true_texts and differs_only_in(true_facts, facts, kind):
            t, c = facts_dict(true_facts), facts_dict(facts)
            out.append({"kind": kind, "text": text, "changes": {a: [t[a], c[a]] for a in KINDS[kind]["changes"]},
                        "facts": facts})  # facts stay in memory (tests); the file keeps kind, text, changes
            return True
    return False
