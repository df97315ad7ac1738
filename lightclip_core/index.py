"""GalleryIndex: gallery embeddings in a FAISS index, exact for small galleries, tuned HNSW/IVF for large.

Embeddings are L2-normalised, so inner product = cosine similarity. Kinds:

- ``"flat"`` (``IndexFlatIP``): exact; the cost grows with N (about 2 ms at 10k, 23 ms at 100k and
  230 ms at 1M 384-d vectors on two cores: ``python -m lightclip_core bench --scale``).
- ``"pq"``: every vector as a 4-bit product-quantized code scanned with SIMD (FAISS fast-scan,
  ``PQ<d/8>x4fs``), then the best ``k_factor x k`` candidates re-ranked by their exact vectors
  (``RFlat``). Scans all N, so it never misses a region; builds in seconds.
- ``"hnsw"`` (``IndexHNSWFlat``, inner product): a graph; FAISS builds it on all OpenMP threads.
- ``"ivf"`` (``IndexIVFFlat`` over a flat quantizer, k-means on a sample of the gallery itself).
- ``"auto"`` (the default of `GalleryIndex.build`): flat up to `AUTO_FLAT_MAX` vectors, pq above.

An approximate index meets a recall target by tuning its search breadth (pq ``k_factor``, HNSW
``efSearch``, IVF ``nprobe``) on held-out queries: the smallest breadth whose recall@10 against exact
search reaches `recall_target` (default 0.97, a margin over 0.95 for the sampling error of 200 queries). Pass the queries users will send (for text search:
caption embeddings, which sit apart from image embeddings); without them a sample of gallery rows is
used. Person-search embeddings are thousands of small clusters (people) with no coarse structure,
which is hard on partitions and graphs: at 1M clustered vectors IVF needed half its lists and HNSW
(M 32) stayed near recall 0.84 even at efSearch 256, while a full fast-scan over PQ codes with exact
re-ranking reached 0.98 in about 3 ms (``bench --scale`` measures them side by side).

An index saves as ``<path>.faiss`` (FAISS's own binary format; no pickle) + ``<path>.json``
(kind, dimension, size, parameters with the tuned breadth, and a caller-chosen ``key`` such as the
checkpoint + gallery fingerprint).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LightCLIPError
from .fileio import atomic_write_bytes, atomic_write_json, cache_root, log, read_json_or_none
from .outputs import check_output_file
from .registry import one_of

INDEX_KINDS = ("auto", "flat", "pq", "hnsw", "ivf")
INDEX_FORMAT = "lightclip-index-v1"  # in <path>.json (indexes saved before it carry kind, dim and size)
AUTO_FLAT_MAX = 20_000  # exact search: 1.8 ms at 10k, 20 ms at 100k 384-d vectors on two cores (bench --scale); above, "pq"
DEFAULT_RECALL_TARGET = 0.97  # on 200 held-out queries: a margin for sampling error over a promised 0.95
TUNE_QUERIES = 200
EF_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)  # HNSW efSearch tried, in order
K_FACTOR_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)  # "pq": candidates re-ranked exactly, x k
PQ_TRAIN_MAX = 65_536  # PQ codebooks are learned on at most this many rows (seconds, not minutes)
PQ_MIN_ROWS = 1_000
BREADTH = {"pq": "k_factor", "hnsw": "ef_search", "ivf": "nprobe"}  # each approximate kind's tuned parameter


def _faiss():
    import faiss  # imported lazily: importing lightclip_core must stay cheap

    return faiss


def as_float32(x: Any) -> np.ndarray:
    """A torch tensor or array ``(N, D)`` as a C-contiguous float32 numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise LightCLIPError(f"Embeddings must be a (N, D) matrix, got shape {x.shape}.")
    return x


def auto_kind(n: int) -> str:
    """The index `GalleryIndex.build(..., "auto")` picks for `n` vectors."""
    return "flat" if n <= AUTO_FLAT_MAX else "pq"


def will_tune(kind: str, n: int, recall_target: float | None = None) -> bool:
    """Whether `GalleryIndex.build(n rows, kind, recall_target=...)` tunes its search breadth: an
    approximate index chosen by ``auto``, or one named explicitly together with a recall target."""
    concrete = auto_kind(n) if kind == "auto" else kind
    return concrete in BREADTH and (recall_target is not None or kind == "auto")


