"""Contrastive and identity losses. Each returns ``{"<name>_loss": scalar}``; `compute_losses` is the
one place where weights are applied and the total is formed (as open_clip's trainer sums ``*_loss``).

Features are expected L2-normalised, shape ``(B, D)``; rows of the image batch pair with rows of the
text batch; `logit_scale` is 1/τ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import LightCLIPError
from .registry import one_of
from .train_config import LossConfig

SDM_KL_FORMS = ("pred-label", "label-pred")


def itc_loss(image_features: Tensor, text_features: Tensor, logit_scale: Tensor | float) -> dict[str, Tensor]:
    """Symmetric InfoNCE (CLIP): pair i is the only positive of row i, both directions averaged."""
    logits = logit_scale * image_features @ text_features.t()  # (B, B), image rows
    labels = torch.arange(logits.shape[0], device=logits.device)
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
    return {"itc_loss": loss}


def sdm_loss(
    image_features: Tensor,
    text_features: Tensor,
    pids: Tensor,
    logit_scale: Tensor | float,
    epsilon: float = 1e-8,
    kl: str = "pred-label",
) -> dict[str, Tensor]:
    """IRRA's similarity distribution matching: every same-identity pair in the batch is a positive.

    The target of row i is uniform over the columns with the same person id. ``kl="pred-label"``
    is IRRA's published form, KL(p ‖ q) with q smoothed by `epsilon`, summed over the image->text and
    text->image directions. ``kl="label-pred"`` is KL(q ‖ p), the multi-positive cross-entropy: with
    all ids distinct it equals 2 × `itc_loss` (SDM sums the two directions, ITC averages them), while
    IRRA's form then still differs from ITC by its ε-weighted penalty on negatives.
    """
    one_of("SDM kl form", kl, SDM_KL_FORMS, "forms")
    pids = pids.reshape(-1, 1)
    labels = (pids == pids.t()).to(image_features.dtype)  # (B, B) symmetric
    target = labels / labels.sum(dim=1, keepdim=True)  # (B, B), rows sum to 1
    t2i_logits = logit_scale * text_features @ image_features.t()  # (B, B)
    loss = image_features.new_zeros(())
    for logits in (t2i_logits.t(), t2i_logits):  # image->text, text->image
        log_pred = F.log_softmax(logits, dim=1)
        if kl == "pred-label":
            per_row = (log_pred.exp() * (log_pred - torch.log(target + epsilon))).sum(dim=1)
        else:
            per_row = (target * (torch.log(target.clamp_min(1e-30)) - log_pred)).sum(dim=1)
        loss = loss + per_row.mean()
    return {"sdm_loss": loss}


def id_loss(image_logits: Tensor, text_logits: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """IRRA's ID loss: one classifier over training identities, applied to both modalities."""
    loss = (F.cross_entropy(image_logits, labels) + F.cross_entropy(text_logits, labels)) / 2
    return {"id_loss": loss}


def distill_kl_loss(
    image_features: Tensor,
    text_features: Tensor,
    teacher_features: Tensor,
    logit_scale: Tensor | float,
    teacher_scales: Tensor,
) -> dict[str, Tensor]:
    """MobileCLIP's distillation: KL(teacher ‖ student) of the in-batch similarity distributions,
    image->text and text->image, averaged. `teacher_features` ``(T, B, D)`` are T teachers'
    embeddings of the same images; an ensemble's target is the mean of its members' distributions.
    """
    s_logits = logit_scale * image_features @ text_features.t()  # (B, B), image rows
    t_logits = teacher_scales.reshape(-1, 1, 1) * teacher_features @ text_features.t()  # (T, B, B)
    loss = image_features.new_zeros(())
    for dim in (1, 0):  # rows: image->text; columns: text->image
        target = F.softmax(t_logits, dim=dim + 1).mean(dim=0)  # (B, B)
        log_pred = F.log_softmax(s_logits, dim=dim)
        loss = loss + (target * (torch.log(target.clamp_min(1e-30)) - log_pred)).sum(dim=dim).mean()
    return {"kd_kl_loss": loss / 2}


def distill_cosine_loss(image_features: Tensor, teacher_features: Tensor) -> dict[str, Tensor]:
    """Feature distillation: 1 - cosine between the student's and each teacher's image embedding,
    averaged over teachers and batch (both unit norm, so the cosine is a dot product)."""
    cos = (teacher_features * image_features.unsqueeze(0)).sum(dim=-1)  # (T, B)
    return {"kd_cos_loss": (1 - cos).mean()}


