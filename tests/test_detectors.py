"""Person detectors: the registry seam, the SSDLite detector's tiling, the detector bench's matching, and
both built-in detectors on the hand-labelled street frames (samples/detection/boxes.json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lightclip_core.bench.detectors import accuracy, labelled_pictures, match_picture, tracks_per_person
from lightclip_core.footage import DETECTORS, Detection, Detector, FootageError, make_detector
from lightclip_core.footage.detectors.ssdlite import BUNDLED_MODEL, cut_by_seam, tile_boxes
from test_footage import VTEST, require_test_video

ROOT = Path(__file__).resolve().parents[1]
BOXES = ROOT / "samples" / "detection" / "boxes.json"


def test_matching_counts_hits_duplicates_and_ignore_regions():
    truth = [(0, 0, 10, 20), (30, 0, 40, 20)]
    ignore = [(100, 100, 200, 200)]
    dets = [((0, 0, 10, 20), 0.9),  # hit
            ((1, 0, 11, 20), 0.8),  # the same person again: a false positive
            ((30, 0, 40, 20), 0.4),  # hit
            ((120, 120, 140, 160), 0.7),  # on the ignore region: neither
            ((60, 0, 70, 20), 0.6)]  # nobody: a false positive
    assert match_picture(dets, truth, ignore) == {"hits": 2, "false": 2, "truth": 2}
    # the higher score takes the person, whatever the order given
    assert match_picture(list(reversed(dets)), truth, ignore) == {"hits": 2, "false": 2, "truth": 2}
    # IoU just under 0.5 is a miss and a false positive
    assert match_picture([((0, 0, 10, 9.9), 0.9)], [(0, 0, 10, 20)]) == {"hits": 0, "false": 1, "truth": 1}


def test_tiles_cover_the_frame_and_overlap():
    views = tile_boxes(768, 576, 2)
    assert views[0] == (0, 0, 768, 576) and len(views) == 5
    covered = np.zeros((576, 768), bool)
    for x0, y0, x1, y1 in views[1:]:
        covered[y0:y1, x0:x1] = True
        assert 0 <= x0 < x1 <= 768 and 0 <= y0 < y1 <= 576
    assert covered.all()
    (_, _, ax1, _), (bx0, _, _, _) = views[1], views[2]
    assert ax1 - bx0 > 50  # neighbours share a band wider than a far-away person
    assert tile_boxes(768, 576, 1) == [(0, 0, 768, 576)]
    # a box on an inner seam is cut; on the frame's own border it is not
    right_tile = views[2]
    assert cut_by_seam((right_tile[0], 100, right_tile[0] + 20, 160), right_tile, 768, 576)
    assert not cut_by_seam((740, 100, 768, 160), right_tile, 768, 576)


def test_a_detector_is_one_class_and_one_register_line(tmp_path):
    class Everyone(Detector):
        name = "everyone"

        def __init__(self, margin: int = 0) -> None:
            self.margin = margin

        def detect(self, frame):
            h, w = frame.shape[:2]
            return [Detection((self.margin, self.margin, w - self.margin, h - self.margin), 1.0)]

    DETECTORS.register("everyone", Everyone)
    try:
        det = make_detector("everyone", margin=2)
        assert det.detect(np.zeros((50, 40, 3), np.uint8))[0].box == (2, 2, 38, 48)
        with pytest.raises(FootageError, match="The everyone detector has no option tiles; its options are: margin"):
            make_detector("everyone", tiles=2)
        from lightclip_core.cli import build_parser

        args = build_parser().parse_args(["footage", "--video", "v.mp4", "--out", "o", "--detector", "everyone"])
        assert args.detector == "everyone"
    finally:
        DETECTORS.unregister("everyone")
    assert "everyone" not in DETECTORS


def test_ssdlite_model_missing_or_damaged_is_one_sentence(tmp_path):
    with pytest.raises(FootageError, match=r"model .*nothing.onnx is missing; .*or use --detector hog\.$"):
        make_detector("ssdlite", model_path=tmp_path / "nothing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph" * 10)
    with pytest.raises(FootageError, match=r"bad.onnx is not a usable ONNX detector \(\w+\); .*--detector hog\.$"):
        make_detector("ssdlite", model_path=bad)


def test_the_bundled_ssdlite_model_matches_its_provenance():
    import hashlib

    prov = json.loads((BUNDLED_MODEL.parent / "provenance.json").read_text())
    assert hashlib.sha256(BUNDLED_MODEL.read_bytes()).hexdigest() == prov["onnx_sha256"]
    assert (BUNDLED_MODEL.parent / "LICENSE").read_text().startswith("MIT License")


def test_labels_are_well_formed():
    doc = json.loads(BOXES.read_text())
    assert "licence" in doc and doc["pictures"]
    names = [p["name"] for p in doc["pictures"]]
    assert len(names) == len(set(names))
    frames = [p for p in doc["pictures"] if "frame" in p and "scale" not in p and "crop" not in p]
    assert len(frames) >= 20  # the floor: at least 20 frames of the street video
    for p in doc["pictures"]:
        w, h = p.get("size", (10_000, 10_000))
        for x0, y0, x1, y1 in p["boxes"] + p["ignore"]:
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, p["name"]


def labelled_street_pictures(tmp_path):
    require_test_video()
    photos = VTEST.parent
    if not (photos / "messi5.jpg").is_file():  # an older cache holds the clip only: take the labelled frames
        doc = json.loads(BOXES.read_text())
        doc["pictures"] = [p for p in doc["pictures"] if "frame" in p]
        (tmp_path / "boxes.json").write_text(json.dumps(doc))
        return labelled_pictures(tmp_path / "boxes.json", VTEST, photos)
    return labelled_pictures(BOXES, VTEST, photos)


@pytest.mark.slow
def test_both_detectors_on_the_labelled_street_frames(tmp_path):
    """A floor below what each detector scores (docs/FOOTAGE.md), so a broken conversion, tiling or
    threshold fails here; and the learned detector finds more people than HOG on the same frames."""
    pictures = [p for p in labelled_street_pictures(tmp_path) if p["kind"] == "street frame"]
    hog = accuracy(make_detector("hog"), pictures)
    ssd = accuracy(make_detector("ssdlite"), pictures)
    assert hog["recall"] >= 0.6 and hog["precision"] >= 0.85, hog
    assert ssd["recall"] >= 0.75 and ssd["precision"] >= 0.8, ssd
    assert ssd["recall"] > hog["recall"] + 0.05


def test_tracks_per_person_counts_the_tracks_a_person_falls_into(tmp_path):
    crops = [{"file": f"crops/{i}.jpg", "frame": f, "box": box, "track": t} for i, (f, box, t) in enumerate([
        (1, [0, 0, 10, 20], 0), (2, [1, 0, 11, 20], 0), (3, [2, 0, 12, 20], 5),  # person 0: tracks 0 and 5
        (1, [50, 0, 60, 20], 1)])]  # person 1: track 1
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "footage.json").write_text(json.dumps({"crops": crops}))
    people = {"crops": {
        "a": {"person": 0, "frame": 1, "box": [0, 0, 10, 20]}, "b": {"person": 0, "frame": 3, "box": [2, 0, 10, 20]},
        "c": {"person": 1, "frame": 1, "box": [45, -5, 20, 30]},  # a padded crop (IoU 0.33): still that person
        "d": {"person": 1, "frame": 9, "box": [50, 0, 10, 20]}}}  # no detection in frame 9: a miss
    (tmp_path / "people.json").write_text(json.dumps(people))
    got = tracks_per_person(tmp_path / "g", tmp_path / "people.json")
    assert got == {"people": 2, "tracks_per_person": 1.5, "mixed_tracks": 0, "tracks_seen": 3, "labelled_boxes_found": 3,
                   "labelled_boxes_missed": 1}
    people["crops"]["e"] = {"person": 1, "frame": 2, "box": [1, 0, 10, 20]}  # person 1 where track 0 is: a swap
    (tmp_path / "people.json").write_text(json.dumps(people))
    assert tracks_per_person(tmp_path / "g", tmp_path / "people.json")["mixed_tracks"] == 1


def test_bench_detectors_refuses_a_video_without_the_labelled_frames(tmp_path):
    from lightclip_core.errors import LightCLIPError
    from test_footage import make_clip

    clip = make_clip(tmp_path / "short.mp4")  # a few frames: the labels need frame 774
    shutil.copy(BOXES, tmp_path / "boxes.json")
    with pytest.raises(LightCLIPError, match="short.mp4 has no frame .*vtest.avi"):
        labelled_pictures(tmp_path / "boxes.json", clip, tmp_path)
