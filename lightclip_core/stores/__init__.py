"""Where a gallery's embeddings are searched: every store behind one interface (`VectorStore`), found
by name in the `STORES` registry (``--store``). ``base.py`` holds the interface and what stores share
(the camera / time filter of footage galleries); each store is one module with its register line:
``faiss_store.py`` (the in-process FAISS index, the default) and ``milvus_store.py`` (a Milvus
collection, an optional extra). Importing this package registers them all."""

from . import faiss_store, milvus_store  # noqa: F401 - registers the built-in stores
from .base import (DEFAULT_COLLECTION, STORES, FootageFilter, RowMeta, VectorStore, filtered_search, parse_time,
                   top_per_id)
from .faiss_store import FaissStore
from .milvus_store import MilvusStore

__all__ = ["DEFAULT_COLLECTION", "STORES", "FaissStore", "FootageFilter", "MilvusStore", "RowMeta", "VectorStore",
           "filtered_search", "parse_time", "top_per_id"]
