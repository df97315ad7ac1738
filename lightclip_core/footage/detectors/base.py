"""What a person detector is (`Detector`: a BGR frame in, `Detection`s out), box overlap and
non-maximum suppression, and the registry that finds detectors by name (``footage --detector``).

A new detector is one file beside this one: a `Detector` subclass and one ``DETECTORS.register``
line (see ``hog.py``, ``ssdlite.py``), imported by ``detectors/__init__.py``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ...data.footage_file import FootageError
from ...registry import Registry


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    score: float


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes (torchvision's `box_iou`)."""
    from torchvision.ops import box_iou

    return float(box_iou(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64))[0, 0])


def nms(dets: Sequence[Detection], iou_threshold: float) -> list[Detection]:
    """Greedy non-maximum suppression (torchvision's `nms`): highest score first, drop boxes
    overlapping a kept one by more than `iou_threshold`."""
    if not dets:
        return []
    from torchvision.ops import nms as tv_nms

    boxes = torch.tensor([d.box for d in dets], dtype=torch.float64)
    scores = torch.tensor([d.score for d in dets], dtype=torch.float64)
    return [dets[i] for i in tv_nms(boxes, scores, float(iou_threshold)).tolist()]


class Detector:
    """Finds people in a BGR frame (``H x W x 3`` uint8). Subclasses set `name` and `options()`."""

    name = "detector"

    def detect(self, frame: np.ndarray) -> list[Detection]:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        return {}


DETECTORS: Registry[Callable[..., Detector]] = Registry("detector", plural="detectors")
"""Detector factories by name: ``DETECTORS.register("name", factory)``. A detector whose weights come
from a hub must raise `lightclip_core.errors.OfflineError` in one sentence when they cannot be fetched
(see `lightclip_core.hub.resolve_hub_file`)."""

DEFAULT_DETECTOR = "ssdlite"  # docs/FOOTAGE.md: it finds more people than HOG (bench-detectors)


def make_detector(name: str = DEFAULT_DETECTOR, **options: Any) -> Detector:
    """The detector registered as `name`, built with the `options` that are not None; an option the
    detector does not take is one sentence naming the ones it does."""
    factory = DETECTORS.get(name)
    given = {k: v for k, v in options.items() if v is not None}
    params = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = sorted(k for k in given if k not in params)
    if unknown and not takes_any:
        raise FootageError(f"The {name} detector has no option {', '.join(unknown)}; its options are: "
                           f"{', '.join(k for k in params if k != 'self')}.")
    return factory(**given)
