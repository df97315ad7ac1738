"""Retrieval metrics against a plain loop (IRRA's definitions), hand-computed cases, chunking."""

from __future__ import annotations

import pytest
import torch

from lightclip_core import LightCLIPError
from lightclip_core.evaluate import retrieval_metrics


def loop_metrics(sim, q_pids, g_pids):
    """Obviously-correct reference: sort each row (ties by gallery order), walk the ranking."""
    r = {1: [], 5: [], 10: []}
    aps, inps = [], []
    for i in range(len(q_pids)):
        order = sorted(range(len(g_pids)), key=lambda j: (-float(sim[i][j]), j))
        rel = [g_pids[j] == q_pids[i] for j in order]
        if not any(rel):
            continue
        for k in r:
            r[k].append(any(rel[:k]))
        hits, precisions = 0, []
        for rank, is_pos in enumerate(rel, 1):
            if is_pos:
                hits += 1
                precisions.append(hits / rank)
                last = rank
        aps.append(sum(precisions) / len(precisions))
        inps.append(hits / last)
    mean = lambda xs: 100 * sum(xs) / len(xs)  # noqa: E731
    return {"r1": mean(r[1]), "r5": mean(r[5]), "r10": mean(r[10]), "map": mean(aps), "minp": mean(inps)}


def test_hand_computed_case():
    # Gallery ids [7, 3, 7, 5]; one query of id 7 ranks them 3, 7, 5, 7 -> positives at ranks 2 and 4.
    sim = torch.tensor([[0.8, 0.9, 0.1, 0.5]])
    out = retrieval_metrics(sim, [7], [7, 3, 7, 5])
    assert out["r1"] == 0 and out["r5"] == 100 and out["r10"] == 100
    assert out["map"] == pytest.approx(100 * (1 / 2 + 2 / 4) / 2)
    assert out["minp"] == pytest.approx(100 * 2 / 4)


def test_ties_are_broken_by_gallery_order():
    sim = torch.tensor([[0.5, 0.5, 0.5]])
    assert retrieval_metrics(sim, [2], [1, 2, 2])["r1"] == 0.0
    assert retrieval_metrics(sim, [1], [1, 2, 2])["r1"] == 100.0


@pytest.mark.parametrize("seed", range(6))
def test_matches_loop_on_random_cases_with_ties_and_single_positives(seed):
    g = torch.Generator().manual_seed(seed)
    n_q, n_g = 23, 31
    g_pids = torch.randint(0, 9, (n_g,), generator=g).tolist()
    g_pids[0] = 100  # an id with a single gallery image
    q_pids = [g_pids[int(i)] for i in torch.randint(0, n_g, (n_q,), generator=g)] + [100]
    sim = torch.randint(0, 6, (len(q_pids), n_g), generator=g).float() / 5  # many ties
    got = retrieval_metrics(sim, q_pids, g_pids, chunk_size=4)
    want = loop_metrics(sim.tolist(), q_pids, g_pids)
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-4), k


def test_chunked_rows_equal_whole_matrix_and_queries_without_positive_are_counted():
    g = torch.Generator().manual_seed(1)
    q, gal = torch.randn(50, 8, generator=g), torch.randn(40, 8, generator=g)
    q_pids = torch.randint(0, 12, (50,), generator=g)
    g_pids = torch.randint(0, 10, (40,), generator=g)
    whole = retrieval_metrics(q @ gal.t(), q_pids, g_pids)
    chunked = retrieval_metrics(None, q_pids, g_pids, sim_rows=lambda a, b: q[a:b] @ gal.t(), chunk_size=7)
    assert whole == chunked
    absent = int(sum(int(p) not in set(g_pids.tolist()) for p in q_pids))
    assert whole["n_without_positive"] == absent and whole["n_queries"] == 50


def test_per_query_values_and_errors():
    sim = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.5, 0.4]])
    out = retrieval_metrics(sim, [1, 1, 9], [1, 2], per_query=True)
    assert out["per_query"]["r1"].tolist() == [1.0, 0.0]
    assert out["per_query"]["query_index"].tolist() == [0, 1]
    with pytest.raises(LightCLIPError, match="similarity is"):
        retrieval_metrics(sim, [1, 2], [1, 2])
    with pytest.raises(LightCLIPError, match="No query has a positive"):
        retrieval_metrics(sim, [5, 6, 7], [1, 2])
