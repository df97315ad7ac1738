"""Frames from videos and photos, checked against `FootageLimits` before anything is decoded in bulk."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps

from ..data.base import DataError, open_checked
from ..data.footage_file import FootageError
from .limits import VIDEO_EXTENSIONS, FootageLimits
from .opencv import opencv


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
    cv2 = opencv()
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
    cv2 = opencv()
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

    try:
        with open_checked(path) as img:  # the header's pixel count is checked before decoding
            _check_size(path.name, *img.size, limits)
            rgb = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except DataError as exc:
        raise FootageError(str(exc)) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise FootageError(f"{path.name} is a corrupt image ({type(exc).__name__}).") from None
    return np.ascontiguousarray(rgb[:, :, ::-1])
