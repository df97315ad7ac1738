"""`bench-detectors`: every registered person detector on the same hand-labelled pictures, side by side
in one run, with what footage users care about:

- **recall and precision at IoU 0.5** against ``samples/detection/boxes.json`` (frames of the street
  video, the same frames halved so people are small, cut at the frame's edge, and photos of people
  close up, bending, turned away, partly outside the picture); a detection on an *ignore* region (a
  blurred crowd, a person too small to box) counts neither way;
- **seconds per minute of video**: the whole street clip indexed by the footage pipeline with each
  detector (detection, embedding, tracking and writing), and seconds of detection per picture;
- **tracks per person**: the people the real-photo check (``realcheck/street/crops.json``) follows
  through the clip by hand; for each, how many tracks the pipeline (at 10 sampled frames per second)
  cut their labelled boxes into. Fewer is better (1: one person, one track), unless tracks swap
  people: *mixed tracks* hold the labelled boxes of more than one person. Those boxes were cut
  from HOG's tracks, so they are frames where HOG found the person: a floor for HOG's misses there.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..checkpoints import load_checkpoint
from ..errors import LightCLIPError
from ..fileio import log
from ..footage import FootageLimits, Source, TrackerOptions, build_footage_gallery, make_detector, probe_video
from ..footage.detectors import iou
from ..footage.opencv import opencv
from ..footage.pipeline import FrameIndexer, track_video
from ..profiling import machine_info

IOU_MATCH = 0.5


def _inside(det: Sequence[float], region: Sequence[float]) -> float:
    """The fraction of `det`'s area inside `region`."""
    w = min(det[2], region[2]) - max(det[0], region[0])
    h = min(det[3], region[3]) - max(det[1], region[1])
    area = (det[2] - det[0]) * (det[3] - det[1])
    return max(0.0, w) * max(0.0, h) / area if area > 0 else 0.0


def match_picture(dets: Sequence[tuple[Sequence[float], float]], truth: Sequence[Sequence[float]],
                  ignore: Sequence[Sequence[float]] = ()) -> dict[str, int]:
    """PASCAL-VOC matching of one picture: detections in falling score order each take the unmatched
    true box they overlap most, a hit at IoU >= 0.5; a miss that lies mostly (half its area) on an
    ignore region is dropped. Returns ``{"hits", "false", "truth"}``."""
    taken = [False] * len(truth)
    hits = false = 0
    for box, _ in sorted(dets, key=lambda d: -d[1]):
        best, best_iou = -1, IOU_MATCH
        for i, t in enumerate(truth):
            overlap = iou(box, t)
            if not taken[i] and overlap >= best_iou:
                best, best_iou = i, overlap
        if best >= 0:
            taken[best] = True
            hits += 1
        elif not any(_inside(box, r) >= 0.5 or iou(box, r) >= IOU_MATCH for r in ignore):
            false += 1
    return {"hits": hits, "false": false, "truth": len(truth)}


def scores(counts: Sequence[dict[str, int]]) -> dict[str, Any]:
    hits, false, truth = (sum(c[k] for c in counts) for k in ("hits", "false", "truth"))
    return {"recall": round(hits / truth, 3) if truth else None,
            "precision": round(hits / (hits + false), 3) if hits + false else None,
            "hits": hits, "false_positives": false, "people": truth}


