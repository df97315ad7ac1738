"""Evaluation of a model on a dataset split: text -> image retrieval (IRRA's metrics, `retrieval.py`),
attribute analysis, and the evaluation record `eval` prints."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .losses import compute_losses
from .retrieval import encode_images, retrieval_metrics
from .train_config import LossConfig

# --------------------------------------------------------------------------------------------------
# The full evaluation of a model on a dataset split (metrics and encoding: retrieval.py)
# --------------------------------------------------------------------------------------------------


def attribute_analysis(
    dataset, split: str, per_query: dict[str, Tensor], min_queries: int = 20
) -> dict[str, Any] | None:
    """SynthPedes only: R@1 per attribute family, and the attribute values failed queries mention.

    Uses the facts each caption states (``attributes.json``); returns None for other datasets.
    """
    attrs_path = dataset.notes.get("attributes")
    if not attrs_path:
        return None
    pictures = json.loads(Path(attrs_path).read_text()).get("pictures", {})
    facts_per_query: list[list] = []
    for s in dataset.split(split):
        facts = pictures.get(Path(s.img_path).name, {}).get("facts", [])
        for i in range(len(s.captions)):
            facts_per_query.append(facts[i] if i < len(facts) else [])
    families: dict[str, list[float]] = defaultdict(list)
    mentioned, failed = Counter(), Counter()
    for idx, hit in zip(per_query["query_index"].tolist(), per_query["r1"].tolist()):
        for attr, value in facts_per_query[idx]:
            if attr == "gender":
                continue
            families[attr].append(hit)
            word = f"{attr}={value}"
            mentioned[word] += 1
            if hit == 0:
                failed[word] += 1
    by_family = {
        a: {"queries": len(v), "r1": round(100 * sum(v) / len(v), 2)}
        for a, v in sorted(families.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))
        if len(v) >= min_queries
    }
    n_failed = int((per_query["r1"] == 0).sum())
    most_failed = [
        {"mention": w, "failed_queries": c, "share_of_failed": round(100 * c / max(1, n_failed), 2),
         "failure_rate": round(100 * c / mentioned[w], 2)}
        for w, c in failed.most_common(15)
    ]
    return {"r1_by_family": by_family, "failed_queries": n_failed, "failed_mentions": most_failed}


def validation_loss(model, ev, img: Tensor, txt: Tensor, loss_cfg=None, batch_size: int = 64) -> float:
    """The training losses on (image, caption) pairs of an evaluation split `ev`, from its gallery
    embeddings `img` (G, D) and query embeddings `txt` (Q, D): each described image with its first
    caption, in batches of `batch_size`, averaged."""
    cfg = loss_cfg or LossConfig()
    # The ID classifier knows training ids only, and no teacher embeddings exist for this split, so
    # the validation loss is the contrastive part (ITC when a run trained on distillation alone); the
    # counterfactual and attribute terms are training-only too.
    cfg = LossConfig(**{**cfg.to_dict(), "id": 0.0, "kd_kl": 0.0, "kd_cos": 0.0, "neg": 0.0, "attr": 0.0})
    if not (cfg.itc or cfg.sdm):
        cfg = LossConfig(**{**cfg.to_dict(), "itc": 1.0})
    losses = []
    scale = model.scale().detach().float().cpu()
    pids = torch.as_tensor(ev.gallery_pids)
    # Gallery images nobody described (distractors: an empty caption list) are in the ranking above
    # but have no caption to pair with, so the loss uses the described images only.
    ends = [*ev.first_query[1:], len(ev.queries)]
    described = [i for i in range(len(ev.gallery)) if ends[i] > ev.first_query[i]]
    for start in range(0, len(described), batch_size):
        idx = described[start : start + batch_size]
        if len(idx) < 2:
            continue
        out = {"image_features": img[idx], "text_features": txt[[ev.first_query[i] for i in idx]], "logit_scale": scale}
        losses.append(compute_losses(out, pids[idx], cfg)["loss"].item())
    return sum(losses) / len(losses) if losses else float("nan")


@torch.no_grad()  # a text head would otherwise keep every query's autograd graph
def evaluate(
    model,
    dataset,
    split: str = "test",
    batch_size: int = 64,
    num_workers: int = 0,
    loss_cfg=None,
    progress: bool = False,
    image_features: Tensor | None = None,
    by_attribute: bool = True,
) -> dict[str, Any]:
    """Encode `split` of `dataset` (all captions as queries, all images as gallery) and score it.

    `image_features` ``(G, D)``, when given, are the split's gallery embeddings already computed
    (in the split's order), so the images are not encoded again. `by_attribute=False` skips the
    SynthPedes per-attribute breakdown (training's per-epoch check: parsing a large split's
    attributes.json took about a tenth of a short epoch).

    Also the validation loss: the training losses on (image, caption) pairs of the split, in
    batches of `batch_size`, averaged.
    """
    t0 = time.perf_counter()
    ev = dataset.eval_split(split)
    if image_features is not None:
        img = torch.as_tensor(image_features).float().cpu()
        if img.shape[0] != len(ev.gallery):
            raise ValueError(f"image_features has {img.shape[0]} rows for a gallery of {len(ev.gallery)} images")
    else:
        img = encode_images(model, ev.gallery, batch_size, num_workers, progress)  # (G, D)
    txt = model.encode_text(ev.queries).float().cpu()  # (Q, D)
    result = retrieval_metrics(None, ev.query_pids, ev.gallery_pids, sim_rows=lambda a, b: txt[a:b] @ img.t(), per_query=True)
    per_query = result.pop("per_query")

    result["val_loss"] = validation_loss(model, ev, img, txt, loss_cfg, batch_size)
    analysis = attribute_analysis(dataset, split, per_query) if by_attribute else None
    if analysis is not None:
        result["by_attribute"] = analysis
    result["seconds"] = time.perf_counter() - t0
    return result
