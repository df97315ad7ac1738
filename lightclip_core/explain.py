"""Why did this picture match? Per-phrase evidence from the same model that ranked it.

The description is cut into phrases ("a grey jacket", "black trousers", "his bag is black"); each
phrase is encoded alone and the picture is ranked against the whole gallery for it. A picture that
ranks above most of the gallery for "black trousers" shows black trousers to this model; one in the
lower half does not. So the answer is relative to the gallery and to what the model can see — the
same evidence the search used, not a separate classifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import LightCLIPError
from .search import clean_query

MAX_PHRASES = 8
MATCH, UNSURE = 70.0, 50.0  # percentile of the gallery the picture beats: >= MATCH ✓, >= UNSURE ≈, else ✗
_SPLIT = re.compile(r"[.;!?()]+|,|\band\b|\bwith\b|\bwhose\b|\bwho\b|\bplus\b|\bwhile\b", re.IGNORECASE)
_LEAD = re.compile(r"^(?:(?:he|she|they|it|the person|this person)\s+)?(?:is\s+|are\s+)?"
                   r"(?:wearing|wears|dressed in|has on|has|in|carrying|carries|holding|holds|also)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class PhraseEvidence:
    phrase: str
    score: float  # cosine similarity of the picture and the phrase
    percentile: float  # share of the gallery (percent) the picture scores above for this phrase

    @property
    def verdict(self) -> str:
        return "✓" if self.percentile >= MATCH else ("≈" if self.percentile >= UNSURE else "✗")


def split_phrases(text: str, limit: int = MAX_PHRASES) -> list[str]:
    """The description's phrases, in order, without leading verbs ("He is wearing a grey jacket" ->
    "a grey jacket"); duplicates and empty pieces dropped, at most `limit`."""
    out: list[str] = []
    for piece in _SPLIT.split(text):
        phrase = _LEAD.sub("", " ".join(piece.split())).strip(" -'\"")
        if phrase and phrase.lower() not in (p.lower() for p in out) and any(ch.isalpha() for ch in phrase):
            out.append(phrase)
    return out[:limit]


def explain(engine, query: str, row: int) -> list[PhraseEvidence]:
    """Per-phrase evidence for gallery row `row` of `engine` (a SearchEngine) under `query`."""

    query, _ = clean_query(query)
    n = len(engine.gallery)
    if not isinstance(row, (int, np.integer)) or not 0 <= int(row) < n:
        raise LightCLIPError(f"Gallery picture {row} does not exist (the gallery has {n}); pick one of the results.")
    phrases = split_phrases(query) or [query]
    emb = engine.encode_queries(phrases)  # (P, D), as a search encodes them (no autograd through a text head)
    sims = engine.embeddings @ emb.T  # (N, P)
    own = sims[int(row)]
    beats = (sims < own[None, :]).mean(axis=0) * 100  # (P,)
    return [PhraseEvidence(p, float(s), float(b)) for p, s, b in zip(phrases, own, beats)]


__all__ = ["PhraseEvidence", "explain", "split_phrases"]
