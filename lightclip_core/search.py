"""Text-to-person search over a gallery: ``SearchEngine.search(text, k) -> SearchResult``.

A `Gallery` is a list of image files with person ids (and the captions written for them, when
known). A `SearchEngine` pairs a trained model with a gallery: the gallery is encoded once (cached
on disk, keyed by the checkpoint's and the gallery's fingerprints) and held in a `GalleryIndex`, so
a query costs one text encode and one index search. No gradio import here; the app wires this up.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .errors import LightCLIPError
from .fileio import cache_root, read_cache, write_cache
from .index import TUNE_QUERIES, GalleryIndex, as_float32, will_tune

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
    # Lone UTF-16 surrogates (which no tokenizer accepts) and control characters become spaces.
    query = " ".join(_UNPRINTABLE.sub(" ", text).split())
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


def detect_gallery_dataset(root: str | Path) -> str:
    """What a gallery directory holds: ``synthpedes`` (RSTPReid / SynthPedes format) when it has a
    ``data_captions.json``, else ``folder`` (plain images, optional captions.jsonl)."""
    return "synthpedes" if (Path(root) / "data_captions.json").is_file() else "folder"


@dataclass
class Gallery:
    """Images to search, with person ids and (optionally) their captions."""

    paths: list[str]
    pids: list[int]
    captions: list[tuple[str, ...]] = field(default_factory=list)
    name: str = "gallery"
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file under the folder, reason) left out
    root: str | None = None  # where it was loaded from (`Gallery.load`), and as which dataset
    dataset: str | None = None
    footage: Any = None  # a footage.FootageIndex when the folder came from `footage`: search ranks its tracks
    _content_fp: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.paths) != len(self.pids):
            raise LightCLIPError(f"Gallery has {len(self.paths)} images but {len(self.pids)} person ids.")
        if not self.captions:
            self.captions = [()] * len(self.paths)
        self._caption_pid = {c: pid for caps, pid in zip(self.captions, self.pids) for c in caps}

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def load(cls, root: str | Path, dataset: str = "auto", split: str | None = None,
             max_images: int | None = None) -> "Gallery":
        """A gallery from a dataset directory (every split, or `split`) or a plain image folder.

        `dataset="auto"`: RSTPReid/SynthPedes format when ``data_captions.json`` exists, else a folder.
        """
        from .data import load_dataset

        root = Path(root)
        if dataset == "auto":
            dataset = detect_gallery_dataset(root)
        kwargs = {"max_images": max_images} if dataset == "folder" else {}
        ds = load_dataset(dataset, root, **kwargs)
        samples = ds.samples if split is None else ds.split(split)
        if max_images is not None:
            samples = samples[:max_images]
        footage = None
        if ds.notes.get("footage"):
            from .footage import FootageIndex

            footage = FootageIndex.from_meta(root, ds.notes["footage"])
        return cls([s.img_path for s in samples], [s.pid for s in samples], [tuple(s.captions) for s in samples],
                   name=f"{ds.name} ({root.name})", skipped=list(ds.notes.get("skipped", [])), root=str(root),
                   dataset=dataset, footage=footage)

    @property
    def one_per_id(self) -> bool:
        """Whether a search returns one image per person id: a footage gallery's ids are tracks, and
        a track is one result (its best-matching crop)."""
        return self.footage is not None

    def max_images_per_id(self) -> int:
        from collections import Counter

        return max(Counter(self.pids).values(), default=1)

    def pid_of_caption(self, text: str) -> int | None:
        return self._caption_pid.get(text)

    def example_queries(self, n: int = 5, seed: int = 0) -> list[str]:
        """`n` of the gallery's own captions, spread over identities (deterministic)."""
        rows = [i for i, c in enumerate(self.captions) if c]
        if not rows:
            return []
        rng = np.random.default_rng(seed)
        picked = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
        return [self.captions[rows[i]][0] for i in sorted(picked)]

    def content_fingerprint(self) -> str:
        """SHA-256 over each image's path relative to the gallery root, its bytes and its person id:
        the same on any machine and any clone (unlike `fingerprint`, which uses modification times).
        Computed once per Gallery (~50 ms for the bundled 2,000 images)."""
        if self._content_fp is None:
            root = Path(self.root) if self.root else Path(os.path.commonpath(self.paths)) if self.paths else Path(".")
            h = hashlib.sha256()
            for path, pid in zip(self.paths, self.pids):
                rel = Path(os.path.relpath(path, root)).as_posix()
                h.update(f"{rel}\0{hashlib.sha256(Path(path).read_bytes()).hexdigest()}\0{pid}\n".encode())
            self._content_fp = h.hexdigest()
        return self._content_fp

    def fingerprint(self) -> str:
        """Changes when any image (path, size, modification time) or id changes."""
        h = hashlib.sha256()
        for path, pid in zip(self.paths, self.pids):
            st = os.stat(path)
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{pid}\n".encode())
        return h.hexdigest()


