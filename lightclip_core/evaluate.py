"""Text-to-image retrieval evaluation as in the person-search literature (IRRA's ``utils/metrics.py``).

Rows are text queries, columns gallery images; a query's positives are the gallery images with its
person id. R@K: share of queries with a positive in the top K. AP: mean over the positives of the
precision at each positive's rank. INP: number of positives / rank of the last positive. All in
percent. Ties are broken by gallery order (a stable sort), so results are deterministic.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from .errors import LightCLIPError

METRIC_KEYS = ("r1", "r5", "r10", "map", "minp")


def _as_long(x: Sequence[int] | Tensor) -> Tensor:
    return torch.as_tensor(x, dtype=torch.long).reshape(-1).cpu()


def _metrics_from_matches(matches: Tensor, ks: tuple[int, ...]) -> dict[str, Tensor]:
    """Per-query R@K hits, AP and INP from a (Q, G) boolean matrix in rank order."""
    matches = matches.float()
    hits_cum = matches.cumsum(1)  # (Q, G): positives found up to each rank
    n_pos = matches.sum(1)  # (Q,)
    ranks = torch.arange(1, matches.shape[1] + 1, dtype=torch.float32)  # (G,)
    ap = (hits_cum / ranks * matches).sum(1) / n_pos
    last = (matches * ranks).amax(1)  # rank of the last positive
    out = {f"r{k}": (hits_cum[:, min(k, matches.shape[1]) - 1] > 0).float() for k in ks}
    out["ap"] = ap
    out["inp"] = n_pos / last
    return out


def retrieval_metrics(
    sim: Tensor | None,
    q_pids: Sequence[int] | Tensor,
    g_pids: Sequence[int] | Tensor,
    *,
    chunk_size: int = 512,
    sim_rows: Callable[[int, int], Tensor] | None = None,
    per_query: bool = False,
) -> dict[str, Any]:
    """R@1/5/10, mAP and mINP in percent for a (Q, G) similarity matrix.

    Pass `sim`, or `sim_rows(start, stop)` that returns rows start..stop-1 so that a large matrix is
    never held whole (at most `chunk_size` rows at a time). Queries with no positive in the gallery
    are left out and counted in ``n_without_positive``. With `per_query`, the result also carries
    ``per_query`` tensors (``r1``, ``ap``, ...) over the scored queries and their ``query_index``.
    """
    q_pids, g_pids = _as_long(q_pids), _as_long(g_pids)
    if sim is not None:
        if sim.shape != (len(q_pids), len(g_pids)):
            raise LightCLIPError(
                f"similarity is {tuple(sim.shape)} but there are {len(q_pids)} query and {len(g_pids)} gallery ids."
            )
        sim_rows = lambda a, b: sim[a:b]  # noqa: E731
    if sim_rows is None:
        raise LightCLIPError("retrieval_metrics needs sim or sim_rows.")
    if len(q_pids) == 0 or len(g_pids) == 0:
        raise LightCLIPError("retrieval_metrics needs at least one query and one gallery item.")
    ks = (1, 5, 10)
    parts: dict[str, list[Tensor]] = defaultdict(list)
    kept: list[Tensor] = []
    for start in range(0, len(q_pids), chunk_size):
        stop = min(start + chunk_size, len(q_pids))
        rows = sim_rows(start, stop).float().cpu()  # (c, G)
        order = torch.sort(rows, dim=1, descending=True, stable=True).indices  # (c, G)
        matches = g_pids[order] == q_pids[start:stop, None]  # (c, G)
        has_pos = matches.any(1)
        kept.append(torch.nonzero(has_pos).reshape(-1) + start)
        for name, values in _metrics_from_matches(matches[has_pos], ks).items():
            parts[name].append(values)
    per = {name: torch.cat(v) for name, v in parts.items()}
    n = len(per["ap"])
    if n == 0:
        raise LightCLIPError("No query has a positive in the gallery; check that queries and gallery share ids.")
    out: dict[str, Any] = {f"r{k}": per[f"r{k}"].mean().item() * 100 for k in ks}
    out["map"] = per["ap"].mean().item() * 100
    out["minp"] = per["inp"].mean().item() * 100
    out["n_queries"] = len(q_pids)
    out["n_gallery"] = len(g_pids)
    out["n_without_positive"] = len(q_pids) - n
    if per_query:
        out["per_query"] = {**per, "query_index": torch.cat(kept)}
    return out


# --------------------------------------------------------------------------------------------------
# Encoding and the full evaluation of a model on a dataset split
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def encode_images(model, paths: Sequence[str], batch_size: int = 64, num_workers: int = 0, progress: bool = False,
                  on_batch=None) -> Tensor:
    """L2-normalised image embeddings ``(N, D)`` (on CPU) for image files, in order.

    `progress` shows a tqdm bar; `on_batch(done, total)`, when given, is called after each batch.
    """
    from .data.transforms import ImageFiles, eval_transform

    ds = ImageFiles(list(paths), eval_transform(model))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
    was_training = model.training
    model.eval()
    feats = []
    it = loader
    if progress:
        from tqdm import tqdm

        it = tqdm(loader, desc="gallery", unit="batch", leave=False)
    done = 0
    for images in it:
        feats.append(model.encode_image(images.to(model.device)).float().cpu())
        done += len(images)
        if on_batch is not None:
            on_batch(done, len(ds))
    model.train(was_training)
    return torch.cat(feats) if feats else torch.empty(0, model.embed_dim)


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
    from .losses import LossConfig, compute_losses

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

    # Validation loss over pairs: each image with its first caption, batched.
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
    result["val_loss"] = sum(losses) / len(losses) if losses else float("nan")
    analysis = attribute_analysis(dataset, split, per_query) if by_attribute else None
    if analysis is not None:
        result["by_attribute"] = analysis
    result["seconds"] = time.perf_counter() - t0
    return result