def negatives_loss(image_features: Tensor, text_features: Tensor, negative_features: Tensor,
                   negative_valid: Tensor, logit_scale: Tensor | float) -> dict[str, Tensor]:
    """Counterfactual hard negatives (NegCLIP's idea, each image against its own): image i must score
    its caption above that caption's K near-misses ``(B, K, D)`` (colours swapped, one attribute
    changed); rows with no valid negative ``(B, K)`` bool are left out."""
    pos = (image_features * text_features).sum(-1, keepdim=True)  # (B, 1)
    neg = torch.einsum("bd,bkd->bk", image_features, negative_features)  # (B, K)
    logits = logit_scale * torch.cat([pos, neg], dim=1)  # (B, 1 + K); mask after scaling (no 0 * inf in grads)
    logits = logits.masked_fill(torch.cat([torch.ones_like(pos, dtype=torch.bool), negative_valid], 1).logical_not(),
                                float("-inf"))
    rows = negative_valid.any(dim=1)
    if not rows.any():
        return {"neg_loss": image_features.new_zeros(())}
    labels = torch.zeros(int(rows.sum()), dtype=torch.long, device=logits.device)
    return {"neg_loss": F.cross_entropy(logits[rows], labels)}


def attributes_loss(logits: dict[str, Tensor], labels: Tensor) -> dict[str, Tensor]:
    """Attribute supervision (free on SynthPedes): one cross-entropy per attribute, averaged. `labels`
    ``(B, A)`` holds class indices in the order of `logits`, -1 where an attribute is unknown."""
    terms = [F.cross_entropy(lg, labels[:, i], ignore_index=-1) for i, lg in enumerate(logits.values())
             if (labels[:, i] >= 0).any()]
    return {"attr_loss": torch.stack(terms).mean() if terms else labels.new_zeros((), dtype=torch.float32)}


def compute_losses(outputs: dict[str, Tensor], pids: Tensor, cfg: LossConfig | None = None) -> dict[str, Tensor]:
    """Weighted ``<name>_loss`` terms from a LightCLIP forward dict, plus their sum as ``loss``.

    `pids` are the batch's identity labels ``(B,)``; the ID loss needs them as class indices
    ``0..num_classes-1``.
    """
    cfg = cfg or LossConfig()
    img, txt, scale = outputs["image_features"], outputs["text_features"], outputs["logit_scale"]
    terms: dict[str, Tensor] = {}

    def add(weight: float, result: dict[str, Tensor]) -> None:
        terms.update({name: weight * value for name, value in result.items()})

    if cfg.itc:
        add(cfg.itc, itc_loss(img, txt, scale))
    if cfg.sdm:
        add(cfg.sdm, sdm_loss(img, txt, pids, scale, epsilon=cfg.sdm_epsilon, kl=cfg.sdm_kl))
    if cfg.id:
        if "image_logits" not in outputs or "text_logits" not in outputs:
            raise LightCLIPError("The ID loss needs a model built with num_classes > 0 and text features.")
        add(cfg.id, id_loss(outputs["image_logits"], outputs["text_logits"], pids))
    if cfg.kd_kl or cfg.kd_cos:
        if "teacher_features" not in outputs:
            raise LightCLIPError("The distillation losses (kd_kl, kd_cos) need a teacher: pass --teacher CKPT_DIR.")
        teacher = outputs["teacher_features"]  # (T, B, D)
        if cfg.kd_kl:
            add(cfg.kd_kl, distill_kl_loss(img, txt, teacher, scale, outputs["teacher_logit_scale"]))
        if cfg.kd_cos:
            add(cfg.kd_cos, distill_cosine_loss(img, teacher))
    if cfg.neg:
        if "negative_features" not in outputs:
            raise LightCLIPError("The negatives loss needs counterfactual captions: a SynthPedes dataset written "
                                 "with synth --counterfactuals N.")
        local_img = outputs.get("local_image_features", img)  # under DDP: this rank's rows
        local_txt = outputs.get("local_text_features", txt)
        add(cfg.neg, negatives_loss(local_img, local_txt, outputs["negative_features"], outputs["negative_valid"], scale))
    if cfg.attr:
        if "attribute_logits" not in outputs:
            raise LightCLIPError("The attributes loss needs a model built with attribute heads and labelled data.")
        add(cfg.attr, attributes_loss(outputs["attribute_logits"], outputs["attribute_labels"]))
    if not terms:
        raise LightCLIPError("All loss weights are 0; set at least one of itc, sdm, id, kd_kl, kd_cos, neg, attr.")
    terms["loss"] = torch.stack([v for k, v in terms.items() if k.endswith("_loss")]).sum()
    return terms
