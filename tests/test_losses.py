"""Losses against slow, obviously-correct loops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lightclip_core import LightCLIPError
from lightclip_core.losses import compute_losses, id_loss, itc_loss, sdm_loss
from lightclip_core.train_config import LossConfig


def unit(b: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=-1)


def loop_itc(img, txt, scale):
    b = img.shape[0]
    total = 0.0
    for i in range(b):
        sims_i = [scale * float(img[i] @ txt[j]) for j in range(b)]
        sims_t = [scale * float(txt[i] @ img[j]) for j in range(b)]
        total += -sims_i[i] + math.log(sum(math.exp(s) for s in sims_i))
        total += -sims_t[i] + math.log(sum(math.exp(s) for s in sims_t))
    return total / (2 * b)


def loop_sdm(img, txt, pids, scale, eps, kl):
    b = img.shape[0]
    total = 0.0
    for queries, keys in ((img, txt), (txt, img)):
        direction = 0.0
        for i in range(b):
            logits = [scale * float(queries[i] @ keys[j]) for j in range(b)]
            z = sum(math.exp(s) for s in logits)
            p = [math.exp(s) / z for s in logits]
            n_pos = sum(1 for j in range(b) if pids[j] == pids[i])
            q = [(1.0 / n_pos if pids[j] == pids[i] else 0.0) for j in range(b)]
            if kl == "pred-label":
                direction += sum(p[j] * (math.log(p[j]) - math.log(q[j] + eps)) for j in range(b))
            else:
                direction += sum(q[j] * (math.log(q[j]) - math.log(p[j])) for j in range(b) if q[j] > 0)
        total += direction / b
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_itc_matches_loop(seed):
    img, txt = unit(6, 16, seed), unit(6, 16, seed + 100)
    got = itc_loss(img, txt, 10.0)["itc_loss"].item()
    assert got == pytest.approx(loop_itc(img, txt, 10.0), rel=1e-9)


@pytest.mark.parametrize("kl", ["pred-label", "label-pred"])
@pytest.mark.parametrize("seed", [0, 1])
def test_sdm_matches_loop_with_repeated_ids(kl, seed):
    img, txt = unit(8, 16, seed), unit(8, 16, seed + 100)
    pids = [3, 3, 5, 7, 7, 7, 9, 1]
    got = sdm_loss(img, txt, torch.tensor(pids), 20.0, epsilon=1e-8, kl=kl)["sdm_loss"].item()
    assert got == pytest.approx(loop_sdm(img, txt, pids, 20.0, 1e-8, kl), rel=1e-9)


def test_sdm_label_pred_reduces_to_itc_when_all_ids_differ():
    img, txt = unit(7, 12, 5), unit(7, 12, 6)
    pids = torch.arange(7) * 11
    sdm = sdm_loss(img, txt, pids, 15.0, kl="label-pred")["sdm_loss"]
    itc = itc_loss(img, txt, 15.0)["itc_loss"]
    # SDM sums the two directions, ITC averages them.
    torch.testing.assert_close(sdm, 2 * itc)
    # IRRA's published KL(p || q) form is a different number even then (see sdm_loss's docstring).
    irra = sdm_loss(img, txt, pids, 15.0)["sdm_loss"]
    assert not torch.allclose(irra, 2 * itc)


def test_sdm_treats_same_identity_pairs_as_positives():
    # Two captions of one person, both matching both images of that person: ITC punishes the
    # cross pairs as negatives, SDM (either form) does not prefer either.
    img = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64), dim=-1)
    txt = img.clone()
    same = torch.tensor([4, 4, 8])
    diff = torch.tensor([4, 5, 8])
    for kl in ("pred-label", "label-pred"):
        assert sdm_loss(img, txt, same, 20.0, kl=kl)["sdm_loss"] < sdm_loss(img, txt, diff, 20.0, kl=kl)["sdm_loss"]


def test_id_loss_matches_loop():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    labels = torch.tensor([0, 3, 1, 1, 2])

    def ce(logits, y):
        return sum(-logits[i, y[i]].item() + math.log(sum(math.exp(v) for v in logits[i].tolist())) for i in range(5)) / 5

    want = (ce(a, labels) + ce(b, labels)) / 2
    assert id_loss(a, b, labels)["id_loss"].item() == pytest.approx(want, rel=1e-6)


def test_compute_losses_applies_weights_once_and_sums():
    img, txt = unit(4, 8, 0).float(), unit(4, 8, 1).float()
    logits = torch.randn(4, 3)
    out = {"image_features": img, "text_features": txt, "logit_scale": torch.tensor(10.0),
           "image_logits": logits, "text_logits": logits.flip(0)}
    pids = torch.tensor([0, 1, 1, 2])
    cfg = LossConfig(itc=0.5, sdm=2.0, id=0.25)
    terms = compute_losses(out, pids, cfg)
    assert set(terms) == {"itc_loss", "sdm_loss", "id_loss", "loss"}
    torch.testing.assert_close(terms["itc_loss"], 0.5 * itc_loss(img, txt, 10.0)["itc_loss"])
    torch.testing.assert_close(terms["sdm_loss"], 2.0 * sdm_loss(img, txt, pids, 10.0)["sdm_loss"])
    torch.testing.assert_close(terms["id_loss"], 0.25 * id_loss(logits, logits.flip(0), pids)["id_loss"])
    torch.testing.assert_close(terms["loss"], terms["itc_loss"] + terms["sdm_loss"] + terms["id_loss"])
    assert set(compute_losses(out, pids)) == {"itc_loss", "loss"}  # default: ITC only


def test_compute_losses_errors():
    out = {"image_features": unit(2, 4, 0), "text_features": unit(2, 4, 1), "logit_scale": 10.0}
    with pytest.raises(LightCLIPError, match="num_classes"):
        compute_losses(out, torch.tensor([0, 1]), LossConfig(id=1.0))
    with pytest.raises(LightCLIPError, match="All loss weights are 0"):
        compute_losses(out, torch.tensor([0, 1]), LossConfig(itc=0.0))
    with pytest.raises(LightCLIPError, match="kl form"):
        sdm_loss(out["image_features"], out["text_features"], torch.tensor([0, 1]), 10.0, kl="nope")
