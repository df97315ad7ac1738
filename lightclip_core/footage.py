"""Person galleries from street video and photos, offline: sample frames, detect people, track them,
keep each track's best crops, and write a gallery folder that the ``folder`` dataset, ``search``,
``index`` and the app load as they are.

Pipeline (``build_footage_gallery``):

1. **Frames.** A video is sampled at ``sample_fps`` (default 2 per second; every frame is decoded,
   only the sampled ones are converted). A photo is one frame of its own. A person crop (``kind
   "crop"``, the app's plain uploads) is one detection covering the whole image.
2. **Detection** through a `Detector` chosen by name (`make_detector`). The default, ``hog``, is
   OpenCV's HOG people detector, compiled into OpenCV (no weights to download); other detectors are
   registered with `register_detector`.
3. **Tracking** (video only): each detection joins the live track whose predicted position (its
   last box moved on at its velocity) is near, whose size is alike, and that looks alike (cosine of
   the LightCLIP image embeddings), best pair first; a track missing for more than ``max_gap_s`` ends. Photos and crops
   are a track each. Tracks seen fewer than ``min_track_detections`` times are dropped (a HOG false
   positive seldom repeats).
4. **Crops.** Each track keeps its ``crops_per_track`` best crops by quality (box height times
   sharpness, the variance of the Laplacian at a fixed height), and the source frame of its best crop.
5. **Writing.** Everything goes to a temporary folder beside ``out`` that is renamed at the end: a
   failure or a kill leaves no half-written gallery. The folder holds ``crops/``, ``frames/``,
   ``captions.jsonl`` (each crop's ``id`` is its track, so search ranks tracks) and ``footage.json``
   (per crop: source file, frame index, timestamp, box, track id, detector score; per track: its
   time span, crops and best frame).

Limits (`FootageLimits`) bound what one call may read; going over one, a corrupt or unsupported file,
or no decodable frame is a `FootageError` in one sentence.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .data.base import IMAGE_EXTENSIONS, DataError, open_checked, skipped_summary
from .data.footage_file import FOOTAGE_FILE, FORMAT, FootageError, read_footage  # noqa: F401 - footage's names
from .errors import UnknownNameError
from .fileio import safe_stem
from .progress import Progress, as_progress
from .outputs import OutputKind, check_output_dir

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")
@dataclass
class FootageLimits:
    """What one call may read: sensible for a two-core CPU Space; raise them on a real machine."""

    max_video_seconds: float = 600.0  # per video
    max_file_bytes: int = 1 << 30  # per file (1 GiB)
    max_side: int = 4096  # a frame wider or taller than this is refused (4K: 3840x2160)
    min_side: int = 64
    max_crops: int = 5000  # in the whole gallery
    max_photos: int = 2000
    max_sources: int = 50


# A CPU Space: five minutes of video per file (about two and a half minutes to index on two cores at
# 2 sampled frames per second), files as large as the app's upload limit.
APP_LIMITS = FootageLimits(max_video_seconds=300.0, max_file_bytes=300 * 2**20, max_crops=3000, max_photos=1000,
                           max_sources=10)


# -- OpenCV ---------------------------------------------------------------------------------------
def _cv2():
    try:
        import cv2
    except ImportError:
        raise FootageError("Footage needs OpenCV: pip install 'opencv-python-headless>=4.8,<5'.") from None
    if not hasattr(cv2, "HOGDescriptor"):
        raise FootageError(f"OpenCV {cv2.__version__} has no HOG people detector (OpenCV 5 dropped it); "
                           "pip install 'opencv-python-headless>=4.8,<5'.")
    return cv2


# -- detection ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    score: float


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes (torchvision's `box_iou`)."""
    import torch
    from torchvision.ops import box_iou

    return float(box_iou(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64))[0, 0])


def nms(dets: Sequence[Detection], iou_threshold: float) -> list[Detection]:
    """Greedy non-maximum suppression (torchvision's `nms`): highest score first, drop boxes
    overlapping a kept one by more than `iou_threshold`."""
    if not dets:
        return []
    import torch
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
        cv2 = _cv2()
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
        cv2 = _cv2()
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


DETECTORS: dict[str, Callable[..., Detector]] = {"hog": HogDetector}


def register_detector(name: str, factory: Callable[..., Detector]) -> None:
    """Make a detector available by name (`make_detector`, ``footage --detector``). A detector whose
    weights come from a hub must raise `lightclip_core.errors.OfflineError` in one sentence when they
    cannot be fetched (see `lightclip_core.hub.resolve_hub_file`)."""
    DETECTORS[name] = factory


def make_detector(name: str = "hog", **options: Any) -> Detector:
    if name not in DETECTORS:
        raise UnknownNameError(f"Unknown detector {name!r}; there are: {', '.join(sorted(DETECTORS))}.")
    return DETECTORS[name](**{k: v for k, v in options.items() if v is not None})


