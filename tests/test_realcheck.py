"""The real-photo check: image -> image re-identification against a slow, obvious scorer; the figures
come from a real model on a check folder; training refuses a real check; the repository's own check
loads through the RSTPReid loader and holds what its README says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from lightclip_core import create_model
from lightclip_core.cli import main
from lightclip_core.data.person_search import load_rstpreid
from lightclip_core.errors import LightCLIPError
from lightclip_core.realcheck import CROPS_FORMAT, real_check, reid_metrics

STREET = REPO / "realcheck" / "street"


def slow_reid(features, persons, tracks, times, gap):
    """Each crop against the others, one at a time, with average precision written out."""
    aps, r1s = [], []
    for i in range(len(persons)):
        others = [j for j in range(len(persons))
                  if j != i and not (tracks[j] == tracks[i] and abs(times[j] - times[i]) < gap)]
        if not any(persons[j] == persons[i] for j in others):
            continue
        ranked = sorted(others, key=lambda j: -float(features[i] @ features[j]))
        hits, precisions = 0, []
        for rank, j in enumerate(ranked, 1):
            if persons[j] == persons[i]:
                hits += 1
                precisions.append(hits / rank)
        aps.append(100 * sum(precisions) / len(precisions))
        r1s.append(100.0 if persons[ranked[0]] == persons[i] else 0.0)
    return sum(aps) / len(aps), sum(r1s) / len(r1s), len(aps)


def test_reid_matches_the_slow_scorer_and_leaves_out_the_querys_own_moment():
    g = torch.Generator().manual_seed(0)
    features = torch.nn.functional.normalize(torch.randn(12, 8, generator=g), dim=1)
    persons = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4]
    tracks = [0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7]
    times = [0.0, 1.0, 9.0, 0.0, 5.0, 3.0, 0.0, 1.5, 2.0, 2.5, 8.0, 4.0]
    got = reid_metrics(features, persons, tracks, times, gap_s=2.0)
    want_map, want_r1, want_n = slow_reid(features, persons, tracks, times, 2.0)
    assert got["real_reid_queries"] == want_n == 9  # person 2's two crops are one track 1.5 s apart; 4 is alone
    assert got["real_reid_map"] == pytest.approx(want_map, abs=0.01)
    assert got["real_reid_r1"] == pytest.approx(want_r1, abs=0.01)
    # a crop identical to its query, inside the gap, does not count as found
    twin = features.clone()
    twin[1] = twin[0]
    assert reid_metrics(twin, persons, tracks, times, 2.0)["real_reid_queries"] == 9


def write_check(root: Path, people: int = 4, crops: int = 3) -> Path:
    """A tiny check in the repository's format: coloured 'people' on noise, two descriptions each."""
    rng = np.random.default_rng(0)
    colours = {"red": (200, 30, 30), "blue": (30, 60, 200), "green": (30, 160, 60), "yellow": (230, 210, 40)}
    (root / "imgs").mkdir(parents=True)
    entries, listed = [], {}
    for pid, (name, rgb) in enumerate(list(colours.items())[:people]):
        for k in range(crops):
            arr = rng.integers(0, 60, (96, 48, 3)).astype(np.uint8)
            arr[20:70, 12:36] = rgb
            file = f"p{pid:03d}_t{pid}_f{k:04d}.jpg"
            Image.fromarray(arr).save(root / "imgs" / file)
            caps = [f"a person in a {name} coat", f"{name} jacket"] if k == 0 else []
            entries.append({"id": pid, "img_path": file, "captions": caps, "split": "test"})
            listed[file] = {"person": pid, "track": pid, "frame": 30 * k, "time_s": 3.0 * k, "box": [0, 0, 48, 96]}
    (root / "data_captions.json").write_text(json.dumps(entries))
    (root / "crops.json").write_text(json.dumps({"format": CROPS_FORMAT, "version": 1, "crops": listed}))
    return root


