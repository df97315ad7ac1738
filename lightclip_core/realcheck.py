"""The real-photo check: how a model does on real pedestrian crops, not on SynthPedes drawings.

A real check is a folder in RSTPReid's format (``data_captions.json`` + ``imgs/``; captions written by
hand, caption-less distractors allowed) plus ``crops.json``, which says where each crop came from:

    {"format": "lightclip-realcheck", "version": 1, "crops": {"<img_path>": {"person": int, "track": int,
     "frame": int, "time_s": float, "box": [x, y, w, h], "run": "<footage run>" (optional)}, ...}}

Two figures come from it:

- **text -> image** (``real_r1`` ... ``real_minp``): every description queries every crop, scored as IRRA
  does (`evaluate.retrieval_metrics`); what a user of the app does with real footage.
- **image -> image re-identification** (``real_reid_map``, ``real_reid_r1``): every crop queries the
  others; positives are the same person's crops. Crops of the query's own track less than
  `REID_GAP_S` seconds away are left out of its gallery (near copies of the query, as Market-1501 leaves
  out same-camera views), so what is measured is identity across poses and positions. It needs no
  descriptions and does not rank encoders the way the text check does: don't choose recipes by it alone.

The repository's check is `realcheck/street/` (its README says how small it is). It is for measuring:
nothing may train on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from .data.footage_file import read_footage
from .data.person_search import load_rstpreid
from .errors import LightCLIPError
from .fileio import read_json
from .retrieval import encode_images, retrieval_metrics

CROPS_FILE = "crops.json"
CROPS_FORMAT = "lightclip-realcheck"
REID_GAP_S = 2.0  # same-track crops closer in time than this are not scored as re-identifications


def read_crops(root: str | Path) -> dict[str, dict[str, Any]] | None:
    """`root`/crops.json's crops by image path (relative to ``imgs/``), or None when there is no such file."""
    path = Path(root) / CROPS_FILE
    if not path.is_file():
        return None
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != CROPS_FORMAT or not isinstance(doc.get("crops"), dict):
        raise LightCLIPError(f"{path} is not a real-check crop list (format {CROPS_FORMAT!r} with a \"crops\" object).")
    for name, crop in doc["crops"].items():
        if not isinstance(crop, dict) or not all(isinstance(crop.get(k), (int, float)) for k in ("person", "track", "time_s")):
            raise LightCLIPError(f"{path}: crop {name!r} needs numeric person, track and time_s.")
    return doc["crops"]


# The real street video (OpenCV's vtest.avi, samples/README.md) and its bundled cut: what the real check
# and the app's street gallery (samples/street/) were made from, so nothing may train on their crops
STREET_VIDEOS = ("vtest.avi", "street_sample.mp4")


def measuring_only(root: str | Path) -> str | None:
    """Why `root` must never be trained on (a real check, or a footage gallery of the street video), or None."""
    if is_real_check(root):
        return "is a real-photo check (crops.json, lightclip-realcheck)"

    try:
        meta = read_footage(root)
    except LightCLIPError:
        return None
    sources = {Path(str(c.get("source", ""))).name for c in (meta or {}).get("crops", []) if isinstance(c, dict)}
    street = sorted(sources & set(STREET_VIDEOS))
    return f"holds crops of the real street video {street[0]} (footage.json)" if street else None


def is_real_check(root: str | Path) -> bool:
    """Whether `root` is a real check (its crops.json says so): training refuses it."""
    path = Path(root) / CROPS_FILE
    try:
        return path.is_file() and CROPS_FORMAT in path.read_text(encoding="utf-8", errors="replace")[:200]
    except OSError:
        return False