def pq_subquantizers(dim: int) -> int:
    """Sub-quantizers of a "pq" index: one per 8 dimensions (4 bits each, so a 384-d vector is a 24-byte
    code), rounded to an even divisor of `dim` as FAISS's fast-scan layout needs."""
    for m in range(max(2, dim // 8), 1, -1):
        if dim % m == 0 and m % 2 == 0:
            return m
    raise LightCLIPError(f"A {dim}-d embedding cannot be split for a PQ index; use kind 'flat' or 'hnsw'.")


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Rows of the `k` vectors most similar (inner product) to each query ``(Q, k)``, by brute force:
    `faiss.knn`, which scores the gallery in blocks (the ground truth of `recall_at_k`)."""
    faiss = _faiss()
    k = min(k, len(vectors))
    _, rows = faiss.knn(as_float32(queries), as_float32(vectors), k, metric=faiss.METRIC_INNER_PRODUCT)
    return rows


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top-k rows that `found` ``(Q, >= k)`` contains (FAISS's intersection measure)."""
    from faiss.contrib.evaluation import knn_intersection_measure

    return float(knn_intersection_measure(np.asarray(found)[:, : exact.shape[1]], np.asarray(exact)))


def _is_index_meta(path: Path) -> bool:
    """Whether `path` is the JSON half of an index `GalleryIndex.save` wrote."""
    meta = read_json_or_none(path)
    return isinstance(meta, dict) and (meta.get("format") == INDEX_FORMAT or {"kind", "dim", "size", "params"} <= set(meta))


class GalleryIndex:
    """Top-k cosine search over N gallery embeddings of width D."""

    def __init__(
        self,
        dim: int,
        kind: str = "flat",
        hnsw_m: int = 32,
        ef_search: int = 64,
        ivf_nlist: int | None = None,
        nprobe: int = 16,
        pq_m: int | None = None,
        k_factor: int = 4,
    ) -> None:
        one_of("index kind", kind, INDEX_KINDS, "kinds")
        self.dim, self.kind = int(dim), kind  # "auto" becomes a concrete kind on the first add
        self.params = {"hnsw_m": hnsw_m, "ef_search": ef_search, "ivf_nlist": ivf_nlist, "nprobe": nprobe,
                       "pq_m": pq_m, "k_factor": k_factor}
        self._index = None
        self._quantizer = None
        self.key: str = ""
        self.tuned: dict[str, Any] | None = None  # what `tune` chose and measured

    # -- building ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, embeddings: Any, kind: str = "auto", queries: Any = None, recall_target: float | None = None,
              **params: Any) -> "GalleryIndex":
        """Index `embeddings` ``(N, D)`` (rows are gallery items 0..N-1).

        An approximate index (``auto`` above `AUTO_FLAT_MAX` rows, or ``pq``/``hnsw``/``ivf`` with a
        `recall_target`) is tuned on `queries` (default: a sample of the rows) to that target
        (default `DEFAULT_RECALL_TARGET` under auto); see `tune`."""
        x = as_float32(embeddings)
        index = cls(x.shape[1], kind, **params)
        tune = will_tune(kind, len(x), recall_target)
        index.add(x)
        if tune:
            index.tune(x, queries, recall_target or DEFAULT_RECALL_TARGET)
        return index

    def _make(self, n_train: int, train: np.ndarray | None):
        faiss = _faiss()
        if self.kind == "auto":
            self.kind = auto_kind(n_train)
        if self.kind == "flat":
            return faiss.IndexFlatIP(self.dim)
        if self.kind == "pq":
            if n_train < PQ_MIN_ROWS:
                raise LightCLIPError(f"A pq index needs at least {PQ_MIN_ROWS:,} vectors to learn its codebooks "
                                     f"(got {n_train:,}); use kind 'flat', which is exact and fast at this size.")
            m = self.params["pq_m"] = self.params["pq_m"] or pq_subquantizers(self.dim)
            idx = faiss.index_factory(self.dim, f"PQ{m}x4fs,RFlat", faiss.METRIC_INNER_PRODUCT)  # an IndexRefineFlat
            if len(train) > PQ_TRAIN_MAX:
                train = train[np.random.default_rng(0).choice(len(train), PQ_TRAIN_MAX, replace=False)]
            idx.train(train)
            idx.k_factor = self.params["k_factor"]
            return idx
        if self.kind == "hnsw":
            idx = faiss.IndexHNSWFlat(self.dim, self.params["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
            idx.hnsw.efSearch = self.params["ef_search"]
            return idx
        nlist = self.params["ivf_nlist"] or max(1, int(np.sqrt(n_train)))
        nlist = min(nlist, max(1, n_train // 39))  # FAISS wants >= 39 training points per centroid
        self.params["ivf_nlist"] = nlist
        quantizer = faiss.IndexFlatIP(self.dim)
        idx = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        if len(train) > 64 * nlist:  # k-means on a sample: 64 points per list are plenty, and 1M would take minutes
            train = train[np.random.default_rng(0).choice(len(train), 64 * nlist, replace=False)]
        idx.train(train)
        idx.nprobe = min(self.params["nprobe"], nlist)
        self._quantizer = quantizer  # the IVF index does not own it: keep it alive as long as the index
        return idx

    def add(self, embeddings: Any) -> None:
        """Append rows; their positions continue from the current size. (FAISS adds a large batch
        to an HNSW graph on all its OpenMP threads: add many rows at once, not one by one.)"""
        x = as_float32(embeddings)
        if x.shape[1] != self.dim:
            raise LightCLIPError(f"Embeddings are {x.shape[1]}-d but this index holds {self.dim}-d vectors.")
        if self._index is None:
            self._index = self._make(len(x), x)
        self._index.add(x)

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def nbytes(self) -> int:
        """Bytes of the index as saved (vectors, codes, graph, lists), i.e. what it holds in memory."""
        return 0 if self._index is None else int(_faiss().serialize_index(self._index).nbytes)

    # -- tuning ------------------------------------------------------------------------------------
    def _breadths(self) -> tuple[str, list[int]]:
        if self.kind == "pq":
            return "k_factor", list(K_FACTOR_STEPS)
        if self.kind == "hnsw":
            return "ef_search", list(EF_STEPS)
        nlist = self.params["ivf_nlist"]
        steps = [p for p in (2 ** i for i in range(32)) if p < nlist] + [nlist]
        return "nprobe", steps

    def set_breadth(self, value: int) -> None:
        """How widely an approximate index searches: pq ``k_factor``, HNSW ``efSearch`` or IVF ``nprobe``."""
        if self.kind == "pq":
            self._index.k_factor = self.params["k_factor"] = int(value)
        elif self.kind == "hnsw":
            self._index.hnsw.efSearch = self.params["ef_search"] = int(value)
        elif self.kind == "ivf":
            self._index.nprobe = self.params["nprobe"] = int(min(value, self.params["ivf_nlist"]))

    def tune(self, vectors: Any, queries: Any = None, target: float = DEFAULT_RECALL_TARGET, k: int = 10,
             n_queries: int = TUNE_QUERIES, seed: int = 0) -> dict[str, Any]:
        """Set the smallest search breadth whose recall@`k` on `queries` (against exact search over
        `vectors`, the rows this index holds) reaches `target`; returns and keeps (``self.tuned``)
        what it chose. Without `queries`, `n_queries` gallery rows stand in for them. If no breadth
        reaches the target, the widest is kept and the shortfall is reported in ``tuned``."""
        if self.kind not in BREADTH:
            return {}
        x = as_float32(vectors)
        if len(x) != len(self):
            raise LightCLIPError(f"tune() needs the {len(self)} vectors this index holds, got {len(x)}.")
        if queries is None:
            queries = x[np.random.default_rng(seed).choice(len(x), min(n_queries, len(x)), replace=False)]
        q = as_float32(queries)[:n_queries]
        exact = exact_top_k(x, q, k)
        name, steps = self._breadths()
        for value in steps:
            self.set_breadth(value)
            recall = recall_at_k(self._index.search(q, exact.shape[1])[1], exact)
            if recall >= target:
                break
        self.tuned = {"param": name, "value": int(value), "recall_at_10": round(recall, 4), "target": target,
                      "queries": len(q), "reached": recall >= target}
        if recall < target:
            log(f"The {self.kind} index reaches recall@{k} {recall:.3f} at its widest search ({name} {value}), "
                f"short of the target {target}; use kind 'flat' for exact search.")
        return self.tuned

    # -- searching ---------------------------------------------------------------------------------
    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-`k` gallery rows for each query: ``(scores, rows)``, both ``(Q, k')`` with
        ``k' = min(k, len(self))``, best first; scores are cosine similarities."""
        q = as_float32(queries)
        if q.shape[1] != self.dim:
            raise LightCLIPError(f"Queries are {q.shape[1]}-d but this index holds {self.dim}-d vectors.")
        if len(self) == 0:
            raise LightCLIPError("The gallery index is empty; add images before searching.")
        k = max(1, min(int(k), len(self)))
        scores, rows = self._index.search(q, k)
        return scores, rows

    def reconstruct(self, row: int) -> np.ndarray:
        """The stored embedding of gallery row `row` (for "find people like this")."""
        if not 0 <= row < len(self):
            raise LightCLIPError(f"Gallery row {row} is out of range (0..{len(self) - 1}).")
        return self._index.reconstruct(int(row))

    # -- persistence -------------------------------------------------------------------------------
    @staticmethod
    def check_out(path: str | Path, inputs=(), flag: str = "--out") -> None:
        """Refuse, in one sentence, to save to `path` when ``<path>.json`` or ``<path>.faiss`` exists and
        is not an index this project saved (`outputs.check_output_file`), or `path` overlaps `inputs`."""

        path = Path(path)
        meta = path.with_suffix(".json")
        ours = check_output_file(meta, _is_index_meta, "an index this project saved", flag, inputs)
        check_output_file(path.with_suffix(".faiss"), lambda p: ours, "an index this project saved", flag, inputs)

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.faiss`` and ``<path>.json`` atomically; returns the .faiss path."""

        faiss = _faiss()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = faiss.serialize_index(self._index)
        atomic_write_bytes(path.with_suffix(".faiss"), data.tobytes())
        meta = {"format": INDEX_FORMAT, "kind": self.kind, "dim": self.dim, "size": len(self), "params": self.params, "key": self.key,
                "tuned": self.tuned}
        atomic_write_json(path.with_suffix(".json"), meta)
        return path.with_suffix(".faiss")

    @classmethod
    def load(cls, path: str | Path, key: str | None = None) -> "GalleryIndex":
        """Read an index written by `save`; with `key`, refuse one built for something else."""
        faiss = _faiss()
        path = Path(path)
        meta_path, data_path = path.with_suffix(".json"), path.with_suffix(".faiss")
        if not meta_path.is_file() or not data_path.is_file():
            raise LightCLIPError(f"No saved index at {path} (expected {data_path.name} and {meta_path.name}).")
        try:
            meta = json.loads(meta_path.read_text())
            index = cls(meta["dim"], meta["kind"], **meta.get("params", {}))
            index._index = faiss.deserialize_index(np.fromfile(data_path, dtype=np.uint8))
            if index.kind in BREADTH:  # the tuned breadth (FAISS's file may not carry it)
                index.set_breadth(index.params[BREADTH[index.kind]])
        except (ValueError, KeyError, RuntimeError, AttributeError, TypeError) as e:
            raise LightCLIPError(f"The index at {data_path} is unreadable ({type(e).__name__}); delete it to rebuild.") from e
        index.key, index.tuned = meta.get("key", ""), meta.get("tuned")
        if key is not None and index.key != key:
            raise LightCLIPError(f"The index at {data_path} was built for another model or gallery; delete it to rebuild.")
        if len(index) != meta.get("size"):
            raise LightCLIPError(f"The index at {data_path} is truncated ({len(index)} of {meta.get('size')} vectors).")
        return index


def set_threads(n: int) -> None:
    """FAISS's OpenMP threads (0 leaves FAISS's default)."""
    if n > 0:
        _faiss().omp_set_num_threads(n)


default_cache_dir = cache_root  # the name this module has exported since the first release