# -- frames ---------------------------------------------------------------------------------------
@dataclass
class VideoInfo:
    path: str
    fps: float
    frames: int  # as the container says (0 when it does not)
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps if self.frames and self.fps else 0.0


def _check_file(path: Path, limits: FootageLimits) -> None:
    if not path.is_file():
        raise FootageError(f"{path} does not exist or is not a file.")
    size = path.stat().st_size
    if size == 0:
        raise FootageError(f"{path.name} is empty.")
    if size > limits.max_file_bytes:
        raise FootageError(f"{path.name} is {size / 2**20:,.0f} MB, over the limit of "
                           f"{limits.max_file_bytes / 2**20:,.0f} MB per file.")


def _check_size(name: str, width: int, height: int, limits: FootageLimits) -> None:
    if max(width, height) > limits.max_side or min(width, height) < limits.min_side:
        raise FootageError(f"{name} is {width}x{height} pixels; frames must be between {limits.min_side} and "
                           f"{limits.max_side} pixels on each side.")


def probe_video(path: str | Path, limits: FootageLimits | None = None) -> VideoInfo:
    """Open a video and check it against `limits` before anything is decoded in bulk."""
    limits = limits or FootageLimits()
    path = Path(path)
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise FootageError(f"{path.name} is not a supported video ({', '.join(e[1:] for e in VIDEO_EXTENSIONS)}).")
    _check_file(path, limits)
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise FootageError(f"{path.name} could not be opened as a video (corrupt, or a codec OpenCV's FFmpeg lacks).")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    finally:
        cap.release()
    if not (math.isfinite(fps) and 0.5 <= fps <= 1000):
        raise FootageError(f"{path.name} has no usable frame rate ({fps:g} frames/s).")
    if width and height:
        _check_size(path.name, width, height, limits)
    info = VideoInfo(str(path), fps, max(frames, 0), width, height)
    if info.duration_s > limits.max_video_seconds:
        raise FootageError(f"{path.name} lasts {info.duration_s:,.0f} s, over the limit of "
                           f"{limits.max_video_seconds:,.0f} s per video.")
    return info


def sample_video(path: str | Path, sample_fps: float = 2.0, limits: FootageLimits | None = None,
                 info: VideoInfo | None = None, start: int = 0, stop: int | None = None
                 ) -> Iterator[tuple[int, float, np.ndarray]]:
    """``(frame_index, seconds, BGR frame)`` at about `sample_fps` frames per second of video: the
    frames whose index is nearest each multiple of ``1 / sample_fps`` seconds. Every frame is decoded
    (`grab`), only the sampled ones are converted (`retrieve`).

    With `start` / `stop`, only frames ``start <= index < stop`` (a segment, for workers that share a
    long video): the same frames the whole video's sampling picks there, read after a seek."""
    limits = limits or FootageLimits()
    info = info or probe_video(path, limits)
    if not sample_fps > 0:
        raise FootageError(f"The sampling rate must be above 0 frames per second (got {sample_fps}).")
    cv2 = _cv2()
    step = max(1.0, info.fps / sample_fps)
    next_pick = 0.0
    while round(next_pick) < start:  # the schedule as a reading from frame 0 would have it
        next_pick += step
    cap = cv2.VideoCapture(str(path))
    decoded = 0
    try:
        if start and not cap.set(cv2.CAP_PROP_POS_FRAMES, start):
            raise FootageError(f"{Path(path).name} cannot be read from frame {start} (no seeking in this file).")
        index = start
        while (stop is None or index < stop) and cap.grab():
            decoded += 1
            t = index / info.fps
            if t > limits.max_video_seconds:
                raise FootageError(f"{Path(path).name} runs past the limit of {limits.max_video_seconds:,.0f} s per video.")
            if index >= round(next_pick):
                ok, frame = cap.retrieve()
                next_pick += step
                if ok and frame is not None:
                    if frame.ndim == 2:
                        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
                    _check_size(Path(path).name, frame.shape[1], frame.shape[0], limits)
                    yield index, t, frame
            index += 1
    finally:
        cap.release()
    if decoded == 0 and start == 0:
        raise FootageError(f"{Path(path).name} has no decodable frame.")


def video_segments(info: VideoInfo, segment_s: float | None) -> list[tuple[int, int | None]]:
    """``[(start, stop), ...]`` frame ranges of about `segment_s` seconds covering the video (one
    open-ended range when `segment_s` is None or the length is unknown)."""
    if not segment_s or not info.frames:
        return [(0, None)]
    size = max(1, round(segment_s * info.fps))
    starts = list(range(0, info.frames, size))
    return [(a, b) for a, b in zip(starts, starts[1:])] + [(starts[-1], None)]


