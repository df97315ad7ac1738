"""What every vector store is (`VectorStore`) and the registry that finds stores by name (``--store``),
with what the stores share: the camera / time filter of footage galleries (`FootageFilter` over
`RowMeta`) and the exact scan of a filter's survivors.

Times are seconds into each video (what ``footage.json`` records): ``600``, ``10:00`` or ``1:02:03``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import LightCLIPError
from ..registry import Registry

DEFAULT_COLLECTION = "lightclip_gallery"


# -- the interface --------------------------------------------------------------------------------
class VectorStore:
    """Where a gallery's embeddings are searched. Every store answers the same calls, and a shared test
    (tests/test_stores.py) holds every registered store to the same results:

    - `search(queries, k, where, one_per_id)`: the top `k` (scores, rows) per query, padded with
      (-inf, -1); `where` a `FootageFilter` (a footage gallery's cameras and times), `one_per_id` at
      most one row per person or track;
    - `vector(row)`: a stored row's embedding (image-to-image search starts from it), or one sentence
      saying this store cannot return it;
    - `sources()`: the footage sources (cameras) it holds.

    A *persistent* store is written by ``index --store NAME --uri URI`` (`open`, then `write`) and
    opened again by ``search --store NAME --uri URI``; the others live in the searching process.
    """

    name = "store"
    persistent = False

    def search(self, queries: np.ndarray, k: int, where: "FootageFilter | None" = None,
               one_per_id: bool = False) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def vector(self, row: int) -> np.ndarray:
        raise LightCLIPError(f"The {self.name} store cannot return a stored embedding, which image-to-image "
                             "search starts from; search it with text.")

    def sources(self) -> list[str]:
        return []

    @classmethod
    def open(cls, uri: str | Path, collection: str = DEFAULT_COLLECTION, read_only: bool = False) -> "VectorStore":
        """The persistent store at `uri` (`read_only`: it must exist already)."""
        raise LightCLIPError(f"The {cls.name} store lives in the searching process; there is nothing to open at "
                             f"{uri} (leave out --uri, or choose a persistent store).")

    def info(self) -> dict:
        """What `write` recorded (a persistent store): ``key`` (checkpoint and gallery), ``rows``, ``sources``."""
        raise LightCLIPError(f"The {self.name} store is built in the searching process; it records nothing.")

    def write(self, embeddings: np.ndarray, meta: "RowMeta | None", key: str) -> int:
        """Replace the stored rows with `embeddings` (and a footage gallery's `meta`); `key` says what
        they were made from (`gallery_embeddings.store_key`). Returns the row count."""
        raise LightCLIPError(f"The {self.name} store is built in the searching process, not written.")


STORES: Registry[type[VectorStore]] = Registry("store", plural="stores")
"""Store classes by name: ``@STORES.register("name")`` on a `VectorStore` subclass in a module of this
package, imported by ``stores/__init__.py``."""


def parse_time(text: str | float | int, flag: str = "--from") -> float:
    """Seconds from ``90``, ``1:30`` or ``1:02:03`` (minutes and seconds under 60 after the first field)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        parts = str(text).strip().split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            nums = []
        if not nums or len(nums) > 3 or any(n < 0 or not math.isfinite(n) for n in nums) or any(n >= 60 for n in nums[1:]):
            raise LightCLIPError(f"{flag} takes seconds into the video, as 600, 10:00 or 1:02:03 (got {text!r}).")
        value = 0.0
        for n in nums:
            value = value * 60 + n
    if not (math.isfinite(value) and value >= 0):
        raise LightCLIPError(f"{flag} takes a time of at least 0 seconds (got {text!r}).")
    return value


@dataclass(frozen=True)
class FootageFilter:
    """Which crops a query may return: from these cameras (a source's file name or its stem), seen
    between `start_s` and `end_s` seconds into their video (both inclusive; None: open)."""

    cameras: tuple[str, ...] = ()
    start_s: float | None = None
    end_s: float | None = None

    def __post_init__(self) -> None:
        if self.start_s is not None and self.end_s is not None and self.start_s > self.end_s:
            raise LightCLIPError(f"The time range ends ({self.end_s:g} s) before it starts ({self.start_s:g} s).")

    def __bool__(self) -> bool:
        return bool(self.cameras) or self.start_s is not None or self.end_s is not None

    def sources(self, names: Sequence[str]) -> list[str]:
        """The source names (of `names`) that `cameras` picks; every unknown camera is an error."""
        picked = []
        for cam in self.cameras:
            hits = [n for n in names if n == cam or Path(n).stem == cam]
            if not hits:
                shown = ", ".join(sorted(set(names))[:8])
                raise LightCLIPError(f"No camera {cam!r} in this gallery; its sources are: {shown}.")
            picked += hits
        return sorted(set(picked))

    def mask(self, meta: "RowMeta") -> np.ndarray:
        """Rows of `meta` passing the filter (cameras compared as integer codes: a string comparison
        over a million rows cost ~40 ms a query)."""
        keep = np.ones(len(meta.timestamp), bool)
        if self.cameras:
            picked = set(self.sources(meta.names))
            wanted = [i for i, n in enumerate(meta.names) if n in picked]
            keep &= np.isin(meta.codes, wanted)
        if self.start_s is not None:
            keep &= meta.timestamp >= self.start_s
        if self.end_s is not None:
            keep &= meta.timestamp <= self.end_s
        return keep

    def milvus_expr(self, names: Sequence[str]) -> str:
        """The same filter as a Milvus boolean expression over the collection's fields."""
        terms = []
        if self.cameras:
            terms.append(f"source in {json.dumps(self.sources(names))}")
        if self.start_s is not None:
            terms.append(f"timestamp >= {self.start_s!r}")
        if self.end_s is not None:
            terms.append(f"timestamp <= {self.end_s!r}")
        return " and ".join(terms)


@dataclass
class RowMeta:
    """Per gallery row: the footage facts a filter reads (arrays in the gallery's row order)."""

    source: np.ndarray  # str
    timestamp: np.ndarray  # float64 seconds into the video
    track: np.ndarray  # int64
    box: np.ndarray  # (N, 4) float32

    def __post_init__(self) -> None:
        names, codes = np.unique(self.source, return_inverse=True)
        self.names: list[str] = names.tolist()  # the distinct sources, sorted
        self.codes = codes.astype(np.int32)  # per row: its source's index in `names`

    @classmethod
    def of(cls, gallery) -> "RowMeta":
        """From a footage gallery (`Gallery.footage`); any other gallery cannot be filtered."""
        footage = getattr(gallery, "footage", None)
        if footage is None:
            raise LightCLIPError("Camera and time filters need a footage gallery (written by `footage`); this "
                                 "gallery has no footage.json.")
        crops = [footage.crop(p) or {} for p in gallery.paths]
        return cls(np.array([str(c.get("source", "")) for c in crops]),
                   np.array([float(c.get("timestamp", 0.0)) for c in crops]),
                   np.array([int(c.get("track", -1)) for c in crops], np.int64),
                   np.array([list(c.get("box", [0, 0, 0, 0]))[:4] for c in crops], np.float32).reshape(-1, 4))


def top_per_id(scores: np.ndarray, rows: np.ndarray, pids: Sequence[int] | np.ndarray, k: int,
               one_per_id: bool) -> tuple[np.ndarray, np.ndarray]:
    """The first `k` of each query's ranked (scores, rows), at most one row per id when `one_per_id`;
    padded with (-inf, -1)."""
    out_s = np.full((len(scores), k), -np.inf, np.float32)
    out_r = np.full((len(scores), k), -1, np.int64)
    for i in range(len(scores)):
        seen: set[int] = set()
        n = 0
        for s_, r in zip(scores[i], rows[i]):
            if r < 0 or n >= k:
                continue
            if one_per_id:
                if pids[r] in seen:
                    continue
                seen.add(pids[r])
            out_s[i, n], out_r[i, n] = s_, r
            n += 1
    return out_s, out_r


def filtered_search(embeddings: np.ndarray, queries: np.ndarray, rows: np.ndarray, k: int,
                    pids: Sequence[int] | np.ndarray, one_per_id: bool) -> tuple[np.ndarray, np.ndarray]:
    """Exact search over gallery `rows` only (a filter's survivors)."""
    if len(rows) == 0:
        return top_per_id(np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64), pids, k, one_per_id)
    sims = queries @ embeddings[rows].T  # (Q, R)
    order = np.argsort(-sims, axis=1, kind="stable")
    return top_per_id(np.take_along_axis(sims, order, 1), rows[order], pids, k, one_per_id)