@pytest.fixture(scope="module")
def headed():
    torch.manual_seed(0)
    return create_model("mobilenetv3_small_100", image_size=(64, 48), text_head="pooled").eval()


def test_real_check_scores_text_and_reid_from_the_model(tmp_path, headed):
    root = write_check(tmp_path / "check")
    out = real_check(headed, root)
    assert out["real_people"] == 4 and out["real_images"] == 12 and out["real_queries"] == 8
    assert {"real_r1", "real_r5", "real_r10", "real_map", "real_minp", "real_reid_map", "real_reid_r1"} <= set(out)
    assert all(0 <= out[k] <= 100 for k in ("real_r1", "real_map", "real_reid_map"))
    # the same figures from eval's command line, which is what the docs quote
    assert main(["eval", "--checkpoint", str(save(headed, tmp_path / "ck")), "--dataset", "rstpreid", "--root",
                 str(root), "--split", "test", "--json"]) == 0


def test_eval_scores_the_gallery_embedded_either_way(tmp_path, headed, capsys):
    from lightclip_core.retrieval import encode_images

    root = write_check(tmp_path / "check")
    ckpt = save(headed, tmp_path / "ck")
    ev = load_rstpreid(root).eval_split("test")
    got = {}
    for views in ("image", "image+mirror"):
        assert main(["eval", "--checkpoint", str(ckpt), "--dataset", "rstpreid", "--root", str(root),
                     "--gallery-views", views, "--json"]) == 0
        got[views] = json.loads(capsys.readouterr().out)
        assert got[views]["gallery_views"] == views
        want = real_check(headed, root, encode_images(headed, ev.gallery, views=views))
        assert got[views]["map"] == pytest.approx(want["real_map"], abs=0.01)
        assert got[views]["reid"]["map"] == pytest.approx(want["real_reid_map"], abs=0.01)
    assert got["image"]["reid"]["map"] != got["image+mirror"]["reid"]["map"]


def save(model, path: Path) -> Path:
    from lightclip_core.checkpoints import save_checkpoint

    return save_checkpoint(model, path)


def test_a_broken_crop_list_is_one_sentence(tmp_path, headed):
    root = write_check(tmp_path / "check")
    doc = json.loads((root / "crops.json").read_text())
    doc["crops"].pop(next(iter(doc["crops"])))
    (root / "crops.json").write_text(json.dumps(doc))
    with pytest.raises(LightCLIPError, match="does not list 1 crop"):
        real_check(headed, root)
    (root / "crops.json").write_text('{"format": "something else"}')
    with pytest.raises(LightCLIPError, match="not a real-check crop list"):
        real_check(headed, root)


