"""``milvus``: a Milvus collection through ``pymilvus`` (an optional extra, requirements-scale.txt):
`milvus-lite`'s local file (``--uri gallery.db``) for laptops and tests, a Milvus server
(``--uri http://host:19530``) for archives that outgrow one machine. It holds each crop's embedding
with its metadata (source, timestamp, track, box) and answers a filter with its own boolean
expression (``source in [...] and timestamp >= a and timestamp <= b``) inside the search, and one
result per track with ``group_by_field="track"``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LightCLIPError
from .base import DEFAULT_COLLECTION, STORES, FootageFilter, RowMeta, VectorStore

_COLLECTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,249}")  # Milvus' rule, room left for the "_info" twin
_REMOTE_URI = re.compile(r"^(https?|tcp|grpc)://", re.IGNORECASE)


def _pymilvus():
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


@STORES.register("milvus")
class MilvusStore(VectorStore):
    """A gallery's embeddings and footage metadata in one Milvus collection (`uri`: a milvus-lite
    file path, or a server's ``http://host:port``)."""

    name = "milvus"
    persistent = True

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

    @classmethod
    def open(cls, uri: str | Path, collection: str = DEFAULT_COLLECTION, read_only: bool = False) -> "MilvusStore":
        return cls(uri, collection, read_only=read_only)

    def write(self, embeddings: np.ndarray, meta: RowMeta | None, key: str, batch: int = 10_000) -> int:
        """Replace the collection with these rows: embedding and (footage galleries, `meta`) source,
        timestamp, track and box; `key` says what they were made from (`gallery_embeddings.store_key`)."""
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

    def search(self, queries: np.ndarray, k: int, where: FootageFilter | None = None,
               one_per_id: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Top `k` (scores, rows) per query; the filter and the one-per-track grouping run in Milvus."""
        names = self.sources()  # reads the info row, which loads a store opened again
        expr = where.milvus_expr(names) if where else ""
        kwargs = {"group_by_field": "track"} if one_per_id else {}
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

    def vector(self, row: int) -> np.ndarray:
        """Row `row`'s stored embedding, read back from Milvus."""
        self.sources()  # loads a store opened again
        try:
            found = self.client.query(self.collection, filter=f"row == {int(row)}", output_fields=["vector"],
                                      timeout=self.timeout_s)
        except Exception as exc:  # noqa: BLE001
            raise LightCLIPError(f"Reading row {row} from the Milvus store at {self.uri} failed ({_short(exc)}).") from None
        if not found:
            raise LightCLIPError(f"The Milvus store at {self.uri} has no row {row}.")
        return np.asarray(found[0]["vector"], np.float32)


def _short(exc: Exception) -> str:
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]
