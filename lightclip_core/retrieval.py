"""Text-to-image retrieval as in the person-search literature (IRRA's ``utils/metrics.py``), and image
files to embeddings: what serving (the search engine, shipped gallery embeddings) and evaluation both
use, so the serving path never imports the evaluation program (`evaluate.py`).

Rows are text queries, columns gallery images; a query's positives are the gallery images with its
person id. R@K: share of queries with a positive in the top K. AP: mean over the positives of the
precision at each positive's rank. INP: number of positives / rank of the last positive. All in
percent. Ties are broken by gallery order (a stable sort), so results are deterministic.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Sequence

import torch
from torch import Tensor
from tqdm import tqdm

from .data.transforms import ImageFiles, eval_transform
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


# How gallery images are embedded: "image+mirror", the mean of a picture's and its mirror image's
# embeddings (a person seen in a mirror is the same person; the mean does not depend on which way they
# walk), or "image", the picture alone. "image+mirror" costs twice the image encoding and nothing at
# query time; docs/REAL.md has its A/B (`eval --gallery-views`). Part of every stored embedding's key,
# so embeddings written the other way are never mixed in.
GALLERY_VIEWS = "image+mirror"
GALLERY_VIEW_CHOICES = ("image", "image+mirror")


def encode_gallery_images(model, images: Tensor, views: str = GALLERY_VIEWS) -> Tensor:
    """Gallery embeddings ``(B, D)`` float32 of a batch ``(B, 3, H, W)``, L2-normalised: with
    ``image+mirror`` each picture's embedding plus its mirror image's (one call on ``2B`` pictures)."""
    if views not in GALLERY_VIEW_CHOICES:
        raise LightCLIPError(f"Unknown gallery views {views!r}; choose one of {', '.join(GALLERY_VIEW_CHOICES)}.")
    if views == "image":
        return model.encode_image(images).float()
    both = model.encode_image(torch.cat([images, images.flip(-1)])).float()  # (2B, D), each L2-normalised
    n = images.shape[0]
    return torch.nn.functional.normalize(both[:n] + both[n:], dim=-1)


@torch.no_grad()
def encode_images(model, paths: Sequence[str], batch_size: int = 64, num_workers: int = 0, progress: bool = False,
                  on_batch=None, views: str = GALLERY_VIEWS) -> Tensor:
    """L2-normalised gallery embeddings ``(N, D)`` (on CPU, `encode_gallery_images`) of image files, in order.

    `progress` shows a tqdm bar; `on_batch(done, total)`, when given, is called after each batch.
    """

    ds = ImageFiles(list(paths), eval_transform(model))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
    was_training = model.training
    model.eval()
    feats = []
    it = loader
    if progress:
        it = tqdm(loader, desc="gallery", unit="batch", leave=False)
    done = 0
    for images in it:
        feats.append(encode_gallery_images(model, images.to(model.device), views).cpu())
        done += len(images)
        if on_batch is not None:
            on_batch(done, len(ds))
    model.train(was_training)
    return torch.cat(feats) if feats else torch.empty(0, model.embed_dim)
