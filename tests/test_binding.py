"""The binding benchmark: its descriptions, its rates against a slow loop, composed precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightclip_core.binding import (KINDS, TEMPLATES, BindingSet, binding_rates, binding_report,
                                    composed_precision, describe)
from lightclip_core.synthpedes.writer import SynthConfig, generate

PERSON = {"gender": "man", "upper_colour": "grey", "upper_type": "jacket", "lower_colour": "black",
          "lower_type": "trousers"}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("bind")
    generate(out, SynthConfig(ids=40, images_per_id=2, size=(64, 32), val_ids=5, test_ids=20, seed=5),
             splits=("test",), workers=1)
    return out


def test_descriptions_fill_every_template():
    for family in TEMPLATES.values():
        for t in family:
            text = describe(PERSON, t)
            assert "grey" in text and "black" in text and "jacket" in text and "{" not in text
    assert describe(PERSON, "A {n} in {a_ut}.") == "A man in a grey jacket."
    assert describe({**PERSON, "upper_colour": "orange"}, "{a_ut}") == "an orange jacket"


def test_the_set_pairs_true_descriptions_with_near_misses(small):
    bset = BindingSet.build(small)
    assert len(bset.pairs) > 100 and len(bset.image_paths) == 40
    for i, t, c, k, f in bset.pairs[:300]:
        assert bset.texts[t] != bset.texts[c]
        assert 0 <= k < len(KINDS) and 0 <= f < len(TEMPLATES)
    assert set(bset.pairs[:, 3].tolist()) == set(range(len(KINDS)))
    again = BindingSet.build(small)
    assert again.texts == bset.texts and (again.pairs == bset.pairs).all()  # deterministic


def test_binding_rates_equal_a_slow_loop():
    rng = np.random.default_rng(0)
    img = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(10, 8), dim=-1)
    pairs = np.array([[rng.integers(6), rng.integers(10), rng.integers(10), rng.integers(len(KINDS)),
                       rng.integers(2)] for _ in range(200)])
    pairs[0, 2] = pairs[0, 1]  # a tie counts half
    got = binding_rates(img, txt, pairs)
    for f, family in enumerate(TEMPLATES):
        for k, kind in enumerate(KINDS):
            wins = []
            for i, t, c, kk, ff in pairs:
                if kk == k and ff == f:
                    a, b = float(img[i] @ txt[t]), float(img[i] @ txt[c])
                    wins.append(1.0 if a > b else 0.5 if a == b else 0.0)
            if wins:
                assert got[family][kind] == pytest.approx(100 * sum(wins) / len(wins), abs=0.01)
    assert got["chance"] == 50.0


def test_composed_precision_equals_a_slow_loop():
    people = [{**PERSON, "gender": g, "upper_colour": u, "lower_colour": l}
              for g in ("man", "woman") for u in ("grey", "red") for l in ("black", "blue")]
    img = torch.nn.functional.normalize(torch.randn(len(people), 16), dim=-1)
    q = torch.nn.functional.normalize(torch.randn(3, 16), dim=-1)
    qp = people[:3]
    got = composed_precision(img, q, people, qp, k=5)
    shares = []
    for j in range(3):
        order = sorted(range(len(people)), key=lambda i: -float(q[j] @ img[i]))[:5]
        key = lambda p: (p["gender"], p["upper_colour"], p["lower_colour"])  # noqa: E731
        shares.append(sum(key(people[i]) == key(qp[j]) for i in order) / 5)
    assert got == pytest.approx(100 * np.mean(shares), abs=0.01)


def test_a_report_for_a_model(small):
    from lightclip_core import create_model
    from lightclip_core.retrieval import encode_images

    model = create_model("mobilenetv3_small_100", image_size=(64, 32), text_head="tokens").eval()
    bset = BindingSet.build(small)
    report = binding_report(model, bset, encode_images(model, bset.image_paths))
    assert 0 <= report["swap"] <= 100 and 0 <= report["single"] <= 100 and 0 <= report["composed_p5"] <= 100
    assert set(report["rates"]) == {"chance", "pairs", *TEMPLATES}


@pytest.mark.slow
def test_training_with_a_text_head_and_negatives_lifts_binding_from_chance(tmp_path):
    """End to end and for real: a random model reads attribute bindings at chance; a short run from
    scratch with a tokens head, counterfactual negatives and attribute supervision reads them well above
    it (measured on its training pictures with the benchmark's own descriptions: 47 -> 73 % one change,
    35 -> 65 % colours swapped in the seen phrasings, when this test was written)."""
    from lightclip_core import create_model
    from lightclip_core.checkpoints import load_checkpoint
    from lightclip_core.train_config import AUGMENTATIONS
    from lightclip_core.retrieval import encode_images
    from lightclip_core.train_config import LossConfig
    from lightclip_core.train import fit
    from lightclip_core.train_config import TrainConfig

    root = tmp_path / "data"
    generate(root, SynthConfig(ids=100, images_per_id=2, size=(64, 32), val_ids=10, test_ids=10, seed=2,
                               counterfactuals=2), workers=1)
    cfg = TrainConfig(backbone="mobilenetv3_small_100", root=str(root), out=str(tmp_path / "run"), epochs=40,
                      batch_size=32, lr=2e-3, warmup_epochs=1, image_size=(64, 32), stripes=2, text_head="tokens",
                      losses=LossConfig(neg=1.0, attr=0.5), augment=AUGMENTATIONS["none"], num_workers=0,
                      progress=False, seed=0)
    fit(cfg)
    bset = BindingSet.build(root, split="train")
    torch.manual_seed(0)
    untrained = create_model("mobilenetv3_small_100", image_size=(64, 32), stripes=2, text_head="tokens").eval()
    trained = load_checkpoint(tmp_path / "run" / "last")
    before = binding_report(untrained, bset, encode_images(untrained, bset.image_paths))
    after = binding_report(trained, bset, encode_images(trained, bset.image_paths))
    assert abs(before["single"] - 50) < 10
    assert after["single"] > 62 and after["single"] > before["single"] + 12, (before["single"], after["single"])
    assert after["rates"]["seen"]["swap_colours"] > before["rates"]["seen"]["swap_colours"] + 10
