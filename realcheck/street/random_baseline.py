"""Expected R@1/5/10, mAP and mINP (percent) of a random ranking on realcheck/street, computed exactly.

For a query with R positives among N gallery images, ranked uniformly at random:
R@K = 1 - C(N-R, K) / C(N, K); AP = (1/N) * sum_j (1 + (R-1)(j-1)/(N-1)) / j; INP = R / (rank of the
last positive), whose rank is l with probability C(l-1, R-1) / C(N, R). Averaged over the queries.
"""
import json
import sys
from collections import Counter
from math import comb
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent)
entries = [e for e in json.loads((root / "data_captions.json").read_text()) if e["split"] == "test"]
N = len(entries)
positives = Counter(e["id"] for e in entries)
rows = []
for e in entries:
    for _ in e["captions"]:
        R = positives[e["id"]]
        r = {f"r{k}": 1 - comb(N - R, k) / comb(N, k) for k in (1, 5, 10)}
        r["map"] = sum((1 + (R - 1) * (j - 1) / (N - 1)) / j for j in range(1, N + 1)) / N
        r["minp"] = sum(comb(l - 1, R - 1) / comb(N, R) * R / l for l in range(R, N + 1))
        rows.append(r)
print(json.dumps({k: round(100 * sum(r[k] for r in rows) / len(rows), 2) for k in rows[0]} |
                 {"n_queries": len(rows), "n_gallery": N}))