def store_key(checkpoint: str | Path, gallery: "Gallery") -> str:
    """What a written index or store was made from: the checkpoint's weights and the gallery's content."""
    return f"{checkpoint_fingerprint(checkpoint)}|{gallery.content_fingerprint()}"


def checkpoint_fingerprint(path: str | Path) -> str:
    """SHA-256 of a checkpoint's weights and config."""
    from .checkpoints import CONFIG_FILE, MODEL_FILE

    h = hashlib.sha256()
    for name in (MODEL_FILE, CONFIG_FILE):
        with open(Path(path) / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


class SearchEngine:
    """A model + an indexed gallery. Thread-safe for concurrent searches (inference only)."""

    def __init__(self, model, gallery: Gallery, embeddings: Any, index_kind: str = "auto", runtime: str | None = None,
                 recall_target: float | None = None, store=None, **index_params: Any) -> None:
        """`embeddings` of `gallery` go into an in-process FAISS index; with `store` (a
        `stores.MilvusStore` holding them) `embeddings` may be None and the store answers every query."""
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
        self._per_id: int | None = None  # most images of one id (one_per_id galleries), computed on first use
        self._row_meta = None  # stores.RowMeta of a footage gallery, read on the first filtered query
        self.store = store  # a stores.MilvusStore to search instead of the in-process FAISS index
        self.embeddings = self.index = None
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
        self.index = GalleryIndex.build(self.embeddings, index_kind, queries=queries, recall_target=recall_target,
                                        **index_params)

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def on_store(cls, checkpoint: str | Path, gallery: Gallery, store, **kw: Any) -> "SearchEngine":
        """A checkpoint's queries over `gallery`, whose embeddings `store` holds (`index --store milvus`
        wrote them with this checkpoint and this gallery: checked)."""
        from .checkpoints import load_checkpoint

        info = store.info()
        if info.get("key") != store_key(checkpoint, gallery) or info.get("rows") != len(gallery):
            raise LightCLIPError(f"The store at {store.uri} holds {info.get('rows')} embeddings written with another "
                                 "checkpoint or gallery; write it again with `index --store milvus` for these.")
        return cls(load_checkpoint(checkpoint), gallery, None, store=store, **kw)

    @classmethod
    def from_model(cls, model, gallery: Gallery, batch_size: int = 64, progress: Callable[[int, int], None] | None = None,
                   **index_kw: Any) -> "SearchEngine":
        return cls(model, gallery, encode_gallery(model, gallery, batch_size, progress), **index_kw)

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | Path,
        gallery: Gallery,
        cache_dir: str | Path | None = None,
        device: str = "cpu",
        progress: Callable[[int, int], None] | None = None,
        shipped: bool = True,
        **index_kw: Any,
    ) -> "SearchEngine":
        """Load a checkpoint and index `gallery`.

        The gallery's embeddings come from, in order: the file shipped beside the checkpoint
        (`SHIPPED_EMBEDDINGS`, when it was written for this checkpoint and this gallery's content;
        ``shipped=False`` skips it), the disk cache under ``<cache>/gallery/`` (keyed by the
        checkpoint's and the gallery's fingerprints; `cache_dir=False` disables it), or an encode.
        """
        from .checkpoints import load_checkpoint

        model = load_checkpoint(checkpoint, device=device)
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
        progress: Callable[[int, int], None] | None = None,
        pretrained: bool = True,
        device: str = "cpu",
        **index_kw: Any,
    ) -> "SearchEngine":
        """A pretrained CLIP-family model (`lightclip_core.list_zero_shot()`) over `gallery`; the
        gallery embeddings are cached like a checkpoint's (keyed by model, weights and gallery)."""
        from .models.zero_shot import create_zero_shot

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
        times; on FAISS an exact scan of those rows, on a Milvus store (`self.store`) Milvus's filter."""
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
        one = self.gallery.one_per_id
        if self.store is not None:
            return self.store.search(q, k, where, one_per_track=one)
        if where:
            from .stores import RowMeta, filtered_search

            if self._row_meta is None:
                self._row_meta = RowMeta.of(self.gallery)
            rows = np.flatnonzero(where.mask(self._row_meta))
            return filtered_search(self.embeddings, q, rows, k, self.gallery.pids, one)
        if one:
            return self._one_per_id(q, k)
        return self.index.search(q, k)

    def _one_per_id(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The top `k` ids, each by its best-scoring image: with at most m images per id, the top
        ``k * m`` images hold at least `k` distinct ids (or all of them)."""
        from .stores import top_per_id

        if self._per_id is None:
            self._per_id = self.gallery.max_images_per_id()
        scores, rows = self.index.search(q, min(len(self.gallery), k * self._per_id))
        return top_per_id(scores, rows, self.gallery.pids, k, one_per_id=True)

    def search_similar(self, row: int, k: int = 10) -> SearchResult:
        """Image-to-image: the `k` gallery images most like gallery image `row` (itself left out; in a
        footage gallery, its whole track left out and one result per other track)."""
        if not 0 <= int(row) < len(self.gallery):
            raise LightCLIPError(f"Gallery image {row} does not exist (the gallery has {len(self.gallery)}).")
        if self.embeddings is None:
            raise LightCLIPError("Image-to-image search reads the gallery's embeddings in this process; this engine "
                                 "searches a store that holds them (search with text, or drop --store).")
        row = int(row)
        t0 = time.perf_counter()
        query = self.embeddings[row][None, :]
        if self.gallery.one_per_id:
            scores, rows = self._one_per_id(query, min(k + 1, len(set(self.gallery.pids))))
            own = self.gallery.pids[row]
            keep = (rows[0] >= 0) & (np.array([self.gallery.pids[r] if r >= 0 else -1 for r in rows[0]]) != own)
        else:
            scores, rows = self.index.search(query, min(k + 1, len(self.gallery)))
            keep = rows[0] != row
        scores, rows = scores[0][keep][:k], rows[0][keep][:k]
        t1 = time.perf_counter()
        return SearchResult(f"image {row}", self._hits(scores, rows), len(self.gallery), 0.0, (t1 - t0) * 1e3)

    def average_precision(self, query_embedding: np.ndarray, pid: int) -> float:
        """AP (percent) of one query embedding whose true identity is `pid`, over the whole gallery."""
        from .evaluate import retrieval_metrics

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


SHIPPED_EMBEDDINGS = "gallery_embeddings.safetensors"


def read_shipped_embeddings(checkpoint: str | Path, gallery: Gallery, embed_dim: int,
                            checkpoint_fp: str | None = None) -> np.ndarray | None:
    """The gallery embeddings shipped beside a checkpoint (fp16 on disk; unit-norm float32 here), or
    None when there are none, or they were written for other weights or another gallery content."""
    path = Path(checkpoint) / SHIPPED_EMBEDDINGS
    if not path.is_file():
        return None
    meta = {"checkpoint": checkpoint_fp or checkpoint_fingerprint(checkpoint), "gallery": gallery.content_fingerprint()}
    got = read_cache(path, lambda t: t["embeddings"].shape == (len(gallery), embed_dim), "numpy", metadata=meta)
    if got is None:
        return None
    emb = got["embeddings"].astype(np.float32)
    return np.ascontiguousarray(emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12))


def shipped_embeddings_current(checkpoint: str | Path, gallery: Gallery) -> bool:
    """Whether the file beside `checkpoint` was written for these weights and this gallery content."""
    meta = {"checkpoint": checkpoint_fingerprint(checkpoint), "gallery": gallery.content_fingerprint()}
    return read_cache(Path(checkpoint) / SHIPPED_EMBEDDINGS, lambda t: t["embeddings"].shape[0] == len(gallery),
                      "numpy", metadata=meta) is not None


def write_shipped_embeddings(checkpoint: str | Path, gallery: Gallery, embeddings: Any) -> Path:
    """Store `embeddings` of `gallery` beside the checkpoint (fp16, ~1.5 MB for 2,000 x 384), keyed by
    the checkpoint's and the gallery content's fingerprints, so a fresh start needs no gallery encode."""
    path = Path(checkpoint) / SHIPPED_EMBEDDINGS
    emb = as_float32(embeddings)
    if emb.shape[0] != len(gallery):
        raise LightCLIPError(f"{emb.shape[0]} embeddings for a gallery of {len(gallery)} images.")
    meta = {"checkpoint": checkpoint_fingerprint(checkpoint), "gallery": gallery.content_fingerprint(),
            "images": str(len(gallery)), "dtype": "float16"}
    write_cache(path, {"embeddings": emb.astype(np.float16)}, metadata=meta, framework="numpy")
    return path


def cached_gallery_embeddings(model, gallery: Gallery, model_key: str | None, cache_dir: str | Path | None = None,
                              progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """`encode_gallery`, cached on disk under ``<cache>/gallery/`` keyed by `model_key` (which must
    identify the weights) and the gallery's fingerprint; `model_key=None` skips the cache."""
    cache_file = None
    if model_key is not None:
        name = hashlib.sha256((model_key + gallery.fingerprint()).encode()).hexdigest()[:24]
        cache_file = Path(cache_dir or cache_root()) / "gallery" / f"{name}.safetensors"
        cached = read_cache(cache_file, lambda t: t["embeddings"].shape == (len(gallery), model.embed_dim), "numpy")
        if cached is not None:
            return cached["embeddings"]
    emb = encode_gallery(model, gallery, progress=progress)
    if cache_file is not None:
        write_cache(cache_file, {"embeddings": emb}, framework="numpy", best_effort=True)
    return emb


def encode_gallery(model, gallery: Gallery, batch_size: int = 64,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """L2-normalised embeddings ``(N, D)`` float32 of the gallery's images, in order.

    `progress(done, total)` is called after each batch (the app drives its progress bar with it).
    """
    from .evaluate import encode_images

    return encode_images(model, gallery.paths, batch_size, on_batch=progress).numpy()


def bundled_checkpoints(root: str | Path) -> dict[str, Path]:
    """Backbone key -> checkpoint directory, for every checkpoint under `root` (a damaged one under its
    folder's name: loading it gives the reason, so the app shows it as unavailable instead of hiding it)."""
    from .checkpoints import CONFIG_FILE, read_config

    found = {}
    root = Path(root)
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if (d / CONFIG_FILE).is_file():
                try:
                    found[read_config(d)["model"]["backbone"]] = d
                except (LightCLIPError, KeyError):
                    found.setdefault(d.name, d)  # damaged: listed by its folder, so loading it says why
    return found


def how_to_get(backbone: str) -> str:
    """One sentence telling a user how to make a checkpoint for `backbone`."""
    return (f"No checkpoint for {backbone} yet: train one with `python -m lightclip_core train --preset cpu-synth "
            f"--backbone {backbone} --out runs/{backbone}`, then `python -m lightclip_core export --dtype int8 "
            f"--checkpoint runs/{backbone}/best --out checkpoints/{backbone}`.")


class EnginePool:
    """One lazily built `SearchEngine` per backbone over one shared gallery; thread-safe.

    The app holds one pool; several browser sessions searching the same backbone share its engine.
    """

    def __init__(self, checkpoints_dir: str | Path, gallery_dir: str | Path,
                 cache_dir: str | Path | None = None, device: str = "cpu", hub_repo: str | None = None) -> None:
        self.checkpoints_dir = Path(checkpoints_dir)
        # A Hugging Face model repo (`hub push`) to fetch missing checkpoints from on first use, never at start
        self.hub_repo = hub_repo or None
        self.gallery_dir = Path(gallery_dir)
        self.cache_dir = cache_dir
        self.device = device
        self.checkpoints = bundled_checkpoints(self.checkpoints_dir)
        # False only in tests: zero-shot models with random weights, the same code path offline
        self.zero_shot_pretrained = True
        self._failed: dict[str, tuple[float, str]] = {}  # model -> (when, message) of a failed load
        self.retry_after_s = 60.0
        self._gallery: Gallery | None = None
        self._engines: dict[str, SearchEngine] = {}
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @property
    def gallery(self) -> Gallery:
        with self._lock:
            if self._gallery is None:
                self._gallery = Gallery.load(self.gallery_dir)
            return self._gallery

    def available(self) -> list[str]:
        return list(self.checkpoints)

    def is_loaded(self, backbone: str) -> bool:
        return backbone in self._engines

    def info(self, backbone: str) -> dict[str, Any]:
        """What the app shows about a model: trained on what, epochs, val metrics."""
        from .checkpoints import read_config
        from .models.zero_shot import is_zero_shot, weights_cached

        if is_zero_shot(backbone):
            return {"available": True, "zero_shot": True, "synthetic": False, "cached": weights_cached(backbone)}
        if backbone not in self.checkpoints:
            if self.hub_repo:
                return {"available": True, "remote": self.hub_repo, "synthetic": None}
            return {"available": False, "message": how_to_get(backbone)}
        try:
            cfg = read_config(self.checkpoints[backbone])
            from .models.lightclip import LightCLIPConfig

            LightCLIPConfig.from_dict(cfg["model"])
        except LightCLIPError as exc:  # damaged: listed, and says why, instead of stopping the app
            return {"available": False, "damaged": True, "message": f"The {backbone} checkpoint is damaged: {exc}"}
        train = cfg.get("train") or {}
        return {"available": True, "synthetic": bool(cfg.get("synthetic", train.get("dataset") == "synthpedes")),
                "dataset": train.get("dataset"), "epochs": cfg.get("epoch"), "metrics": cfg.get("metrics", {})}

    def get(self, backbone: str, progress: Callable[[int, int], None] | None = None) -> SearchEngine:
        """The engine for `backbone` (built on first use: load + encode or read the gallery cache)."""
        from .models.backbones import get_backbone_spec
        from .models.zero_shot import is_zero_shot

        zero_shot = is_zero_shot(backbone)
        if backbone not in self.checkpoints and not zero_shot:
            get_backbone_spec(backbone)  # an unknown name raises with the list of valid ones
            if not self.hub_repo:
                raise LightCLIPError(how_to_get(backbone))
        engine = self._engines.get(backbone)
        if engine is not None:
            return engine
        failed = self._failed.get(backbone)
        if failed is not None and time.monotonic() - failed[0] < self.retry_after_s:
            raise LightCLIPError(failed[1])  # e.g. offline: answer at once instead of probing again
        with self._lock:
            lock = self._locks.setdefault(backbone, threading.Lock())
        with lock:  # two sessions asking for the same new backbone build it once
            if backbone not in self._engines:
                if zero_shot:
                    try:
                        self._engines[backbone] = SearchEngine.from_zero_shot(
                            backbone, self.gallery, cache_dir=self.cache_dir, progress=progress,
                            pretrained=self.zero_shot_pretrained, device=self.device)
                    except LightCLIPError as exc:
                        self._failed[backbone] = (time.monotonic(), str(exc))
                        raise
                else:
                    if backbone not in self.checkpoints:
                        self._fetch_from_hub(backbone)
                    self._engines[backbone] = SearchEngine.from_checkpoint(
                        self.checkpoints[backbone], self.gallery, cache_dir=self.cache_dir, progress=progress,
                        device=self.device)
            return self._engines[backbone]

    def preload(self, backbones: Sequence[str] | None = None) -> list[str]:
        """Build the engines of `backbones` (default: every bundled checkpoint) whose shipped gallery
        embeddings are current, one after another: a checkpoint load each, never a gallery encode (one
        without current embeddings is left for its first search). The app runs this in the background
        once its default model is warm, so the first search with any bundled encoder needs only a text
        encode. Returns the backbones now loaded; a failure is logged and skipped."""
        from .fileio import log

        done = []
        for b in backbones if backbones is not None else self.available():
            if self.is_loaded(b):
                done.append(b)
                continue
            ckpt = self.checkpoints.get(b)
            try:
                if ckpt is None or not shipped_embeddings_current(ckpt, self.gallery):
                    continue
                self.get(b)
                done.append(b)
            except LightCLIPError as exc:
                log(f"preload: {b} skipped ({exc})")
        return done

    def _fetch_from_hub(self, backbone: str) -> None:
        """Download `backbone`'s checkpoint from `hub_repo` into the checkpoints directory (caller holds its lock)."""
        from .checkpoint_hub import pull_checkpoint

        try:
            dest = pull_checkpoint(self.hub_repo, backbone, self.checkpoints_dir)
        except LightCLIPError as exc:
            self._failed[backbone] = (time.monotonic(), str(exc))
            raise
        self.checkpoints[backbone] = dest
