"""Where a gallery's embeddings are searched, and the camera / time filter of footage galleries.

- ``faiss`` (the default): the `GalleryIndex` in this process. A filtered query scans the rows that
  pass the filter exactly (a boolean mask over the crops' camera and timestamp, then one matrix
  product): a camera-hour is a small share of an archive, and an exact scan of it is both faster and
  more accurate than asking an approximate index for more neighbours and dropping most.
- ``milvus``: a Milvus collection through ``pymilvus`` (an optional extra, requirements-scale.txt):
  `milvus-lite`'s local file (``--uri gallery.db``) for laptops and tests, a Milvus server
  (``--uri http://host:19530``) for archives that outgrow one machine. It holds each crop's embedding
  with its metadata (source, timestamp, track, box) and answers a filter with its own boolean
  expression (``source in [...] and timestamp >= a and timestamp <= b``) inside the search, and one
  result per track with ``group_by_field="track"``.

Times are seconds into each video (what ``footage.json`` records): ``600``, ``10:00`` or ``1:02:03``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import LightCLIPError

STORES = ("faiss", "milvus")
DEFAULT_COLLECTION = "lightclip_gallery"
_COLLECTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,249}")  # Milvus' rule, room left for the "_info" twin
_REMOTE_URI = re.compile(r"^(https?|tcp|grpc)://", re.IGNORECASE)


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


# -- Milvus -----------------------------------------------------------------------------------------
def _pymilvus():
    import logging
    import os

    # pymilvus and milvus-lite's gRPC server log tracebacks (and gRPC's core its keep-alive chatter) for
    # what this module reports in one sentence; read by gRPC when it is first imported
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    for name in ("pymilvus", "grpc", "grpc._server", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        import pymilvus
    except ImportError:
        raise LightCLIPError("--store milvus needs pymilvus and milvus-lite, optional extras: pip install -r "
                             "requirements-scale.txt (or pip install pymilvus milvus-lite).") from None
    return pymilvus


class MilvusStore:
    """A gallery's embeddings and footage metadata in one Milvus collection (`uri`: a milvus-lite
    file path, or a server's ``http://host:port``)."""

    def __init__(self, uri: str | Path, collection: str = DEFAULT_COLLECTION, timeout_s: float = 5.0,
                 read_only: bool = False) -> None:
        """`read_only`: the caller only searches, so a local store file that does not exist is an error
        (milvus-lite would otherwise create an empty one)."""
        if not _COLLECTION_NAME.fullmatch(str(collection)):
            raise LightCLIPError(f"--collection {str(collection)[:80]!r} is not a Milvus collection name: letters, "
                                 "digits and _, starting with a letter or _, at most 250 characters.")
        local = not _REMOTE_URI.match(str(uri))
        if read_only and local and not Path(uri).exists():  # milvus-lite keeps a folder at the uri
            raise LightCLIPError(f"There is no Milvus store at {uri}; write one first with "
                                 f"index --store milvus --uri {uri}.")
        pymilvus = _pymilvus()
        self.uri, self.collection, self.timeout_s = str(uri), collection, timeout_s
        self._info: dict[str, Any] | None = None
        try:
            self.client = pymilvus.MilvusClient(uri=self.uri, timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises its own and gRPC's errors
            raise LightCLIPError(f"The Milvus store at {self.uri} cannot be reached ({_short(exc)}); check --uri, "
                                 "or give a file path for a local milvus-lite store.") from None

    def write(self, embeddings: np.ndarray, meta: RowMeta | None, key: str, batch: int = 10_000) -> int:
        """Replace the collection with these rows: embedding and (footage galleries, `meta`) source,
        timestamp, track and box; `key` says what they were made from (`search.store_key`)."""
        from pymilvus import DataType

        emb = np.ascontiguousarray(embeddings, np.float32)
        c = self.client
        if c.has_collection(self.collection):
            c.drop_collection(self.collection)
        sources = sorted(set(meta.source.tolist())) if meta else []
        self._write_info({"key": key, "rows": len(emb), "sources": sources, "format": "lightclip-store"})
        schema = c.create_schema(auto_id=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=emb.shape[1])
        schema.add_field("source", DataType.VARCHAR, max_length=512)
        schema.add_field("timestamp", DataType.DOUBLE)
        schema.add_field("track", DataType.INT64)
        schema.add_field("box", DataType.FLOAT_VECTOR, dim=4)
        index = c.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="IP")
        index.add_index("box", index_type="FLAT", metric_type="L2")  # Milvus wants every vector field indexed
        c.create_collection(self.collection, schema=schema, index_params=index)
        for s in range(0, len(emb), batch):
            c.insert(self.collection, [{"row": i, "vector": emb[i].tolist(),
                                        "source": str(meta.source[i]) if meta else "",
                                        "timestamp": float(meta.timestamp[i]) if meta else 0.0,
                                        "track": int(meta.track[i]) if meta else i,
                                        "box": meta.box[i].tolist() if meta else [0.0] * 4}
                                       for i in range(s, min(s + batch, len(emb)))])
        c.load_collection(self.collection)
        self._info = None
        return len(emb)

    def _write_info(self, info: dict[str, Any]) -> None:
        """`info` as the one row of the ``<collection>_info`` collection (Milvus keeps no free-form
        metadata on a collection that every deployment reads back)."""
        from pymilvus import DataType

        c, name = self.client, f"{self.collection}_info"
        if c.has_collection(name):
            c.drop_collection(name)
        schema = c.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("info", DataType.VARCHAR, max_length=65_535)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # a collection must have a vector field
        index = c.prepare_index_params()
        index.add_index("unused", index_type="FLAT", metric_type="L2")
        c.create_collection(name, schema=schema, index_params=index)
        c.insert(name, [{"id": 0, "info": json.dumps(info), "unused": [0.0, 0.0]}])
        c.load_collection(name)

    def info(self) -> dict[str, Any]:
        """What `write` recorded: the key (checkpoint and gallery), the row count, the sources."""
        if self._info is not None:
            return self._info
        name = f"{self.collection}_info"
        if not (self.client.has_collection(self.collection) and self.client.has_collection(name)):
            raise LightCLIPError(f"The Milvus store at {self.uri} has no collection {self.collection!r}; write "
                                 "one with `index --store milvus`.")
        self.client.load_collection(name)  # a store opened again starts released
        self.client.load_collection(self.collection)
        rows = self.client.query(name, filter="id == 0", output_fields=["info"])
        try:
            info = json.loads(rows[0]["info"])
            assert info.get("format") == "lightclip-store"
        except (IndexError, KeyError, TypeError, ValueError, AssertionError):
            raise LightCLIPError(f"The collection {self.collection!r} at {self.uri} was not written by "
                                 "LightCLIP's `index --store milvus`.") from None
        self._info = info
        return info

    def sources(self) -> list[str]:
        """The footage sources (cameras) the collection holds, as `write` recorded them."""
        return list(self.info().get("sources", []))

    def search(self, queries: np.ndarray, k: int, flt: FootageFilter | None = None,
               one_per_track: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Top `k` (scores, rows) per query; the filter and the one-per-track grouping run in Milvus."""
        names = self.sources()  # reads the info row, which loads a store opened again
        expr = flt.milvus_expr(names) if flt else ""
        kwargs = {"group_by_field": "track"} if one_per_track else {}
        try:
            hits = self.client.search(self.collection, data=np.asarray(queries, np.float32).tolist(), limit=k,
                                      filter=expr, output_fields=["row"], timeout=self.timeout_s, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise LightCLIPError(f"The Milvus search at {self.uri} failed ({_short(exc)}).") from None
        scores = np.full((len(queries), k), -np.inf, np.float32)
        rows = np.full((len(queries), k), -1, np.int64)
        for i, found in enumerate(hits):
            for j, h in enumerate(found[:k]):
                scores[i, j], rows[i, j] = h["distance"], h["entity"]["row"]
        return scores, rows


def _short(exc: Exception) -> str:
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


__all__ = ["DEFAULT_COLLECTION", "FootageFilter", "MilvusStore", "RowMeta", "STORES", "filtered_search",
           "parse_time", "top_per_id"]
