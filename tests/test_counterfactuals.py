"""Counterfactual captions and varied phrasings: near-misses that are false of the person and differ
from the true caption only where intended; determinism; the file training reads."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from lightclip_core.data import load_dataset
from lightclip_core.synthpedes.counterfactuals import KINDS, UniformStream, differs_only_in, facts_dict
from lightclip_core.data.supervision import attribute_labels, counterfactual_captions
from lightclip_core.synthpedes.writer import SynthConfig, _init_worker, generate, make_identities, render_identity

CFG = SynthConfig(ids=40, images_per_id=2, size=(64, 32), val_ids=5, test_ids=5, seed=11, phrasings="varied",
                  counterfactuals=2)


@pytest.fixture(scope="module", params=["draw", "camera"])
def rendered(request):
    """Every picture of CFG by each renderer (their captions are the same; both are checked)."""
    cfg = SynthConfig(**{**CFG.__dict__, "renderer": request.param})
    people, _ = make_identities(cfg)
    _init_worker(cfg)
    return [(p, render_identity(p)) for p in people]


def test_a_replayed_stream_repeats_every_draw():
    s = UniformStream(np.random.default_rng(0))
    first = [s.random(), s.integers(5), s.integers(3)]
    items = list(range(6))
    s.shuffle(items)
    r = s.replay()
    again = [r.random(), r.integers(5), r.integers(3)]
    items2 = list(range(6))
    r.shuffle(items2)
    assert first == again and items == items2
    assert 0 <= r.random() < 1  # past the recorded end it still draws


def test_counterfactuals_are_false_and_differ_only_where_intended(rendered):
    kinds, checked = Counter(), 0
    for person, pictures in rendered:
        true_texts = {c for pic in pictures for c in pic["captions"]}
        for pic in pictures:
            for facts, cfs in zip(pic["facts"], pic["counterfactuals"]):
                assert len(cfs) <= 2 and len({cf["text"] for cf in cfs}) == len(cfs)
                for cf in cfs:
                    assert cf["text"] not in true_texts
                    assert differs_only_in(facts, cf["facts"], cf["kind"]), (facts, cf)
                    truth = facts_dict(facts)
                    for attr, (old, new) in cf["changes"].items():
                        assert truth[attr] == old != new
                    kinds[cf["kind"]] += 1
                    checked += 1
    assert checked > 200
    assert kinds["swap_colours"] > 30 and len(kinds) >= 8, kinds  # the binding kind leads, the rest vary


def test_a_swap_changes_only_the_colour_words(rendered):
    person, pictures = next((p, pics) for p, pics in rendered
                            if any(cf["kind"] == "swap_colours" for cfs in pics[0]["counterfactuals"] for cf in cfs))
    caption, cfs = next((c, cfs) for c, cfs in zip(pictures[0]["captions"], pictures[0]["counterfactuals"])
                        if any(cf["kind"] == "swap_colours" for cf in cfs))
    swap = next(cf for cf in cfs if cf["kind"] == "swap_colours")
    a, b = caption.split(), swap["text"].split()
    changed = [(x, y) for x, y in zip(a, b) if x != y]
    assert len(a) - 2 <= len(b) <= len(a) + 2 and 1 <= len(changed) <= 6, (caption, swap["text"])


def test_the_kinds_table_names_real_attributes():
    facts = [("gender", "man"), ("upper_colour", "grey"), ("lower_colour", "black")]
    swapped = [("gender", "man"), ("upper_colour", "black"), ("lower_colour", "grey")]
    assert differs_only_in(facts, swapped, "swap_colours")
    assert not differs_only_in(facts, swapped, "upper_colour")
    assert not differs_only_in(facts, [("gender", "woman"), *swapped[1:]], "swap_colours")
    assert set(KINDS) >= {"swap_colours", "upper_colour", "lower_colour", "gender", "upper_type", "lower_type"}


@pytest.mark.parametrize("renderer", ["draw", pytest.param("camera", marks=pytest.mark.slow)])
def test_the_dataset_files_are_deterministic_and_training_reads_them(tmp_path, renderer):
    cfg = SynthConfig(**{**CFG.__dict__, "renderer": renderer})
    generate(tmp_path / "a", cfg, workers=1)
    generate(tmp_path / "b", cfg, workers=2)
    for name in ("data_captions.json", "counterfactuals.json", "attributes.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    data = json.loads((tmp_path / "a" / "counterfactuals.json").read_text())
    assert data["per_caption"] == 2 and all("facts" not in cf for cfs in data["pictures"].values()
                                               for row in cfs for cf in row)
    train = load_dataset("synthpedes", tmp_path / "a").split("train")
    texts, index = counterfactual_captions(tmp_path / "a", train)
    captions = [c for s in train for c in s.captions]
    assert index.shape == (len(captions), 2) and (index >= 0).float().mean() > 0.9
    assert set(texts).isdisjoint(captions)
    labels = attribute_labels(tmp_path / "a", train)
    assert labels.shape == (len(train), 8) and (labels >= 0).all()


def test_varied_phrasings_use_new_constructions(rendered):
    captions = [c for _, pics in rendered for pic in pics for c in pic["captions"]]
    assert any(c.islower() and "." not in c for c in captions)  # typed queries
    assert any(" who " in c and " whose " in c for c in captions)
    assert any(" that is " in c or " that are " in c for c in captions)
    assert any(c.startswith("Dressed in") for c in captions)
    assert min(len(c.split()) for c in captions) >= 4
