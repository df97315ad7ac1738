"""SynthPedes captions in the style of CUHK-PEDES annotations: `CaptionWriter` states only what a
picture shows (`Shot.visible`), in words from vocabulary.py."""

from __future__ import annotations

from typing import Any

import numpy as np

from .vocabulary import COLOUR_WORDS, HAIR_WORDS, ITEM_WORDS, NOUNS, PATTERN_WORDS, PLURAL_ITEMS, PRONOUNS
from .identities import Identity
from .shots import Shot


# --------------------------------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------------------------------


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
