"""OpenCV's HOG people detector: compiled into OpenCV 4, no weights to ship or download."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...data.footage_file import FootageError
from ..opencv import opencv
from .base import DETECTORS, Detection, Detector, nms


@DETECTORS.register("hog")
class HogDetector(Detector):
    """OpenCV's HOG + linear SVM people detector (Dalal & Triggs), built into OpenCV 4.

    Its window is 64x128 pixels: the frame is scaled by ``128 / min_height`` so that a box of
    `min_height` pixels fills it (enlarged for small people, shrunk for large frames, where HOG's cost
    grows with the pixels). ``min_height=None`` (the default) takes 90 pixels or an eighth of the
    frame's height, whichever is larger: a 768x576 street clip is searched for people from 90 px up, a
    1080p one from 135 px, a 4K one from 270 px, so a frame costs about the same. HOG boxes carry a
    margin around the person; `tighten` trims it (15% of the width, 5% of the height, as OpenCV's
    peopledetect sample does).
    """

    name = "hog"

    def __init__(self, min_height: int | None = None, score_threshold: float = 0.5, nms_iou: float = 0.4,
                 scale: float = 1.1, stride: int = 8, tighten: bool = True) -> None:
        if min_height is not None and min_height < 16:
            raise FootageError(f"min_height {min_height} is too small for the HOG detector (at least 16 pixels).")
        if not scale > 1.0:
            raise FootageError(f"The HOG pyramid scale must be above 1 (got {scale}).")
        cv2 = opencv()
        self.min_height = None if min_height is None else int(min_height)
        self.score_threshold, self.nms_iou = float(score_threshold), float(nms_iou)
        self.scale, self.stride, self.tighten = float(scale), int(stride), bool(tighten)
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def options(self) -> dict[str, Any]:
        return {"min_height": self.min_height if self.min_height is not None else "auto: max(90, frame height / 8)",
                "score_threshold": self.score_threshold, "nms_iou": self.nms_iou, "scale": self.scale,
                "stride": self.stride, "tighten": self.tighten}

    def height_for(self, frame_height: int) -> int:
        """The smallest person box (pixels) searched for in a frame this tall."""
        return self.min_height if self.min_height is not None else max(90, round(frame_height / 8))

    def detect(self, frame: np.ndarray) -> list[Detection]:
        cv2 = opencv()
        up = 128.0 / self.height_for(frame.shape[0])
        img = cv2.resize(frame, None, fx=up, fy=up, interpolation=cv2.INTER_AREA if up < 1 else cv2.INTER_LINEAR) \
            if abs(up - 1.0) > 1e-3 else frame
        if img.shape[0] < 128 or img.shape[1] < 64:
            return []
        rects, weights = self._hog.detectMultiScale(img, winStride=(self.stride, self.stride), padding=(8, 8),
                                                    scale=self.scale)
        H, W = frame.shape[:2]
        dets = []
        for (x, y, w, h), s in zip(np.asarray(rects).reshape(-1, 4), np.ravel(weights)):
            if s < self.score_threshold:
                continue
            x0, y0, x1, y1 = x / up, y / up, (x + w) / up, (y + h) / up
            if self.tighten:
                pw, ph = 0.15 * (x1 - x0), 0.05 * (y1 - y0)
                x0, x1, y0, y1 = x0 + pw, x1 - pw, y0 + ph, y1 - ph
            box = (max(0.0, x0), max(0.0, y0), min(float(W), x1), min(float(H), y1))
            if box[3] - box[1] >= 8 and box[2] - box[0] >= 4:
                dets.append(Detection(tuple(round(v, 1) for v in box), float(s)))
        return nms(dets, self.nms_iou)
