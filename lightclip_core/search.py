"""Text-to-person search over a gallery: ``SearchEngine.search(text, k) -> SearchResult``.

A `Gallery` is a list of image files with person ids (and the captions written for them, when
known). A `SearchEngine` pairs a trained model with a gallery: the gallery is encoded once (cached
on disk, keyed by the checkpoint's and the gallery's fingerprints) and held in a `GalleryIndex`, so
a query costs one text encode and one index search. No gradio import here; the app wires this up.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .checkpoints import load_checkpoint
from .errors import LightCLIPError
from .gallery import Gallery
from .gallery_embeddings import (
    cached_gallery_embeddings,
    checkpoint_fingerprint,
    encode_gallery,
    read_shipped_embeddings,
    store_key,
)
from .index import TUNE_QUERIES, GalleryIndex, as_float32, will_tune
from .models.zero_shot import create_zero_shot
from .progress import Progress
from .retrieval import retrieval_metrics
from .stores import FaissStore

MAX_QUERY_CHARS = 1000  # longer queries are cut (at a word boundary); the encoders truncate tokens anyway
MAX_K = 50
_UNPRINTABLE = re.compile("[\ud800-\udfff\x00-\x1f\x7f]")


class QueryError(LightCLIPError):
    """A query that cannot be searched (empty); the message is meant for the person who typed it."""


def clean_query(text: Any, max_chars: int = MAX_QUERY_CHARS) -> tuple[str, bool]:
    """``(query, truncated)``: whitespace and unprintable characters collapsed to single spaces, cut
    to `max_chars` at a word boundary.

    Raises `QueryError` for a missing or empty query.
    """
    if text is None or not isinstance(text, str):
        raise QueryError("Type a description of the person to search for.")
    # Lone UTF-16 surrogates (which no tokenizer accepts) and control characters become spaces; invisible
    # format characters (zero-width spaces and joiners, soft hyphens, byte-order marks) go, so a query of
    # only those is empty; NFKC folds compatibility forms (full-width letters) into the plain ones.
    text = "".join(c for c in _UNPRINTABLE.sub(" ", text) if unicodedata.category(c) != "Cf")
    query = " ".join(unicodedata.normalize("NFKC", text).split())
    if not query:
        raise QueryError("Type a description of the person to search for (e.g. 'a woman in a red coat').")
    if len(query) <= max_chars:
        return query, False
    cut = query[:max_chars]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut, True


@dataclass(frozen=True)
class Hit:
    """One retrieved gallery image."""

    rank: int  # 1-based
    row: int  # position in the gallery
    score: float  # cosine similarity
    pid: int
    path: str
    caption: str | None = None  # the gallery's first caption for this image, when it has one


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    gallery_size: int
    text_ms: float = 0.0
    search_ms: float = 0.0
    truncated: bool = False
    query_pid: int | None = None  # set when the query is one of the gallery's own captions
    ap: float | None = None  # that query's average precision over the whole gallery, in percent
    text_cached: bool = False  # the query's embedding came from the text encoder's cache (text_ms is a lookup)

    @property
    def total_ms(self) -> float:
        return self.text_ms + self.search_ms


class SearchEngine:
    """A model + an indexed gallery. Thread-safe for concurrent searches (inference only)."""

    def __init__(self, model, gallery: Gallery, embeddings: Any, index_kind: str = "auto", runtime: str | None = None,
                 recall_target: float | None = None, store=None, **index_params: Any) -> None:
        """`embeddings` of `gallery` go into an in-process FAISS index (`stores.FaissStore`); with `store`
        (any other `stores.VectorStore` holding them, e.g. Milvus) `embeddings` may be None and the store
        answers every query. Either way the engine talks to its store only."""
        self.model = model.eval()
        # Queries are encoded on `runtime` (torch | onnx | auto, else $LIGHTCLIP_RUNTIME; see runtime.py).
        # The text encoder is shared by every model of the process, so this choice is process-wide.
        if hasattr(model, "use_runtime"):  # a LightCLIP model: its image side too (uploads, image search)
            self.runtime = model.use_runtime(runtime)
        else:
            text = getattr(model, "text_encoder", None)
            self.runtime = text.use_runtime(runtime) if hasattr(text, "use_runtime") else "torch"
        self.gallery = gallery
        # where the gallery embeddings came from: "shipped" (the fp16 file beside a checkpoint, what the
        # app searches) or "encoded" (float32, this process or the disk cache); set by the constructors
        self.embeddings_source = "encoded"
        self.store = store  # a stores.VectorStore: given, or the FAISS index built below
        self.embeddings = None
        if store is not None and embeddings is None:
            return
        self.embeddings = as_float32(embeddings)  # (N, D), L2-normalised
        if len(self.embeddings) != len(gallery):
            raise LightCLIPError(f"{len(self.embeddings)} embeddings for a gallery of {len(gallery)} images.")
        queries = None
        if will_tune(index_kind, len(self.embeddings), recall_target):
            # an approximate index is tuned on what users send: captions (text sits apart from images)
            caps = [c for cs in gallery.captions for c in cs[:1]]
            if caps:
                step = max(1, len(caps) // TUNE_QUERIES)
                queries = self.encode_queries(caps[::step][:TUNE_QUERIES])
        index = GalleryIndex.build(self.embeddings, index_kind, queries=queries, recall_target=recall_target,
                                   **index_params)
        self.store = FaissStore(self.embeddings, index, gallery)

    @property
    def index(self) -> GalleryIndex | None:
        """The in-process FAISS index, when the store is one (None on any other store)."""
        return getattr(self.store, "index", None)

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def on_store(cls, checkpoint: str | Path, gallery: Gallery, store, **kw: Any) -> "SearchEngine":
        """A checkpoint's queries over `gallery`, whose embeddings the persistent `store` holds (`index --store NAME`
        wrote them with this checkpoint and this gallery: checked)."""

        info = store.info()
        if info.get("key") != store_key(checkpoint, gallery) or info.get("rows") != len(gallery):
            raise LightCLIPError(f"The {store.name} store at {getattr(store, 'uri', '?')} holds {info.get('rows')} "
                                 "embeddings written with another checkpoint, gallery or way of embedding pictures (before "
                                 "image+mirror); write it again with "
                                 f"`index --store {store.name}` for these.")
        return cls(load_checkpoint(checkpoint), gallery, None, store=store, **kw)

    @classmethod
    def from_model(cls, model, gallery: Gallery, batch_size: int = 64, progress: Progress | None = None,
                   **index_kw: Any) -> "SearchEngine":
        return cls(model, gallery, encode_gallery(model, gallery, batch_size, progress), **index_kw)

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | Path,
        gallery: Gallery | str | Path,
        cache_dir: str | Path | None = None,
        device: str = "cpu",
        progress: Progress | None = None,
        shipped: bool = True,
        defer_image: bool = False,
        **index_kw: Any,
    ) -> "SearchEngine":
        """Load a checkpoint and index `gallery` (a `Gallery`, or a folder `Gallery.load` reads).

        The gallery's embeddings come from, in order: the file shipped beside the checkpoint for this
        gallery (`gallery_embeddings.shipped_file`, when it was written for this checkpoint and content;
        ``shipped=False`` skips it), the disk cache under ``<cache>/gallery/`` (keyed by the
        checkpoint's and the gallery's fingerprints; `cache_dir=False` disables it), or an encode.
        `defer_image` builds the image side on first use (`load_checkpoint`): a gallery with shipped
        embeddings then answers text queries without it.
        """

        model = load_checkpoint(checkpoint, device=device, defer_image=defer_image)
        return cls.over_gallery(model, checkpoint, gallery, cache_dir, progress, shipped, **index_kw)

    @classmethod
    def over_gallery(cls, model, checkpoint: str | Path, gallery: Gallery | str | Path,
                     cache_dir: str | Path | None = None, progress: Progress | None = None, shipped: bool = True,
                     **index_kw: Any) -> "SearchEngine":
        """`from_checkpoint` for a model already loaded from `checkpoint` (the app searches two galleries
        with one copy of each model); the gallery's embeddings come from the same places."""
        if isinstance(gallery, (str, Path)):
            gallery = Gallery.load(gallery)
        fp = None if cache_dir is False and not shipped else checkpoint_fingerprint(checkpoint)
        emb = read_shipped_embeddings(checkpoint, gallery, model.embed_dim, fp) if shipped else None
        source = "shipped" if emb is not None else "encoded"
        if emb is None:
            emb = cached_gallery_embeddings(model, gallery, None if cache_dir is False else fp, cache_dir, progress)
        engine = cls(model, gallery, emb, **index_kw)
        engine.embeddings_source = source
        return engine

    @classmethod
    def from_zero_shot(
        cls,
        key: str,
        gallery: Gallery,
        cache_dir: str | Path | None = None,
        progress: Progress | None = None,
        pretrained: bool = True,
        device: str = "cpu",
        **index_kw: Any,
    ) -> "SearchEngine":
        """A pretrained CLIP-family model (`lightclip_core.list_zero_shot()`) over `gallery`; the
        gallery embeddings are cached like a checkpoint's (keyed by model, weights and gallery)."""

        model = create_zero_shot(key, pretrained=pretrained).to(device)
        cache_key = f"zero-shot:{key}:{model.config.pretrained_tag}" if pretrained and cache_dir is not False else None
        return cls(model, gallery, cached_gallery_embeddings(model, gallery, cache_key, cache_dir, progress), **index_kw)

    # -- queries -----------------------------------------------------------------------------------
    def _hits(self, scores: np.ndarray, rows: np.ndarray) -> list[Hit]:
        hits = []
        for rank, (score, row) in enumerate(zip(scores.tolist(), rows.tolist()), start=1):
            if row < 0:  # approximate indexes pad with -1 when they find fewer than k
                continue
            caps = self.gallery.captions[row]
            hits.append(Hit(rank, row, float(score), int(self.gallery.pids[row]), self.gallery.paths[row], caps[0] if caps else None))
        return hits

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        with torch.no_grad():
            return as_float32(self.model.encode_text(list(queries)))

    def search(self, text: str, k: int = 10) -> SearchResult:
        """The `k` gallery images most similar to the description `text`."""
        return self.search_batch([text], k)[0]

    def search_batch(self, texts: Sequence[str], k: int = 10, where=None) -> list[SearchResult]:
        """Several queries in one text-encoder batch and one index search (times are per batch).
        `where` (a `stores.FootageFilter`) keeps only a footage gallery's crops from some cameras and
        times, as the store applies it (FAISS: an exact scan of those rows; Milvus: its own filter)."""
        cleaned = [clean_query(t) for t in texts]
        k = max(1, min(int(k), MAX_K, len(self.gallery)))
        is_cached = getattr(getattr(self.model, "text_encoder", None), "is_cached", None)
        cached = [bool(is_cached and is_cached(c)) for c, _ in cleaned]
        t0 = time.perf_counter()
        q = self.encode_queries([c for c, _ in cleaned])
        t1 = time.perf_counter()
        scores, rows = self._ranked(q, k, where)
        t2 = time.perf_counter()
        out = []
        for i, (query, truncated) in enumerate(cleaned):
            res = SearchResult(query, self._hits(scores[i], rows[i]), len(self.gallery),
                               (t1 - t0) * 1e3, (t2 - t1) * 1e3, truncated, text_cached=cached[i])
            pid = self.gallery.pid_of_caption(query) if self.embeddings is not None else None
            if pid is not None:
                res.query_pid, res.ap = pid, self.average_precision(q[i], pid)
            out.append(res)
        return out

    def _ranked(self, q: np.ndarray, k: int, where=None) -> tuple[np.ndarray, np.ndarray]:
        """Top `k` (scores, rows) per query from the store, the filter `where` applied."""
        return self.store.search(q, k, where, one_per_id=self.gallery.one_per_id)

    def search_similar(self, row: int, k: int = 10) -> SearchResult:
        """Image-to-image: the `k` gallery images most like gallery image `row` (itself left out; in a
        footage gallery, its whole track left out and one result per other track), on any store that can
        return a stored row's embedding (one that cannot says so in one sentence)."""
        if not 0 <= int(row) < len(self.gallery):
            raise LightCLIPError(f"Gallery image {row} does not exist (the gallery has {len(self.gallery)}).")
        row = int(row)
        t0 = time.perf_counter()
        query = as_float32(self.store.vector(row)).reshape(1, -1)
        pids = self.gallery.pids
        if self.gallery.one_per_id:
            scores, rows = self.store.search(query, min(k + 1, len(set(pids))), one_per_id=True)
            keep = (rows[0] >= 0) & (np.array([pids[r] if r >= 0 else -1 for r in rows[0]]) != pids[row])
        else:
            scores, rows = self.store.search(query, min(k + 1, len(self.gallery)))
            keep = (rows[0] >= 0) & (rows[0] != row)
        scores, rows = scores[0][keep][:k], rows[0][keep][:k]
        t1 = time.perf_counter()
        return SearchResult(f"image {row}", self._hits(scores, rows), len(self.gallery), 0.0, (t1 - t0) * 1e3)

    def average_precision(self, query_embedding: np.ndarray, pid: int) -> float:
        """AP (percent) of one query embedding whose true identity is `pid`, over the whole gallery."""

        sim = torch.from_numpy(self.embeddings @ query_embedding)[None, :]  # (1, N)
        return float(retrieval_metrics(sim, [pid], self.gallery.pids)["map"])

    def naive_search(self, text: str, k: int = 10) -> SearchResult:
        """What a per-query pipeline without an index costs: re-encode the whole gallery, then rank.

        Only for benchmarks (the "inference time" of the study); results equal `search`'s.
        """
        query, truncated = clean_query(text)
        t0 = time.perf_counter()
        q = self.encode_queries([query])
        t1 = time.perf_counter()
        emb = encode_gallery(self.model, self.gallery)
        sims = emb @ q[0]
        rows = np.argsort(-sims, kind="stable")[:k]
        t2 = time.perf_counter()
        return SearchResult(query, self._hits(sims[rows], rows), len(self.gallery), (t1 - t0) * 1e3, (t2 - t1) * 1e3, truncated)


