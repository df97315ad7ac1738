"""`bench --scale --store milvus`: FAISS in this process against a Milvus (lite) store, side by side in
one run, on the same clustered random vectors with footage metadata (100 cameras, a day each).

Per gallery size: the time to build (FAISS) or insert (Milvus), recall@10 against exact search, the
median single-query latency, and a filtered query, camera 3 between 10:00 and 11:00 (about 1 in
2,400 rows): FAISS scans the rows that pass exactly (`stores.filtered_search`); Milvus evaluates its
boolean expression inside the search. Filtered recall is against brute force over those rows.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import log
from ..index import GalleryIndex, exact_top_k
from ..profiling import machine_info
from ..stores import STORES, FootageFilter, RowMeta, filtered_search
from .scale import clustered_unit_vectors, queries_around

CAMERAS, DAY_S = 100, 86_400.0
FILTER = {"camera": "cam3", "from_s": 10 * 3600.0, "to_s": 11 * 3600.0}


def _median_ms(call, queries: np.ndarray) -> tuple[float, list]:
    call(queries[:1])  # warm-up
    out, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        out.append(call(q[None, :]))
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), out


def _recall(found: list[np.ndarray], exact: list[np.ndarray]) -> float:
    hits = [len(set(f.tolist()) & set(e.tolist())) / max(1, len(e)) for f, e in zip(found, exact)]
    return round(float(np.mean(hits)), 4)


def _metadata(n: int, rng: np.random.Generator):
    """Footage-like metadata for `n` random rows: 100 cameras, timestamps over a day, a track each."""

    return RowMeta(np.array([f"cam{c}" for c in rng.integers(0, CAMERAS, n)]), rng.uniform(0, DAY_S, n),
                   np.arange(n, dtype=np.int64), np.zeros((n, 4), np.float32))


def run_store_bench(sizes: list[int], dim: int = 384, n_queries: int = 20, seed: int = 0,
                    store_name: str = "milvus") -> dict[str, Any]:
    """FAISS in this process beside the persistent store `store_name` (a local file of it), on the same
    vectors and queries."""

    rng = np.random.default_rng(seed)
    flt = FootageFilter((FILTER["camera"],), FILTER["from_s"], FILTER["to_s"])
    rows_out = []
    for n in sizes:
        g, people = clustered_unit_vectors(n, dim, rng)
        q = queries_around(people, n_queries, rng)
        meta = _metadata(n, rng)
        exact = list(exact_top_k(g, q, 10))
        keep = np.flatnonzero(flt.mask(meta))
        exact_f = [keep[np.argsort(-(g[keep] @ qi), kind="stable")[:10]] for qi in q]
        pids = np.arange(n)
        t0 = time.perf_counter()
        index = GalleryIndex.build(g, "auto")
        build_s = time.perf_counter() - t0
        ms, found = _median_ms(lambda x: index.search(x, 10)[1][0], q)

        def faiss_filtered(x):
            rows = np.flatnonzero(flt.mask(meta))  # the mask is part of the query's cost
            return filtered_search(g, x, rows, 10, pids, False)[1][0]

        fms, ffound = _median_ms(faiss_filtered, q)
        rows_out.append({"size": n, "store": f"faiss ({index.kind})", "build_s": round(build_s, 2),
                         "latency_ms": round(ms, 2), "recall_at_10": _recall(found, exact),
                         "filtered_ms": round(fms, 2), "filtered_recall_at_10": _recall(ffound, exact_f),
                         "filtered_rows": int(len(keep))})
        with tempfile.TemporaryDirectory(prefix=f"lightclip-{store_name}-") as tmp:
            store = STORES.get(store_name).open(Path(tmp) / "bench.db")
            t0 = time.perf_counter()
            store.write(g, meta, key="bench")
            insert_s = time.perf_counter() - t0
            disk_mb = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 2**20
            ms, found = _median_ms(lambda x: store.search(x, 10)[1][0], q)
            fms, ffound = _median_ms(lambda x: store.search(x, 10, flt)[1][0], q)
        label = "milvus-lite (FLAT)" if store_name == "milvus" else f"{store_name} (local file)"
        rows_out.append({"size": n, "store": label, "build_s": round(insert_s, 2),
                         "disk_mb": round(disk_mb, 1), "latency_ms": round(ms, 2), "recall_at_10": _recall(found, exact),
                         "filtered_ms": round(fms, 2), "filtered_recall_at_10": _recall(ffound, exact_f),
                         "filtered_rows": int(len(keep))})
        log(f"bench --store {store_name}: {n:,} rows: " + "; ".join(
            f"{r['store']} {r['latency_ms']} ms (recall {r['recall_at_10']}), filtered {r['filtered_ms']} ms"
            for r in rows_out[-2:]))

    return {"machine": machine_info("cpu"), "dim": dim, "queries": n_queries, "filter": FILTER,
            "cameras": CAMERAS, "day_s": DAY_S, "rows": rows_out}


def store_table(doc: dict[str, Any]) -> str:
    lines = ["| rows | store | build / insert (s) | query (ms) | recall@10 | filtered query (ms) | filtered recall@10 |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in doc["rows"]:
        lines.append(f"| {r['size']:,} | {r['store']} | {r['build_s']} | {r['latency_ms']} | {r['recall_at_10']} | "
                     f"{r['filtered_ms']} | {r['filtered_recall_at_10']} |")
    return "\n".join(lines)
