"""The binding benchmark: does a model read *which* garment has which colour?

For every person of a SynthPedes split (the bundled gallery by default) it writes a description from
the person's own attributes and near-misses of it with one thing changed (`KINDS`: the two colours
swapped, one colour, the gender, a garment type). A picture *binds* a kind when it scores its true
description above the near-miss; chance is 50 %. Descriptions come in two families of templates:

- ``seen``: phrased like the classic SynthPedes captions the models trained on;
- ``unseen``: constructions no SynthPedes writer uses ("Top: grey jacket. Bottom: black trousers."),
  so a model that leans on the training captions' word order shows it here.

Also `composed precision@5`: one query per distinct (gender, upper colour, lower colour, garments)
of the split's people; the share of each query's top 5 pictures whose gender, upper colour and lower
colour all match (the pictures' people, from attributes.json).

The text side is encoded once (`BindingSet.features`) and shared by every model on that text encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import load_dataset
from .errors import LightCLIPError
from .fileio import read_json
from .synthpedes.counterfactuals import counterfactual_identity
from .synthpedes.identities import Identity
from .text_cache import TokenStateStore

KINDS = ("swap_colours", "upper_colour", "lower_colour", "gender", "upper_type", "lower_type")
SINGLE_KINDS = KINDS[1:]  # "one attribute changed"

# {n}: man/woman, {he}/{his}, {uc} {ut}: upper colour and type, {lc} {lt}: lower, {are}: is/are for {lt}.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "seen": (
        "The {n} is walking. {He} is wearing {a_ut} and {lc} {lt}.",
        "A {n} in {a_ut} and {lc} {lt}.",
        "A {n} is standing. {His} {ut} is {uc} and {his} {lt} {are} {lc}.",
    ),
    "unseen": (
        "Top: {uc} {ut}. Bottom: {lc} {lt}. A {n}.",
        "{uc} {ut} on top and {lc} {lt} below, a {n}",
        "I am looking for a {n}; the {lt} {were} {lc} and the {ut} was {uc}.",
        "the {n} had on {lc} {lt} plus {a_ut}",
    ),
}
PLURAL = {"trousers", "jeans", "shorts"}


def describe(person: dict[str, Any], template: str) -> str:
    """`template` filled with `person`'s attributes (a dict as attributes.json stores identities)."""
    he, his = ("he", "his") if person["gender"] == "man" else ("she", "her")
    uc, ut, lc, lt = person["upper_colour"], person["upper_type"], person["lower_colour"], person["lower_type"]
    a_ut = f"{'an' if uc[0] in 'aeiou' else 'a'} {uc} {ut}"
    plural = lt in PLURAL
    text = template.format(n=person["gender"], He=he.capitalize(), he=he, His=his.capitalize(), his=his, uc=uc,
                           ut=ut, lc=lc, lt=lt, a_ut=a_ut, are="are" if plural else "is", were="were" if plural else "was")
    return text[:1].upper() + text[1:] if template[0].isupper() else text


def applies(person: dict[str, Any]) -> bool:
    """People the benchmark can describe: an upper and a lower garment of different colours."""
    return person["lower_type"] != "none" and person["upper_colour"] != person["lower_colour"]


@dataclass
class BindingSet:
    """Texts and the comparisons between them for one split; `pairs` rows are
    (picture, true text, counterfactual text, kind index, family index)."""

    texts: list[str]
    pairs: np.ndarray  # (P, 5) int64
    image_paths: list[str]  # the pictures, in the split's order
    image_people: list[dict[str, Any]]
    queries: list[str]  # composed-precision queries
    query_people: list[dict[str, Any]]

    @classmethod
    def build(cls, root: str | Path, split: str = "test", seed: int = 0) -> "BindingSet":
        people = _people(root)
        samples = load_dataset("synthpedes", root).split(split)
        if not samples:
            raise LightCLIPError(f"{root} has no {split} split to benchmark binding on.")
        rng = np.random.default_rng(seed)
        texts: dict[str, int] = {}
        index = lambda t: texts.setdefault(t, len(texts))  # noqa: E731 - dedupe, keep first-seen order
        per_person: dict[int, list[tuple[int, int, int, int]]] = {}
        for pid in sorted({s.pid for s in samples}):
            person = people[pid]
            if not applies(person):
                continue
            rows = []
            for fam, templates in enumerate(TEMPLATES.values()):
                template = templates[int(rng.integers(len(templates)))]
                true = index(describe(person, template))
                for k, kind in enumerate(KINDS):
                    ident = Identity(**{**_identity_fields(person), "skin": 0, "height": 1.0, "build": 1.0})
                    other = counterfactual_identity(ident, kind, rng)
                    if other is not None:
                        cf = describe({**person, **other.captioned()}, template)
                        if cf != describe(person, template):
                            rows.append((true, index(cf), k, fam))
            per_person[pid] = rows
        pairs = [(i, t, c, k, f) for i, s in enumerate(samples) for (t, c, k, f) in per_person.get(s.pid, [])]
        combos: dict[tuple, dict] = {}
        for s in samples:
            p = people[s.pid]
            if applies(p):
                combos.setdefault(_combo(p), p)
        queries = [describe(p, "A {n} wearing {a_ut} and {lc} {lt}.") for p in combos.values()]
        return cls(list(texts), np.asarray(pairs, dtype=np.int64).reshape(-1, 5), [s.img_path for s in samples],
                   [people[s.pid] for s in samples], queries, list(combos.values()))

    def features(self, text_encoder, states: bool):
        """The frozen encoder's output for every text and query, once (shared by models on that encoder)."""
        texts = self.texts + self.queries
        if states:
            return TokenStateStore.build(text_encoder, texts, progress=False)
        return torch.cat([text_encoder.encode(texts[i : i + 512]).float().cpu() for i in range(0, len(texts), 512)])


