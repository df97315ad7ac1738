"""``faiss`` (the default): the gallery's `GalleryIndex` in this process. A filtered query scans the
rows that pass the filter exactly (a boolean mask over the crops' camera and timestamp, then one
matrix product): a camera-hour is a small share of an archive, and an exact scan of it is both faster
and more accurate than asking an approximate index for more neighbours and dropping most."""

from __future__ import annotations

import numpy as np

from .base import STORES, FootageFilter, RowMeta, VectorStore, filtered_search, top_per_id


@STORES.register("faiss")
class FaissStore(VectorStore):
    """`embeddings` of `gallery` (``(N, D)`` float32, L2-normalised) and the `index` built over them
    (`index.GalleryIndex`: exact, or approximate and tuned)."""

    name = "faiss"

    def __init__(self, embeddings: np.ndarray, index, gallery) -> None:
        self.embeddings, self.index, self.gallery = embeddings, index, gallery
        self._per_id: int | None = None  # most images of one id, computed on the first one-per-id query
        self._row_meta: RowMeta | None = None  # a footage gallery's camera and times, read on the first filter

    def search(self, queries: np.ndarray, k: int, where: FootageFilter | None = None,
               one_per_id: bool = False) -> tuple[np.ndarray, np.ndarray]:
        pids = self.gallery.pids
        if where:
            rows = np.flatnonzero(where.mask(self.row_meta()))
            return filtered_search(self.embeddings, queries, rows, k, pids, one_per_id)
        if not one_per_id:
            return self.index.search(queries, k)
        # with at most m images per id, the top k * m images hold at least k distinct ids (or all of them)
        if self._per_id is None:
            self._per_id = self.gallery.max_images_per_id()
        scores, rows = self.index.search(queries, min(len(self.embeddings), k * self._per_id))
        return top_per_id(scores, rows, pids, k, one_per_id=True)

    def vector(self, row: int) -> np.ndarray:
        return self.embeddings[int(row)]

    def row_meta(self) -> RowMeta:
        if self._row_meta is None:
            self._row_meta = RowMeta.of(self.gallery)
        return self._row_meta

    def sources(self) -> list[str]:
        return self.row_meta().names if getattr(self.gallery, "footage", None) is not None else []