# -- the labelled pictures ------------------------------------------------------------------------
def video_frames(video: str | Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The frames of `video` whose index is in `wanted`, read in order (no seeking: exact indices)."""

    cv2 = opencv()
    cap = cv2.VideoCapture(str(video))
    out, index = {}, 0
    try:
        while len(out) < len(wanted) and cap.grab():
            if index in wanted:
                ok, frame = cap.retrieve()
                if ok:
                    out[index] = frame
            index += 1
    finally:
        cap.release()
    if len(out) < len(wanted):
        raise LightCLIPError(f"{Path(video).name} has no frame {min(wanted - set(out))}; the labels are for OpenCV's "
                             "vtest.avi (scripts/get-test-video).")
    return out


def labelled_pictures(boxes_file: str | Path, video: str | Path, photos: str | Path) -> list[dict[str, Any]]:
    """Each picture of `boxes_file` as ``{name, kind, image (BGR), boxes, ignore}``: video frames read
    from `video` (then halved or cropped as the entry says), photos from the folder `photos`."""

    cv2 = opencv()
    doc = json.loads(Path(boxes_file).read_text(encoding="utf-8"))
    pics = doc["pictures"]
    frames = video_frames(video, {p["frame"] for p in pics if "frame" in p})
    out = []
    for p in pics:
        if "frame" in p:
            img = frames[p["frame"]]
            kind = "street frame"
            if "crop" in p:
                x0, y0, x1, y1 = p["crop"]
                img, kind = img[y0:y1, x0:x1], "street frame, cut at the edge"
            if "scale" in p:
                h, w = img.shape[:2]
                size = (round(w * p["scale"]), round(h * p["scale"]))
                img, kind = cv2.resize(img, size, interpolation=cv2.INTER_AREA), "street frame, people small"
        else:
            path = Path(photos) / Path(p["source"]).name
            img = cv2.imread(str(path))
            if img is None:
                raise LightCLIPError(f"{path} is missing or unreadable; scripts/get-test-video --pictures fetches it.")
            kind = "photo"
        out.append({"name": p["name"], "kind": kind, "image": np.ascontiguousarray(img), "boxes": p["boxes"],
                    "ignore": p.get("ignore", [])})
    return out


def accuracy(detector, pictures: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Recall and precision of `detector` over `pictures`, overall and per kind of picture, and its
    median seconds per picture."""
    per_kind: dict[str, list[dict[str, int]]] = {}
    seconds = []
    for pic in pictures:
        t0 = time.perf_counter()
        dets = detector.detect(pic["image"])
        seconds.append(time.perf_counter() - t0)
        counts = match_picture([(d.box, d.score) for d in dets], pic["boxes"], pic["ignore"])
        per_kind.setdefault(pic["kind"], []).append(counts)
    everything = [c for cs in per_kind.values() for c in cs]
    return {**scores(everything), "by_kind": {k: scores(v) for k, v in per_kind.items()},
            "seconds_per_picture": round(statistics.median(seconds), 4)}


# -- tracks per person ----------------------------------------------------------------------------
def _centres_inside(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether each box's centre lies inside the other: the same person, whatever margin either box has."""
    def inside(box, other):
        cx, cy = (other[0] + other[2]) / 2, (other[1] + other[3]) / 2
        return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]

    return inside(a, b) and inside(b, a)


def tracks_per_person(gallery: str | Path, people_file: str | Path) -> dict[str, Any]:
    """How many of `gallery`'s tracks each hand-followed person of `people_file` (realcheck crops.json:
    person, frame, box as x, y, w, h) falls into: a labelled box joins the track of the detection in
    that frame that overlaps it most among those whose centre lies inside it and which hold its centre
    (the labelled boxes are padded crops, so IoU would favour a detector whose boxes are as loose); a
    box no detection matches is a miss."""
    meta = json.loads((Path(gallery) / "footage.json").read_text(encoding="utf-8"))
    by_frame: dict[int, list[tuple[list[float], int]]] = {}
    for d in meta["crops"]:  # written with a crop limit above any track's length: every detection
        by_frame.setdefault(int(d["frame"]), []).append((d["box"], int(d["track"])))
    return people_in_tracks(by_frame, people_file)


def people_in_tracks(by_frame: dict[int, list[tuple[Sequence[float], int]]], people_file: str | Path) -> dict[str, Any]:
    """`tracks_per_person` from ``{frame: [(box, track), ...]}`` (every detection with its track)."""
    people: dict[int, set[int]] = {}
    seen = missed = 0
    for c in json.loads(Path(people_file).read_text(encoding="utf-8"))["crops"].values():
        x, y, w, h = c["box"]
        truth = (x, y, x + w, y + h)
        best = max(((iou(b, truth), t) for b, t in by_frame.get(int(c["frame"]), []) if _centres_inside(b, truth)),
                   default=(0.0, -1))
        people.setdefault(int(c["person"]), set())
        if best[1] >= 0:
            people[int(c["person"])].add(best[1])
            seen += 1
        else:
            missed += 1
    counts = [len(t) for t in people.values() if t]
    holders: dict[int, set[int]] = {}  # track -> the people whose labelled boxes it holds
    for person, tracks in people.items():
        for t in tracks:
            holders.setdefault(t, set()).add(person)
    return {"people": len(people), "tracks_per_person": round(statistics.mean(counts), 2) if counts else None,
            "mixed_tracks": sum(len(p) > 1 for p in holders.values()), "tracks_seen": len(holders),
            "labelled_boxes_found": seen, "labelled_boxes_missed": missed}


# -- the whole bench ------------------------------------------------------------------------------
# The tracker's gates, one at a time, on the same detections: whether a detector's short tracks are the
# gates' doing (TrackerOptions' defaults first).
GATE_VARIANTS: dict[str, dict[str, float]] = {"default": {}, "size ratio 2.0": {"max_size_ratio": 2.0},
                                              "similarity 0.4": {"min_similarity": 0.4},
                                              "distance 0.6": {"max_distance": 0.6}, "gap 3 s": {"max_gap_s": 3.0}}


def index_clip(video: str | Path, model, detector, sample_fps: float, out: Path) -> dict[str, Any]:
    """Index `video` with `detector` as ``footage`` does; the summary (seconds, real-time factor)."""

    summary, _ = build_footage_gallery([Source(str(video), "video")], out, model, detector,
                                       sample_fps, TrackerOptions(), FootageLimits(max_crops=1_000_000))
    return summary.to_dict()


def follow_people(video: str | Path, model, detector, people_file: str | Path,
                  sample_fps: float = 10.0) -> dict[str, dict[str, Any]]:
    """The hand-followed people through `detector`'s tracks of `video` (every detection kept), with the
    default tracker and each of `GATE_VARIANTS`, all on the same detections."""

    info = probe_video(video)
    indexer = FrameIndexer(model, detector)
    name = Path(video).name
    frames = list(indexer.video_frames(str(video), name, "clip", sample_fps, FootageLimits(), info))
    out = {}
    for label, change in GATE_VARIANTS.items():
        tracks = track_video(name, iter(frames), replace(TrackerOptions(crops_per_track=100_000), **change), info).tracks
        by_frame: dict[int, list[tuple[Sequence[float], int]]] = {}
        for tid, tr in enumerate(tracks):
            for c in tr.best:
                by_frame.setdefault(c.frame, []).append((c.box, tid))
        out[label] = people_in_tracks(by_frame, people_file)
    return out


def run_detector_bench(boxes_file: str | Path, video: str | Path, photos: str | Path, people_file: str | Path,
                       checkpoint: str | Path, names: Sequence[str],
                       make: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Every detector in `names` on the labelled pictures and on the whole clip, one after the other in
    one process (same machine, same load)."""

    make = make or make_detector
    model = load_checkpoint(checkpoint)  # links the tracks of every detector's runs
    pictures = labelled_pictures(boxes_file, video, photos)
    doc: dict[str, Any] = {"machine": machine_info(), "pictures": len(pictures),
                           "people": sum(len(p["boxes"]) for p in pictures), "iou": IOU_MATCH, "detectors": {}}
    for name in names:
        detector = make(name)
        log(f"bench-detectors: {name} on {len(pictures)} labelled pictures")
        row: dict[str, Any] = {"options": detector.options(), "accuracy": accuracy(detector, pictures)}
        with tempfile.TemporaryDirectory() as tmp:
            log(f"bench-detectors: {name} indexes {Path(video).name} at 2 frames/s")
            ix = index_clip(video, model, detector, 2.0, Path(tmp) / "g2")
            row["indexing"] = {k: ix[k] for k in ("seconds", "video_seconds", "realtime_factor", "detect_seconds",
                                                  "embed_seconds", "detections", "tracks", "crops")}
            row["indexing"]["seconds_per_video_minute"] = round(60 * ix["seconds"] / ix["video_seconds"], 2)
        log(f"bench-detectors: {name} follows the labelled people at 10 frames/s")
        gates = follow_people(video, model, detector, people_file)
        row["tracks"], row["tracker_gates"] = gates["default"], gates
        doc["detectors"][name] = row
    return doc


def detector_table(doc: dict[str, Any]) -> str:
    """The bench's Markdown table, one row per detector."""
    lines = ["| detector | recall | precision | small people (recall) | photos (recall) | tracks per person | "
             "mixed tracks | s per minute of video | x real time |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in doc["detectors"].items():
        acc, kinds, ix = row["accuracy"], row["accuracy"]["by_kind"], row["indexing"]
        small = kinds.get("street frame, people small", {}).get("recall")
        photos = kinds.get("photo", {}).get("recall")
        lines.append(f"| {name} | {acc['recall']} | {acc['precision']} | {small} | {photos} | "
                     f"{row['tracks']['tracks_per_person']} | {row['tracks']['mixed_tracks']} | "
                     f"{ix['seconds_per_video_minute']} | {ix['realtime_factor']} |")
    gates = list(GATE_VARIANTS)
    lines += ["", "Tracks per person / mixed tracks, the tracker's gates one at a time on the same detections:", "",
              "| detector | " + " | ".join(gates) + " |", "|---|" + "---:|" * len(gates)]
    for name, row in doc["detectors"].items():
        cells = [f"{row['tracker_gates'][g]['tracks_per_person']} / {row['tracker_gates'][g]['mixed_tracks']}"
                 for g in gates if g in row.get("tracker_gates", {})]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
