"""More ways to say the same thing: SynthPedes captions in varied orders and constructions.

The classic writer (`captions.CaptionWriter`, the bundled gallery's) names garments top to bottom in
four sentence patterns, so a model can learn "the first colour is the top's" instead of reading which
garment a colour belongs to. `VariedCaptionWriter` adds five constructions (``synth --phrasings
varied``):

    4 lower garment first   "The woman is walking. She has on blue jeans and a red jacket."
    5 relative clauses      "A man who wears a grey coat and whose trousers are black."
    6 a list                "Woman, red jacket, blue jeans, white sneakers, black handbag."
    7 a typed query         "man in grey jacket black trousers brown shoes"
    8 that-clauses          "A man with a coat that is grey and trousers that are black."

Every fact is still true of the picture and recorded, as in the classic writer.
"""

from __future__ import annotations

from .captions import CaptionWriter, _article, _cap
from .identities import Identity
from .vocabulary import ITEM_WORDS, PLURAL_ITEMS, PRONOUNS

SLOT_ORDER_LOWER_FIRST = {"lower": 0, "upper": 1, "shoes": 2}


class VariedCaptionWriter(CaptionWriter):
    """The classic writer's four patterns plus five more, and garments in a random order half the time."""

    styles = 9
    shuffle_clothes = 0.5
    min_words = 4  # "woman red coat blue jeans" is how people type a search

    def _varied(self, style, ident: Identity, noun, action, clothes, extras, facts) -> tuple[list[str], bool]:
        he, his, _ = PRONOUNS[ident.gender]
        if style == 4:
            clothes = sorted(clothes, key=SLOT_ORDER_LOWER_FIRST.get)
            nps = self._join([self.item_np(ident, s, facts) for s in clothes])
            if not clothes:
                return [_cap(f"the {noun} {action or 'is on the street'}") + "."], False
            if self.rng.random() < 0.5:
                return [_cap(f"dressed in {nps}, the {noun} {action or 'waits'}") + "."], False
            opener = _cap(f"the {noun} {action or 'is on the street'}") + "."
            return [opener, f"{_cap(he)} {self._w(('has on', 'wears', 'is wearing'))} {nps}."], False
        if style == 5:
            if not clothes:
                return [_cap(f"{_article(noun)} {action or 'in the street'}") + "."], False
            first = self.item_np(ident, clothes[0], facts)
            rest = "".join(f" and {self._predicate(ident, s, 'whose', facts)}" for s in clothes[1:])
            sentences = [_cap(f"{_article(noun)} who {self._w(('wears', 'is wearing', 'has on'))} {first}{rest}") + "."]
            if action:
                sentences.append(f"{_cap(he)} {action}.")
            return sentences, False
        if style == 6:
            nps = [self.item_np(ident, s, facts, with_article=False) for s in clothes + extras]
            return [", ".join([_cap(noun), *nps]) + "."], True
        if style == 7:
            nps = [self.item_np(ident, s, facts, with_article=False) for s in clothes + extras]
            link = self._w(("in", "wearing", "with", ""))
            return [" ".join(w for w in (noun, link if nps else "", *nps) if w).lower()], True
        # style 8
        if not clothes:
            return [_cap(f"{_article(noun)} {action or 'in the street'}") + "."], False
        parts = self._join([self._that_clause(ident, s, facts) for s in clothes])
        sentences = [_cap(f"{_article(noun)} with {parts}") + "."]
        if action:
            sentences.append(f"{_cap(he)} {action}.")
        return sentences, False

    def _that_clause(self, ident: Identity, slot: str, facts: list) -> str:
        """"a coat that is grey", "trousers that are black" (facts as `_predicate` records them)."""
        item, colour = self._garment(ident, slot, facts)
        word = self._w(ITEM_WORDS[item])
        if item in PLURAL_ITEMS:
            return f"{word} that are {self.colour(colour)}"
        return f"{_article(word)} that is {self.colour(colour)}"


WRITERS = {"classic": CaptionWriter, "varied": VariedCaptionWriter}
