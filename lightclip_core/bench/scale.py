"""`bench --scale`: exact against approximate FAISS search at gallery sizes up to a million, on random
unit vectors clustered like a person-search gallery; build time, memory, latency, recall@10."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from ..fileio import log
from ..index import TUNE_QUERIES, GalleryIndex, exact_top_k, recall_at_k
from ..profiling import machine_info, timed


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def clustered_unit_vectors(n: int, dim: int, rng: np.random.Generator, per_id: int = 4, ids_per_group: int = 10,
                           spread: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """`n` unit vectors shaped like a person-search gallery: groups of similar-looking people
    (shared attributes), people with `per_id` images each, images scattered around their person.
    Returns ``(vectors, group_centre_of_each_row)``; each level sits at cosine ~0.8 to its parent."""

    def around(centres: np.ndarray, k: int) -> np.ndarray:
        noise = rng.standard_normal((len(centres) * k, dim), dtype=np.float32) * (spread / np.sqrt(dim))
        x = np.repeat(centres, k, axis=0) + noise
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    n_ids = -(-n // per_id)
    n_groups = -(-n_ids // ids_per_group)
    groups = rng.standard_normal((n_groups, dim), dtype=np.float32)
    groups /= np.linalg.norm(groups, axis=1, keepdims=True)
    people = around(groups, ids_per_group)[:n_ids]
    return around(people, per_id)[:n], people


def queries_around(people: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` new unit vectors around random people of a `clustered_unit_vectors` gallery (a description
    of someone in it, sitting as far from each image of theirs as the images sit from each other)."""
    pick = people[rng.choice(len(people), n, replace=False)]
    q = pick + rng.standard_normal(pick.shape, dtype=np.float32) * (0.75 / np.sqrt(people.shape[1]))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def run_scale(
    sizes: list[int] = (10_000, 100_000, 1_000_000),
    dim: int = 384,
    kinds: tuple[str, ...] = ("flat", "pq", "ivf", "hnsw"),
    n_queries: int = 100,
    hnsw_max: int = 1_000_000,
    recall_target: float = 0.97,
    seed: int = 0,
) -> dict[str, Any]:
    """Exact vs approximate search at gallery sizes `sizes`. Per size and kind: build seconds (with
    tuning), index memory, median single-query latency, recall@10 against exact search. The vectors
    are random but clustered like a person-search gallery (`clustered_unit_vectors`). Approximate
    indexes are tuned to `recall_target` on 200 held-out queries (`GalleryIndex.tune`); recall and
    latency are then measured on `n_queries` other queries, about other people."""

    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        g, people = clustered_unit_vectors(n, dim, rng)
        both = queries_around(people, min(len(people), n_queries + TUNE_QUERIES), rng)
        q, held_out = both[:n_queries], both[n_queries:]
        exact = exact_top_k(g, q, 10)
        for kind in kinds:
            if kind == "hnsw" and n > hnsw_max:
                rows.append({"size": n, "kind": kind, "skipped": f"above --hnsw-max {hnsw_max:,}"})
                continue
            before = _rss_mb()
            t0 = time.perf_counter()
            index = GalleryIndex.build(g, kind)
            add_s = time.perf_counter() - t0
            if kind != "flat":
                index.tune(g, held_out, recall_target)
            build_s = time.perf_counter() - t0
            mem = _rss_mb() - before
            lat = timed(lambda ix=index: ix.search(q[0], 10), repeats=20, warmup=2)
            single = [timed(lambda i=i, ix=index: ix.search(q[i], 10), 1, 0)[0] for i in range(1, min(n_queries, 30))]
            recall = recall_at_k(index.search(q, 10)[1], exact)
            row = {
                "size": n, "kind": kind, "build_s": round(build_s, 2), "add_s": round(add_s, 2), "mem_mb": round(mem, 1),
                "index_mb": round(index.nbytes() / 2**20, 1),
                "latency_ms": round(statistics.median(lat + single), 3), "recall_at_10": round(recall, 4),
                "params": {k: v for k, v in index.params.items() if v is not None},
            }
            if index.tuned:
                row["tuned"] = index.tuned
            rows.append(row)
            tuned = f"  ({index.tuned['param']} {index.tuned['value']})" if index.tuned else ""
            log(f"scale: {n:>9,} {kind:5s} build {build_s:7.2f} s  query {row['latency_ms']:8.3f} ms  recall@10 {recall:.3f}{tuned}")
            del index
        del g
    return {"dim": dim, "queries": n_queries, "tune_queries": TUNE_QUERIES, "recall_target": recall_target,
            "data": "clustered random unit vectors (4 images a person, 10 people a group)",
            "machine": machine_info("cpu"), "rows": rows, "command": "python -m lightclip_core bench --scale"}


def scale_table(doc: dict[str, Any]) -> str:
    lines = ["| gallery | index | tuned to | build (s) | index (MB) | query (ms) | recall@10 |",
             "|---:|---|---|---:|---:|---:|---:|"]
    for r in doc["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['size']:,} | {r['kind']} | skipped: {r['skipped']} | | | | |")
            continue
        t = r.get("tuned")
        tuned = f"{t['param']} {t['value']}" + ("" if t.get("reached", True) else " (target not reached)") if t else "exact"
        lines.append(f"| {r['size']:,} | {r['kind']} | {tuned} | {r['build_s']:.2f} | {r.get('index_mb', r['mem_mb']):.0f} | "
                     f"{r['latency_ms']:.2f} | {r['recall_at_10']:.3f} |")
    return "\n".join(lines)
