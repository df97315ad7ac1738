"""GalleryIndex: gallery embeddings in a FAISS index (exact by default, HNSW or IVF for large galleries).

Embeddings are L2-normalised, so inner product = cosine similarity. ``kind="flat"`` is exact
(``IndexFlatIP``); ``"hnsw"`` (``IndexHNSWFlat``, inner product) and ``"ivf"`` (``IndexIVFFlat``
over a flat quantizer, trained on the gallery itself) trade a little recall for speed on galleries
of 100k+ images (``python -m lightclip_core bench --scale`` measures the trade on this machine).

An index saves as ``<path>.faiss`` (FAISS's own binary format; no pickle) + ``<path>.json``
(kind, dimension, size, and a caller-chosen ``key`` such as the checkpoint + gallery fingerprint).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LightCLIPError
from .fileio import cache_root

INDEX_KINDS = ("flat", "hnsw", "ivf")


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
    ) -> None:
        if kind not in INDEX_KINDS:
            raise LightCLIPError(f"Unknown index kind {kind!r}; valid kinds are: {', '.join(INDEX_KINDS)}.")
        self.dim, self.kind = int(dim), kind
        self.params = {"hnsw_m": hnsw_m, "ef_search": ef_search, "ivf_nlist": ivf_nlist, "nprobe": nprobe}
        self._index = None
        self._quantizer = None
        self.key: str = ""

    # -- building ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, embeddings: Any, kind: str = "flat", **params: Any) -> "GalleryIndex":
        """Index `embeddings` ``(N, D)`` (rows are gallery items 0..N-1)."""
        x = as_float32(embeddings)
        index = cls(x.shape[1], kind, **params)
        index.add(x)
        return index

    def _make(self, n_train: int, train: np.ndarray | None):
        faiss = _faiss()
        if self.kind == "flat":
            return faiss.IndexFlatIP(self.dim)
        if self.kind == "hnsw":
            idx = faiss.IndexHNSWFlat(self.dim, self.params["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
            idx.hnsw.efSearch = self.params["ef_search"]
            return idx
        nlist = self.params["ivf_nlist"] or max(1, int(np.sqrt(n_train)))
        nlist = min(nlist, max(1, n_train // 39))  # FAISS wants >= 39 training points per centroid
        quantizer = faiss.IndexFlatIP(self.dim)
        idx = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        if len(train) > 64 * nlist:  # k-means on a sample: 64 points per list are plenty, and 1M would take minutes
            train = train[np.random.default_rng(0).choice(len(train), 64 * nlist, replace=False)]
        idx.train(train)
        idx.nprobe = min(self.params["nprobe"], nlist)
        self._quantizer = quantizer  # the IVF index does not own it: keep it alive as long as the index
        return idx

    def add(self, embeddings: Any) -> None:
        """Append rows; their positions continue from the current size."""
        x = as_float32(embeddings)
        if x.shape[1] != self.dim:
            raise LightCLIPError(f"Embeddings are {x.shape[1]}-d but this index holds {self.dim}-d vectors.")
        if self._index is None:
            self._index = self._make(len(x), x)
        self._index.add(x)

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

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
    def save(self, path: str | Path) -> Path:
        """Write ``<path>.faiss`` and ``<path>.json`` atomically; returns the .faiss path."""
        from .checkpoints import atomic_write_bytes, atomic_write_json

        faiss = _faiss()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = faiss.serialize_index(self._index)
        atomic_write_bytes(path.with_suffix(".faiss"), data.tobytes())
        meta = {"kind": self.kind, "dim": self.dim, "size": len(self), "params": self.params, "key": self.key}
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
        except (ValueError, KeyError, RuntimeError) as e:
            raise LightCLIPError(f"The index at {data_path} is unreadable ({type(e).__name__}); delete it to rebuild.") from e
        index.key = meta.get("key", "")
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