def _people(root: str | Path) -> dict[int, dict[str, Any]]:
    path = Path(root) / "attributes.json"
    data = read_json(path, missing=f"The binding benchmark needs SynthPedes' attributes.json, and {path} is missing.")
    return {p["pid"]: p for p in data.get("identities", [])}


def _identity_fields(person: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(Identity)} - {"skin", "height", "build"}
    return {k: person[k] for k in names if k in person}


def _combo(p: dict[str, Any]) -> tuple:
    return p["gender"], p["upper_colour"], p["upper_type"], p["lower_colour"], p["lower_type"]


def project(model, features, rows: slice | None = None) -> torch.Tensor:
    """The joint-space text embeddings of the cached frozen features (all, or `rows`), in chunks."""

    n = len(features) if isinstance(features, TokenStateStore) else features.shape[0]
    out = []
    with torch.no_grad():
        for start in range(0, n, 256):
            idx = torch.arange(start, min(n, start + 256))
            if isinstance(features, TokenStateStore):
                f = features.rows(idx)
                out.append(model.project_text(f.pooled, f.states, f.mask).float().cpu())
            else:
                out.append(model.project_text(features[idx]).float().cpu())
    return torch.cat(out)


def binding_rates(image_features: torch.Tensor, text_features: torch.Tensor, pairs: np.ndarray) -> dict[str, Any]:
    """Per family and kind, the share (percent) of pairs whose picture scores the true text above the
    counterfactual (ties count half); ``all`` averages a family's kinds, ``single`` the one-change kinds."""
    p = torch.as_tensor(pairs)
    img = image_features[p[:, 0]]
    diff = (img * text_features[p[:, 1]]).sum(-1) - (img * text_features[p[:, 2]]).sum(-1)  # (P,)
    win = (diff > 0).float() + 0.5 * (diff == 0).float()
    out: dict[str, Any] = {"chance": 50.0, "pairs": int(len(p))}
    for f, family in enumerate(TEMPLATES):
        rates = {}
        for k, kind in enumerate(KINDS):
            sel = (p[:, 3] == k) & (p[:, 4] == f)
            if sel.any():
                rates[kind] = round(100 * win[sel].mean().item(), 2)
        single = [rates[k] for k in SINGLE_KINDS if k in rates]
        rates["single"] = round(float(np.mean(single)), 2) if single else None
        out[family] = rates
    return out


def composed_precision(image_features: torch.Tensor, query_features: torch.Tensor, image_people: list[dict],
                       query_people: list[dict], k: int = 5) -> float:
    """Mean share (percent) of each query's top `k` pictures whose gender, upper and lower colour match."""
    sim = query_features @ image_features.t()  # (Q, G)
    top = sim.topk(min(k, sim.shape[1]), dim=1).indices
    key = lambda p: (p["gender"], p["upper_colour"], p["lower_colour"])  # noqa: E731
    hits = [[key(image_people[j]) == key(q) for j in row] for row, q in zip(top.tolist(), query_people)]
    return round(100 * float(np.mean([np.mean(h) for h in hits])), 2) if hits else float("nan")


def binding_report(model, bset: BindingSet, image_features: torch.Tensor, features=None) -> dict[str, Any]:
    """The benchmark for one model: per-kind binding rates, headline figures and composed precision@5.
    `features`: `bset.features(...)` computed once for several models (else computed here)."""
    if features is None:
        features = bset.features(model.text_encoder, states=model.needs_token_states)
    emb = project(model, features)  # (texts + queries, D)
    texts, queries = emb[: len(bset.texts)], emb[len(bset.texts):]
    rates = binding_rates(image_features.float().cpu(), texts, bset.pairs)
    both = lambda key: round(float(np.mean([rates[f][key] for f in TEMPLATES if rates[f].get(key) is not None])), 2)  # noqa: E731
    return {
        "swap": both("swap_colours"),
        "single": both("single"),
        "unseen_swap": rates["unseen"].get("swap_colours"),
        "composed_p5": composed_precision(image_features.float().cpu(), queries, bset.image_people, bset.query_people),
        "rates": rates,
        "people": len(bset.query_people),
    }


__all__ = ["KINDS", "TEMPLATES", "BindingSet", "binding_rates", "binding_report", "composed_precision", "describe"]
