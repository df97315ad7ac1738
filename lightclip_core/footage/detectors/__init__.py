"""Person detectors by name: the interface and registry (``base.py``) and the built-in detectors, one
file each. Importing this package registers them all."""

from . import hog, ssdlite  # noqa: F401 - registers the built-in detectors
from .base import DEFAULT_DETECTOR, DETECTORS, Detection, Detector, iou, make_detector, nms

__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "Detection", "Detector", "iou", "make_detector", "nms"]
