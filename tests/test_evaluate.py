"""Retrieval metrics against a plain loop (IRRA's definitions), hand-computed cases, chunking."""

from __future__ import annotations

import pytest
import torch

from lightclip_core import LightCLIPError
from lightclip_core.evaluate import retrieval_metrics  # the contract's name (DESIGN.md); defined in retrieval.py


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


def _gallery_with_distractors(root, layout: str):
    """Three described people (two pictures each) and two pictures nobody described, one of them
    last in the file — a real gallery's distractors."""
    import json

    import numpy as np
    from PIL import Image

    (root / "imgs").mkdir(parents=True)
    rng = np.random.default_rng(0)
    entries = []
    for n, (pid, caps) in enumerate([(0, ["a man in red"]), (0, ["a man in red", "red jacket"]),
                                     (1, ["a woman in blue"]), (9, []), (1, ["blue coat"]),
                                     (2, ["a man in green"]), (2, ["green shirt"]), (8, [])]):
        name = f"{n:02d}.jpg"
        Image.fromarray(rng.integers(0, 255, (64, 32, 3), dtype=np.uint8)).save(root / "imgs" / name)
        entries.append({"id": pid, "img_path": name, "captions": caps, "split": "test", "file": f"imgs/{name}"})
    if layout == "rstpreid":
        (root / "data_captions.json").write_text(json.dumps(entries))
    else:  # a folder: captions.jsonl lists the described pictures only
        lines = [json.dumps({"file": e["file"], "captions": e["captions"], "id": e["id"]}) for e in entries if e["captions"]]
        (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    return entries


@pytest.mark.parametrize("layout", ["rstpreid", "folder"])
def test_eval_ranks_distractors_and_computes_the_loss_on_described_images(tmp_path, capsys, layout):
    import json

    from lightclip_core import create_model
    from lightclip_core.checkpoints import save_checkpoint
    from lightclip_core.cli import main
    from lightclip_core.data import load_dataset
    from lightclip_core.evaluate import evaluate

    entries = _gallery_with_distractors(tmp_path / "data", layout)
    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32)).eval()
    dataset = load_dataset(layout, tmp_path / "data")
    result = evaluate(model, dataset, "test", batch_size=4)
    assert result["n_queries"] == sum(len(e["captions"]) for e in entries) == 7
    assert result["n_gallery"] == len(entries) == 8  # distractors are ranked too
    assert result["val_loss"] == result["val_loss"]  # a number, not NaN

    # The metrics: every caption against the whole gallery, distractors included.
    ev = dataset.eval_split("test")
    img = torch.nn.functional.normalize(torch.randn(len(ev.gallery), 384), dim=-1)
    with torch.no_grad():
        got = evaluate(model, dataset, "test", batch_size=4, image_features=img)
    txt = model.encode_text(ev.queries).float()
    want = loop_metrics(txt @ img.t(), ev.query_pids, ev.gallery_pids)
    for key in ("r1", "r5", "map"):
        assert got[key] == pytest.approx(want[key], abs=1e-4)

    save_checkpoint(model, tmp_path / "ckpt")
    assert main(["eval", "--checkpoint", str(tmp_path / "ckpt"), "--dataset", layout, "--root", str(tmp_path / "data"),
                 "--split", "test", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_gallery"] == 8 and out["map"] == pytest.approx(result["map"], abs=1e-3)


def test_the_contracts_name_is_the_one_serving_uses():
    """`lightclip_core.evaluate.retrieval_metrics` is the documented name; the serving path imports the
    same function from `lightclip_core.retrieval`, below evaluation."""
    from lightclip_core import evaluate, retrieval

    assert evaluate.retrieval_metrics is retrieval.retrieval_metrics
    assert evaluate.encode_images is retrieval.encode_images