def read_photo(path: str | Path, limits: FootageLimits | None = None) -> np.ndarray:
    """A photo as a BGR array (EXIF orientation applied), or a `FootageError` saying why not."""
    limits = limits or FootageLimits()
    path = Path(path)
    _check_file(path, limits)
    from PIL import Image, ImageOps

    try:
        with open_checked(path) as img:  # the header's pixel count is checked before decoding
            _check_size(path.name, *img.size, limits)
            rgb = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except DataError as exc:
        raise FootageError(str(exc)) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise FootageError(f"{path.name} is a corrupt image ({type(exc).__name__}).") from None
    return np.ascontiguousarray(rgb[:, :, ::-1])


# -- crops and their quality ----------------------------------------------------------------------
def crop(frame: np.ndarray, box: Sequence[float]) -> np.ndarray:
    H, W = frame.shape[:2]
    x0, y0 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    x1, y1 = min(W, int(math.ceil(box[2]))), min(H, int(math.ceil(box[3])))
    return frame[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]


def sharpness(patch: np.ndarray) -> float:
    """Variance of the Laplacian of the crop in grey at a height of 128 pixels (blur lowers it)."""
    cv2 = _cv2()
    grey = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY) if patch.ndim == 3 else patch
    h, w = grey.shape[:2]
    if h < 2 or w < 2:
        return 0.0
    grey = cv2.resize(grey, (max(2, round(w * 128 / h)), 128), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def crop_quality(box: Sequence[float], sharp: float) -> float:
    """Larger and sharper is better: box height x log(1 + sharpness)."""
    return float((box[3] - box[1]) * math.log1p(max(sharp, 0.0)))


# -- tracking -------------------------------------------------------------------------------------
@dataclass
class _Candidate:
    """One detection kept as a possible crop of its track."""

    jpeg: bytes  # the crop, as written to the gallery (JPEG, quality 92)
    source: str
    frame: int
    timestamp: float
    box: tuple[float, float, float, float]
    score: float
    sharpness: float
    quality: float
    embedding: np.ndarray
    short: str = ""  # the source's unique short name, for file names
    frame_jpeg: bytes | None = None  # the source frame, when this is the track's best crop so far


@dataclass
class Track:
    id: int
    source: str
    box: tuple[float, float, float, float]
    first_t: float
    last_t: float
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre, pixels per second
    embedding: np.ndarray | None = None  # running mean of the unit embeddings (re-normalised)
    detections: int = 0
    best: list[_Candidate] = field(default_factory=list)

    def predicted(self, t: float) -> tuple[float, float, float, float]:
        dt = t - self.last_t
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        return (self.box[0] + dx, self.box[1] + dy, self.box[2] + dx, self.box[3] + dy)


@dataclass
class TrackerOptions:
    """How detections join tracks. Distances are in person heights (box height), so the same options
    fit near and far people and any resolution."""

    max_distance: float = 0.4  # a detection may join a track whose predicted box centre is this close ...
    distance_per_s: float = 0.6  # ... plus this much per second the track has gone unseen
    max_size_ratio: float = 1.5  # ... whose box height differs by at most this factor ...
    min_similarity: float = 0.5  # ... and that looks alike (cosine of the LightCLIP image embeddings)
    similarity_weight: float = 0.5  # association score = w * cosine + (1 - w) * (1 - distance / gate)
    max_gap_s: float = 2.0  # a track unseen for longer ends
    crops_per_track: int = 3
    min_track_detections: int = 2  # shorter video tracks are dropped (photos and crops always count)

    def __post_init__(self) -> None:
        for name in ("crops_per_track", "min_track_detections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FootageError(f"{name} must be a whole number of at least 1 (got {value!r}).")
        for name in ("max_distance", "distance_per_s", "max_size_ratio", "max_gap_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise FootageError(f"{name} must be a number of at least 0 (got {value!r}).")
        for name in ("min_similarity", "similarity_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and -1 <= value <= 1):
                raise FootageError(f"{name} must be a number between -1 and 1 (got {value!r}).")


class Tracker:
    """Greedy frame-to-frame association of detections into tracks (one video at a time): the best
    scoring (detection, track) pair inside the gates first, then the next, each used once."""

    def __init__(self, options: TrackerOptions, next_id: int = 0) -> None:
        self.o = options
        self.live: list[Track] = []
        self.finished: list[Track] = []
        self.next_id = next_id

    def _new(self, source: str, c: _Candidate) -> Track:
        tr = Track(self.next_id, source, c.box, c.timestamp, c.timestamp, embedding=c.embedding.copy())
        self.next_id += 1
        self._add(tr, c)
        return tr

    def _add(self, tr: Track, c: _Candidate) -> None:
        tr.detections += 1
        tr.best.append(c)
        tr.best.sort(key=lambda x: -x.quality)
        if len(tr.best) > self.o.crops_per_track:
            tr.best.pop()
        for other in tr.best[1:]:
            other.frame_jpeg = None  # only the best crop keeps its source frame
        if tr.best[0] is not c:
            c.frame_jpeg = None

    def gate(self, tr: Track, c: _Candidate, t: float) -> float | None:
        """How far `c` is from where `tr` should be (0 = on the spot, 1 = at the gate), or None
        outside the gate or the size ratio."""
        th, ch = tr.box[3] - tr.box[1], c.box[3] - c.box[1]
        if th <= 0 or ch <= 0 or max(th / ch, ch / th) > self.o.max_size_ratio:
            return None
        (px, py), (cx, cy) = _centre(tr.predicted(t)), _centre(c.box)
        dist = math.hypot(cx - px, cy - py) / ((th + ch) / 2)
        limit = self.o.max_distance + self.o.distance_per_s * max(0.0, t - tr.last_t)
        return dist / limit if dist <= limit else None

    def step(self, source: str, t: float, cands: list[_Candidate]) -> None:
        """Associate one sampled frame's detections (all of `source`, at `t` seconds)."""
        self._expire(t)
        w = self.o.similarity_weight
        pairs = []
        for i, c in enumerate(cands):
            for j, tr in enumerate(self.live):
                g = self.gate(tr, c, t)
                if g is None:
                    continue
                sim = float(np.dot(c.embedding, tr.embedding)) if tr.embedding is not None else 1.0
                if sim < self.o.min_similarity:
                    continue
                pairs.append((w * sim + (1 - w) * (1 - g), i, j))
        used_c, used_t = set(), set()
        for _, i, j in sorted(pairs, key=lambda p: -p[0]):
            if i in used_c or j in used_t:
                continue
            used_c.add(i)
            used_t.add(j)
            tr, c = self.live[j], cands[i]
            dt = t - tr.last_t
            if dt > 0:
                (ax, ay), (bx, by) = _centre(tr.box), _centre(c.box)
                vx, vy = (bx - ax) / dt, (by - ay) / dt
                # smoothed, so that one jittery box does not throw the prediction off
                tr.velocity = (0.5 * tr.velocity[0] + 0.5 * vx, 0.5 * tr.velocity[1] + 0.5 * vy) if tr.detections > 1 else (vx, vy)
            tr.box, tr.last_t = c.box, t
            mean = tr.embedding * tr.detections + c.embedding
            tr.embedding = mean / max(float(np.linalg.norm(mean)), 1e-12)
            self._add(tr, c)
        for i, c in enumerate(cands):
            if i not in used_c:
                self.live.append(self._new(source, c))

    def _expire(self, t: float) -> None:
        still = []
        for tr in self.live:
            (self.finished if t - tr.last_t > self.o.max_gap_s else still).append(tr)
        self.live = still

    def close(self) -> list[Track]:
        """End every live track; the tracks long enough to keep, in order of first appearance."""
        self.finished += self.live
        self.live = []
        done = [tr for tr in self.finished if tr.detections >= self.o.min_track_detections]
        self.finished = []
        return sorted(done, key=lambda tr: (tr.first_t, tr.id))


def _centre(b: Sequence[float]) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


# -- embedding ------------------------------------------------------------------------------------
def image_embedder(model, batch_size: int = 64) -> Callable[[list[np.ndarray]], np.ndarray]:
    """BGR crops -> L2-normalised LightCLIP image embeddings ``(N, D)`` float32 (eval transform)."""
    import torch
    from PIL import Image

    from .data.transforms import eval_transform

    tf = eval_transform(model)

    def embed(patches: list[np.ndarray]) -> np.ndarray:
        if not patches:
            return np.zeros((0, model.embed_dim), np.float32)
        out = []
        model.eval()
        with torch.no_grad():
            for s in range(0, len(patches), batch_size):
                x = torch.stack([tf(Image.fromarray(np.ascontiguousarray(p[:, :, ::-1]))) for p in patches[s:s + batch_size]])
                out.append(model.encode_image(x.to(model.device)).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    return embed


# -- the whole pipeline ---------------------------------------------------------------------------
@dataclass
class Source:
    path: str
    kind: str  # "video", "photo" (detect people in it) or "crop" (the whole image is one person)


def files_under(folder: Path, extensions: Sequence[str], what: str) -> list[Path]:
    """Every file under `folder` whose suffix is one of `extensions`, sorted; hidden ones left out.
    None at all is a FootageError that names `what` was looked for (e.g. "videos")."""
    found = sorted(q for q in folder.rglob("*") if q.is_file() and q.suffix.lower() in extensions
                   and not any(part.startswith(".") for part in q.relative_to(folder).parts))
    if not found:
        raise FootageError(f"No {what} ({', '.join(e[1:] for e in extensions)}) under {folder}.")
    return found


def sources_from(videos: Iterable[str | Path] = (), photos: Iterable[str | Path] = (),
                 crops: Iterable[str | Path] = ()) -> list[Source]:
    """Sources from paths; a folder given as a photo is every image under it (sorted)."""
    out = [Source(str(v), "video") for v in videos]
    for kind, items in (("photo", photos), ("crop", crops)):
        for p in items:
            p = Path(p)
            if p.is_dir():
                out += [Source(str(q), kind) for q in files_under(p, IMAGE_EXTENSIONS, "images")]
            else:
                out.append(Source(str(p), kind))
    return out


@dataclass
class FootageSummary:
    out: str
    sources: int
    frames_read: int  # sampled video frames + photos + crops
    detections: int
    tracks: int
    crops: int
    seconds: float
    video_seconds: float  # duration of the videos read
    detect_seconds: float
    embed_seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def realtime_factor(self) -> float | None:
        """Seconds of video per second of indexing (above 1: faster than real time)."""
        return self.video_seconds / self.seconds if self.video_seconds and self.seconds else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["realtime_factor"] = None if self.realtime_factor is None else round(self.realtime_factor, 2)
        d["skipped"] = [list(s) for s in self.skipped]
        for k in ("seconds", "video_seconds", "detect_seconds", "embed_seconds"):
            d[k] = round(d[k], 2)
        return d


def written_files(meta: dict[str, Any]) -> set[str]:
    """The files a footage gallery's manifest says `footage` wrote (relative paths)."""
    files = {FOOTAGE_FILE, "captions.jsonl"}
    files |= {c["file"] for c in meta.get("crops", []) if isinstance(c, dict) and isinstance(c.get("file"), str)}
    files |= {tr["frame"] for tr in meta.get("tracks", []) if isinstance(tr, dict) and isinstance(tr.get("frame"), str)}
    return files


def footage_files(folder: Path) -> set[str] | None:
    """The files a footage gallery's manifest lists in `folder`, or None when it has no ``footage.json``."""
    meta = read_footage(folder)
    return written_files(meta) if meta is not None else None


FOOTAGE_OUTPUT = OutputKind("a footage gallery", footage_files)


def _prepare_out(out: Path, sources: Sequence[Source] = (), source_folders: Sequence[str | Path] = (),
                 own: Callable[[str], bool] | None = None) -> None:
    """`out` may be new, empty, or an earlier footage gallery holding only the files its manifest lists
    (it is replaced at the end); nothing else is ever overwritten, and `out` may not hold a source nor
    lie inside a source folder (it would index its own output on every rerun): `outputs.check_output_dir`.
    `own(relative path)` names more files the caller wrote (an archive's parts): they count as the
    gallery's, and a folder holding only them is accepted."""
    check_output_dir(out, FOOTAGE_OUTPUT, "--out", [*source_folders, *(s.path for s in sources)], own, FootageError)


class FrameIndexer:
    """Detect the people in a frame and make them track candidates (crop, embedding, quality), timing
    both steps. One per process (or per Ray worker): it holds the detector and the model."""

    def __init__(self, model, detector: Detector | None) -> None:
        self.detector = detector
        self.embed = image_embedder(model)
        self.detect_seconds = self.embed_seconds = 0.0
        self.frames = self.detections = 0

    def people(self, frame: np.ndarray, source: str, short: str, idx: int, t: float, keep_frame: bool,
               whole: bool = False) -> list[_Candidate]:
        """`frame`'s detections as candidates; `whole`: the frame is one person (a crop), nothing to detect."""
        cv2 = _cv2()
        t0 = time.perf_counter()
        if whole:
            dets = [Detection((0.0, 0.0, float(frame.shape[1]), float(frame.shape[0])), 1.0)]
        else:
            dets = self.detector.detect(frame)
        t1 = time.perf_counter()
        patches = [crop(frame, d.box) for d in dets]
        emb = self.embed(patches)
        self.embed_seconds += time.perf_counter() - t1
        self.detect_seconds += 0.0 if whole else t1 - t0
        self.frames += 1
        self.detections += len(dets)
        jpeg = None
        if keep_frame and dets:
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
            jpeg = buf.tobytes() if ok else None
        out = []
        for d, p, e in zip(dets, patches, emb):
            sh = sharpness(p)
            ok, buf = cv2.imencode(".jpg", p, [cv2.IMWRITE_JPEG_QUALITY, 92])
            out.append(_Candidate(buf.tobytes(), source, idx, round(t, 3), d.box, round(d.score, 4), round(sh, 2),
                                  crop_quality(d.box, sh), e, short, jpeg))
        return out

    def video_frames(self, path: str, name: str, short: str, sample_fps: float, limits: FootageLimits,
                     info: VideoInfo, start: int = 0, stop: int | None = None
                     ) -> Iterator[tuple[int, float, list[_Candidate]]]:
        """``(frame index, seconds, candidates)`` of each sampled frame in ``[start, stop)``."""
        for idx, t, frame in sample_video(path, sample_fps, limits, info, start, stop):
            yield idx, t, self.people(frame, name, short, idx, t, keep_frame=True)


@dataclass
class SourceResult:
    """One source indexed: its tracks (their best crops in memory) and its entry in ``footage.json``."""

    tracks: list[Track]
    meta: dict[str, Any]
    video_seconds: float = 0.0


def track_video(name: str, frames: Iterable[tuple[int, float, list[_Candidate]]], options: TrackerOptions,
                info: VideoInfo, report: Callable[[str, int, int], None] = lambda *a: None) -> SourceResult:
    """Link a video's sampled frames (in order) into tracks: the same whether one process read every
    frame or workers read segments of it."""
    trk = Tracker(options)
    sampled = people = 0
    last_t = 0.0
    for idx, t, cands in frames:
        trk.step(name, t, cands)
        sampled += 1
        people += len(cands)
        last_t = t
        report(f"{name} · {t:,.1f} s · {people:,} people seen", idx, info.frames)
    found = trk.close()
    duration = info.duration_s or (last_t + 1.0 / info.fps)
    meta = {"file": name, "kind": "video", "fps": round(info.fps, 3), "frames": info.frames, "width": info.width,
            "height": info.height, "duration_s": round(duration, 2), "sampled": sampled, "tracks": len(found)}
    return SourceResult(found, meta, duration)


def index_picture(src: Source, name: str, short: str, indexer: FrameIndexer, limits: FootageLimits) -> SourceResult:
    """A photo (its people detected) or a crop (one person): a track per person."""
    frame = read_photo(src.path, limits)
    cands = indexer.people(frame, name, short, 0, 0.0, keep_frame=src.kind == "photo", whole=src.kind == "crop")
    tracks = [Track(0, name, c.box, 0.0, 0.0, embedding=c.embedding, detections=1, best=[c]) for c in cands]
    meta = {"file": name, "kind": src.kind, "width": int(frame.shape[1]), "height": int(frame.shape[0]),
            "detections": len(cands)}
    return SourceResult(tracks, meta)


def short_names(sources: Sequence[Source]) -> list[str]:
    """A unique short name per source (file-name safe), in order: what crop and frame files start with."""
    names: list[str] = []
    for src in sources:
        short = safe_stem(Path(src.path).name, 40, "source")
        while short in names:
            short += "_"
        names.append(short)
    return names


def check_footage_options(sources: Sequence[Source], sample_fps: float, topts: TrackerOptions,
                          limits: FootageLimits) -> None:
    """The checks made before anything is read: something to index, counts within `limits`, a sampling
    rate and track gap that fit each other."""
    if not sources:
        raise FootageError("Nothing to index: give a video, a folder of photos, or person crops.")
    if sum(s.kind == "video" for s in sources) > limits.max_sources:
        raise FootageError(f"At most {limits.max_sources} videos per gallery.")
    if sum(s.kind != "video" for s in sources) > limits.max_photos:
        raise FootageError(f"At most {limits.max_photos:,} photos per gallery.")
    if any(s.kind == "video" for s in sources):
        if not sample_fps > 0:
            raise FootageError(f"The sampling rate must be above 0 frames per second (got {sample_fps}).")
        if topts.max_gap_s < 1.0 / sample_fps:
            raise FootageError(f"The track gap ({topts.max_gap_s:g} s) must be at least one sampling interval "
                               f"({1.0 / sample_fps:g} s at {sample_fps:g} frames/s), or no track could continue.")


def build_footage_gallery(
    sources: Sequence[Source],
    out: str | Path,
    model,
    detector: Detector | None = None,
    sample_fps: float = 2.0,
    tracker: TrackerOptions | None = None,
    limits: FootageLimits | None = None,
    progress: Progress | None = None,
    keep_going: bool = True,
    source_folders: Sequence[str | Path] = (),
    record_paths: bool = False,
    torch_threads: int | None = 1,
) -> tuple[FootageSummary, np.ndarray]:
    """Index `sources` into a gallery folder at `out`; returns the summary and the embeddings of the
    written crops (rows in the order of ``footage.json``'s ``crops``, which is the order the folder
    loader lists them), so a caller can search at once without encoding the crops again.

    `progress(stage, done, total)` follows each source (``total`` 0 when unknown). With `keep_going`,
    an unreadable video, photo or crop is skipped and listed (when none is left, the error names the
    reasons); without, it stops the call. Nothing is written at `out` unless the whole call succeeds; an existing
    `out` is replaced only when it holds nothing but an earlier gallery's own files, and never when it
    holds a source or lies inside one of `source_folders` (the folders the sources were listed from).
    ``footage.json`` names each source by its file name; its absolute path only with `record_paths`
    (a gallery that is shared then tells where its owner keeps the files).

    PyTorch runs on `torch_threads` threads meanwhile (None: as set), restored after: the detector
    has OpenCV's own pool, and PyTorch's idle OpenMP threads beside it slow indexing on a machine busy
    with other work (`bench-footage --busy 2` measures both policies side by side; README).
    """
    limits = limits or FootageLimits()
    topts = tracker or TrackerOptions()
    out = Path(out)
    check_footage_options(sources, sample_fps, topts, limits)
    _prepare_out(out, sources, source_folders)
    _cv2()  # no OpenCV is one sentence before anything is read
    if any(s.kind in ("video", "photo") for s in sources) and detector is None:
        detector = make_detector("hog")
    indexer = FrameIndexer(model, detector)
    report = as_progress(progress)
    t_start = time.perf_counter()
    results: list[SourceResult] = []
    skipped: list[tuple[str, str]] = []
    from .runtime import set_torch_threads

    threads_before = set_torch_threads(torch_threads)
    try:
        for n, (src, short) in enumerate(zip(sources, short_names(sources))):
            name = Path(src.path).name
            report(f"{src.kind} {n + 1}/{len(sources)}: {name}", n, len(sources))
            where = {"path": str(Path(src.path).resolve())} if record_paths else {}
            try:
                if src.kind == "video":
                    info = probe_video(src.path, limits)
                    frames = indexer.video_frames(src.path, name, short, sample_fps, limits, info)
                    stage = lambda text, done, total: report(f"video {n + 1}/{len(sources)}: {text}", done, total)  # noqa: E731,B023
                    results.append(track_video(name, frames, topts, info, stage))
                else:
                    results.append(index_picture(src, name, short, indexer, limits))
            except FootageError as exc:
                if not keep_going or len(sources) == 1:  # one source: its own error is the answer
                    raise
                skipped.append((name, str(exc)))
                continue
            results[-1].meta.update(where)
            if src.kind != "video":
                _check_crops(results, limits, final=False)
        if not results and skipped:  # nothing could be read: the reasons are the answer
            raise FootageError(f"Nothing could be indexed ({skipped_summary(skipped)}).")
        counts = {"frames_read": indexer.frames, "detections": indexer.detections,
                  "detect_seconds": indexer.detect_seconds, "embed_seconds": indexer.embed_seconds}
        summary, emb = write_footage_gallery(out, results, skipped, counts, t_start, len(sources),
                                             {"sample_fps": sample_fps, "detector": detector.name if detector else None,
                                              "detector_options": detector.options() if detector else {},
                                              "tracker": asdict(topts)}, limits, report)
    finally:
        set_torch_threads(threads_before)
    return summary, emb


def _check_crops(results: Sequence[SourceResult], limits: FootageLimits, final: bool) -> None:
    """Over `limits.max_crops` is an error: said on the way (`final` False) or at the end."""
    n_crops = sum(len(tr.best) for r in results for tr in r.tracks)
    if n_crops > limits.max_crops and not final:
        raise FootageError(f"Over {limits.max_crops:,} person crops; index fewer files at a time or "
                           "raise the crop limit.")
    if n_crops > limits.max_crops:
        raise FootageError(f"{n_crops:,} person crops is over the limit of {limits.max_crops:,}; index a "
                           "shorter video, sample fewer frames per second, or raise the crop limit.")


def write_footage_gallery(out: Path, results: Sequence[SourceResult], skipped: list[tuple[str, str]],
                          counts: dict[str, Any], t_start: float, n_sources: int, options: dict[str, Any],
                          limits: FootageLimits, report: Callable[[str, int, int], None],
                          extra: Callable[[Path], None] | None = None) -> tuple[FootageSummary, np.ndarray]:
    """Write the gallery of `results` (in source order; track ids follow it) to a temporary folder and
    put it at `out`; `extra(folder)` may add files first. Returns the summary and the crops' embeddings."""
    _check_crops(results, limits, final=True)
    tracks = [tr for r in results for tr in r.tracks]
    if not tracks:
        raise FootageError("No person was found in the footage"
                           + (f" ({len(skipped)} file(s) skipped, the first: {skipped[0][1].rstrip('.')})" if skipped else "")
                           + "; try a lower --min-height or --score-threshold.")
    report("writing the gallery", 0, 0)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        crops_meta, tracks_meta, embeddings = _write_tracks(tmp, tracks)
        # the folder loader lists images sorted by path: rows in that order line up with it
        order = sorted(range(len(crops_meta)), key=lambda i: crops_meta[i]["file"])
        crops_meta = [crops_meta[i] for i in order]
        emb = np.stack([embeddings[i] for i in order]).astype(np.float32)
        with open(tmp / "captions.jsonl", "w", encoding="utf-8") as f:
            for c in crops_meta:
                f.write(json.dumps({"file": c["file"], "id": c["track"]}) + "\n")
        summary = FootageSummary(str(out), n_sources, counts["frames_read"], counts["detections"], len(tracks),
                                 len(crops_meta), time.perf_counter() - t_start,
                                 sum(r.video_seconds for r in results), counts["detect_seconds"],
                                 counts["embed_seconds"], skipped)
        meta = {"format": FORMAT, "version": 1, "sources": [r.meta for r in results], "options": options,
                "summary": {k: v for k, v in summary.to_dict().items() if k not in ("out", "skipped")},
                "skipped": [list(s) for s in skipped], "crops": crops_meta, "tracks": tracks_meta}
        (tmp / FOOTAGE_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        if extra is not None:
            extra(tmp)
        from .fileio import replace_dir

        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary.seconds = time.perf_counter() - t_start
    return summary, emb


def _write_tracks(tmp: Path, tracks: Sequence[Track]) -> tuple[list[dict], list[dict], list[np.ndarray]]:
    """Each track's crops and best frame as files under `tmp`; their ``footage.json`` entries."""
    (tmp / "crops").mkdir(parents=True)
    (tmp / "frames").mkdir()
    crops_meta, tracks_meta, embeddings = [], [], []
    for new_id, tr in enumerate(tracks):
        kept = []
        frame_file = None
        for rank, c in enumerate(tr.best):
            file = f"crops/t{new_id:05d}_{c.short}_f{c.frame:06d}_{rank}.jpg"
            (tmp / file).write_bytes(c.jpeg)
            if rank == 0 and c.frame_jpeg is not None:
                frame_file = f"frames/{c.short}_f{c.frame:06d}.jpg"
                (tmp / frame_file).write_bytes(c.frame_jpeg)
            crops_meta.append({"file": file, "source": c.source, "frame": c.frame, "timestamp": c.timestamp,
                               "box": [round(v, 1) for v in c.box], "track": new_id, "score": c.score,
                               "sharpness": c.sharpness})
            embeddings.append(c.embedding)
            kept.append(file)
        tracks_meta.append({"track": new_id, "source": tr.source, "start": round(tr.first_t, 3),
                            "end": round(tr.last_t, 3), "detections": tr.detections, "crops": kept,
                            "frame": frame_file, "box": [round(v, 1) for v in tr.best[0].box]})
    return crops_meta, tracks_meta, embeddings


# -- reading a footage gallery back ---------------------------------------------------------------
@dataclass
class FootageIndex:
    """Per-image footage facts of a loaded gallery: crop and track metadata by absolute path."""

    root: str
    crops: dict[str, dict[str, Any]]  # resolved crop path -> its footage.json entry
    tracks: dict[int, dict[str, Any]]

    @classmethod
    def load(cls, root: str | Path) -> "FootageIndex | None":
        meta = read_footage(root)
        return None if meta is None else cls.from_meta(root, meta)

    @classmethod
    def from_meta(cls, root: str | Path, meta: dict[str, Any]) -> "FootageIndex":
        """From a footage.json already read (`read_footage`), e.g. by the folder loader."""
        root = Path(root)
        crops = {os.path.normpath(str((root / c["file"]).resolve())): c for c in meta["crops"] if isinstance(c, dict)
                 and isinstance(c.get("file"), str)}
        tracks = {int(t["track"]): t for t in meta.get("tracks", []) if isinstance(t, dict) and "track" in t}
        return cls(str(root), crops, tracks)

    def crop(self, path: str) -> dict[str, Any] | None:
        return self.crops.get(os.path.normpath(str(Path(path).resolve())))

    def track_of(self, path: str) -> dict[str, Any] | None:
        c = self.crop(path)
        return self.tracks.get(int(c["track"])) if c is not None and "track" in c else None

    def label(self, path: str) -> str:
        """``track 3 · vtest.avi 12.0–19.5 s`` (or the photo's name) for a result caption."""
        tr = self.track_of(path)
        if tr is None:
            return ""
        span = f" {tr['start']:.1f}–{tr['end']:.1f} s" if tr.get("end", 0) > tr.get("start", 0) or tr.get("start") else ""
        return f"track {tr['track']} · {tr['source']}{span}"

    def frame_with_box(self, path: str) -> np.ndarray | None:
        """The source frame of `path`'s track (RGB) with the track's best box drawn, or None."""
        tr = self.track_of(path)
        if tr is None or not tr.get("frame"):
            return None
        cv2 = _cv2()
        path = (Path(self.root) / str(tr["frame"])).resolve()
        if not path.is_relative_to(Path(self.root).resolve()):
            return None  # a footage.json naming a file outside its gallery: never read it
        frame = cv2.imread(str(path))
        if frame is None:
            return None
        x0, y0, x1, y1 = (int(round(v)) for v in tr["box"])
        thick = max(2, frame.shape[0] // 200)
        cv2.rectangle(frame, (x0, y0), (x1, y1), (0, 0, 255), thick)
        return frame[:, :, ::-1].copy()