def reid_metrics(features: torch.Tensor, persons: list[int], tracks: list, times: list[float],
                 gap_s: float = REID_GAP_S) -> dict[str, float]:
    """Image -> image retrieval over crops ``features (N, D)`` (L2-normalised): mAP and R@1 in percent,
    over the crops that have at least one positive left after the same-track time gap."""

    sim = features.float() @ features.float().t()
    aps, r1s, queries = [], [], 0
    for i in range(len(persons)):
        keep = [j for j in range(len(persons)) if j != i
                and not (tracks[j] == tracks[i] and abs(times[j] - times[i]) < gap_s)]
        if not any(persons[j] == persons[i] for j in keep):
            continue
        m = retrieval_metrics(sim[i, keep][None], [persons[i]], [persons[j] for j in keep])
        aps.append(float(m["map"]))
        r1s.append(float(m["r1"]))
        queries += 1
    if not queries:
        return {}
    return {"real_reid_map": round(sum(aps) / queries, 2), "real_reid_r1": round(sum(r1s) / queries, 2),
            "real_reid_queries": queries}


def map_interval(ap: Sequence[float], query_pids: Sequence[int], draws: int = 2000, seed: int = 0) -> list[float]:
    """A 95 % bootstrap interval of text -> image mAP (percent) from the queries' APs `ap` (0..1, as
    `retrieval_metrics(..., per_query=True)` gives them) over the described *people*: each draw resamples
    people with replacement and averages their queries' APs. How far the check's mAP could move with other
    people of the same kind. Deterministic for a seed."""
    people = sorted(set(query_pids))
    by_person = {p: [100 * float(a) for a, q in zip(ap, query_pids) if q == p] for p in people}
    gen = torch.Generator().manual_seed(seed)
    means = []
    for _ in range(draws):
        chosen = torch.randint(len(people), (len(people),), generator=gen).tolist()
        aps = [a for c in chosen for a in by_person[people[c]]]
        means.append(sum(aps) / len(aps))
    means.sort()
    return [round(means[int(0.025 * draws)], 1), round(means[int(0.975 * draws) - 1], 1)]


def crops_reid(root: str | Path, gallery_paths: Sequence[str], image_features: torch.Tensor,
               crops: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The re-ID figures (``real_reid_*``) of the check at `root` from its crops (`read_crops`) and their
    embeddings ``(G, D)``, in the order of `gallery_paths` (the test split's gallery)."""
    imgs = (Path(root) / "imgs").resolve()
    rel = [Path(p).resolve().relative_to(imgs).as_posix() for p in gallery_paths]
    missing = [r for r in rel if r not in crops]
    if missing:
        raise LightCLIPError(f"{Path(root) / CROPS_FILE} does not list {len(missing)} crop(s) of the check, "
                             f"e.g. {missing[0]!r}.")
    # a track id is unique within one footage run (`run`, when the check was cut from several)
    tracks = [(str(crops[r].get("run", "")), int(crops[r]["track"])) for r in rel]
    return reid_metrics(image_features, [int(crops[r]["person"]) for r in rel], tracks,
                        [float(crops[r]["time_s"]) for r in rel])


@torch.no_grad()
def real_check(model, root: str | Path, image_features: torch.Tensor | None = None) -> dict[str, Any]:
    """Every real-check figure of `model` on the check at `root` (``real_*`` fields; the re-ID ones only
    when ``crops.json`` is there). `image_features` ``(G, D)``: the crops already encoded, in the test
    split's gallery order."""

    root = Path(root)
    ev = load_rstpreid(root, name="real check").eval_split("test")
    if image_features is None:
        image_features = encode_images(model, ev.gallery)
    sim = model.encode_text(ev.queries).float().cpu() @ image_features.float().t()  # (Q, G)
    m = retrieval_metrics(sim, ev.query_pids, ev.gallery_pids, per_query=True)
    out: dict[str, Any] = {f"real_{k}": round(float(m[k]), 2) for k in ("r1", "r5", "r10", "map", "minp")}
    out.update(real_queries=m["n_queries"], real_images=m["n_gallery"], real_people=len(set(ev.gallery_pids)))
    per = m["per_query"]
    out["real_map_ci95"] = map_interval(per["ap"].tolist(), [ev.query_pids[i] for i in per["query_index"].tolist()])
    crops = read_crops(root)
    if crops is not None:
        out.update(crops_reid(root, ev.gallery, image_features, crops))
    return out