def test_training_refuses_a_real_check(tmp_path, capsys):
    root = write_check(tmp_path / "check")
    rc = main(["train", "--backbone", "mobilenetv3_small_100", "--dataset", "rstpreid", "--root", str(root),
               "--epochs", "1", "--out", str(tmp_path / "run")])
    assert rc == 2 and "for measuring only" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_training_refuses_the_bundled_street_gallery(tmp_path, capsys):
    rc = main(["train", "--backbone", "mobilenetv3_small_100", "--dataset", "folder", "--root", str(REPO / "samples" / "street"),
               "--epochs", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and "holds crops of the real street video vtest.avi" in err and "for measuring only" in err
    assert not (tmp_path / "run").exists()


def test_the_repositorys_street_check_loads_and_holds_what_its_readme_says(headed, tmp_path, monkeypatch, capsys):
    ds = load_rstpreid(STREET, check_images=True, name="real check")
    ev = ds.eval_split("test")
    crops = json.loads((STREET / "crops.json").read_text())["crops"]
    names = {Path(p).name for p in ev.gallery}
    assert names == set(crops)  # every crop has its provenance, and only the check's crops are listed
    assert all(crops[Path(p).name]["person"] == pid for p, pid in zip(ev.gallery, ev.gallery_pids))
    described = set(ev.query_pids)
    people = set(ev.gallery_pids)
    assert len(described) >= 10 and people - described, "distractors: people nobody described"
    for pid in described:  # every described person can be found more than once
        assert ev.gallery_pids.count(pid) >= 2
    readme = (STREET / "README.md").read_text()
    for number in (len(people), len(described), len(ev.queries), len(ev.gallery)):
        assert str(number) in readme
    assert "never" in readme.lower() and "train" in readme.lower()
    # scored from the repository root with the relative path the docs give, re-ID included
    monkeypatch.chdir(REPO)
    ckpt = save(headed, tmp_path / "ck")
    assert main(["eval", "--checkpoint", str(ckpt), "--dataset", "rstpreid", "--root", "realcheck/street",
                 "--split", "test", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_queries"] == len(ev.queries) and out["reid"]["queries"] > 40


def test_the_app_quotes_real_figures_and_defaults_uploads_to_the_best_on_real_photos():
    from lightclip_core.app.views import best_for_real, real_caveat, real_summary

    rec = {"bundled": True, "real_people": 9, "real_images": 60, "real_queries": 40}
    bench = {"records": [
        {**rec, "backbone": "efficientnet_lite0", "real_map": 39.0, "real_r1": 33.0, "real_reid_map": 50.0, "r1": 71.8},
        {**rec, "backbone": "mobilenetv2_100", "real_map": 58.0, "real_r1": 67.0, "real_reid_map": 48.0, "r1": 38.8},
        {**rec, "backbone": "fastvit_t8", "real_map": 61.0, "real_r1": 60.0, "r1": 63.0},
        {"backbone": "vit_base_patch32_clip_224", "bundled": False, "real_map": 90.0, "real_r1": 90.0, "r1": 1.0},
        {"backbone": "coatnet_0_rw_224", "bundled": True, "r1": 27.4},  # measured before the real check
    ]}
    assert best_for_real(bench, ["efficientnet_lite0", "mobilenetv2_100", "fastvit_t8"]) == "fastvit_t8"
    assert best_for_real(bench, ["efficientnet_lite0", "mobilenetv2_100"]) == "mobilenetv2_100"  # only usable ones
    assert best_for_real({"records": []}, ["efficientnet_lite0"]) is None
    note = real_caveat(bench, "efficientnet_lite0")
    assert "mAP 39.0" in note and "FastViT-T8" in note and "mAP 61.0" in note
    assert "best of the bundled" in real_caveat(bench, "fastvit_t8")
    assert "expect much weaker" in real_caveat(bench, "coatnet_0_rw_224")  # no figures: the general caveat
    about = real_summary(bench)
    assert about.index("FastViT-T8") < about.index("MobileNetV2") < about.index("EfficientNet-Lite0")
    assert "CLIP ViT-B/32" not in about and real_summary({}) == ""


def test_the_map_interval_brackets_the_map_and_narrows_with_agreement():
    from lightclip_core.retrieval import retrieval_metrics
    from lightclip_core.realcheck import map_interval

    g = torch.Generator().manual_seed(1)
    gallery = [p for p in range(6) for _ in range(3)]
    queries = [p for p in range(6) for _ in range(2)]
    sim = torch.rand(len(queries), len(gallery), generator=g)
    whole = float(retrieval_metrics(sim, queries, gallery)["map"])
    def interval(scores):
        per = retrieval_metrics(scores, queries, gallery, per_query=True)["per_query"]
        return map_interval(per["ap"].tolist(), [queries[i] for i in per["query_index"].tolist()])

    lo, hi = interval(sim)
    assert lo <= whole <= hi and hi - lo > 5  # random scores: people differ a lot
    perfect = torch.tensor([[1.0 if gp == qp else 0.0 for gp in gallery] for qp in queries])
    assert interval(perfect) == [100.0, 100.0]
    assert interval(sim) == [lo, hi]  # deterministic
