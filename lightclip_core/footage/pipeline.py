"""The whole footage pipeline in one process (`build_footage_gallery`): frames, detection, tracking,
crops, writing. ``archive.py`` runs the same steps over Ray workers."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from ..data.base import skipped_summary
from ..data.footage_file import FootageError
from ..progress import Progress, as_progress
from ..runtime import set_torch_threads
from .crops import crop, crop_quality, image_embedder, sharpness
from .detectors import Detection, Detector, make_detector
from .limits import FootageLimits
from .opencv import opencv
from .sources import Source, short_names
from .tracker import Candidate, Track, Tracker, TrackerOptions
from .video import VideoInfo, probe_video, read_photo, sample_video
from .writer import FootageSummary, SourceResult, check_crop_count, prepare_out, write_footage_gallery


class FrameIndexer:
    """Detect the people in a frame and make them track candidates (crop, embedding, quality), timing
    both steps. One per process (or per Ray worker): it holds the detector and the model."""

    def __init__(self, model, detector: Detector | None) -> None:
        self.detector = detector
        self.embed = image_embedder(model)
        self.detect_seconds = self.embed_seconds = 0.0
        self.frames = self.detections = 0

    def people(self, frame: np.ndarray, source: str, short: str, idx: int, t: float, keep_frame: bool,
               whole: bool = False) -> list[Candidate]:
        """`frame`'s detections as candidates; `whole`: the frame is one person (a crop), nothing to detect."""
        cv2 = opencv()
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
            out.append(Candidate(buf.tobytes(), source, idx, round(t, 3), d.box, round(d.score, 4), round(sh, 2),
                                  crop_quality(d.box, sh), e, short, jpeg))
        return out

    def video_frames(self, path: str, name: str, short: str, sample_fps: float, limits: FootageLimits,
                     info: VideoInfo, start: int = 0, stop: int | None = None
                     ) -> Iterator[tuple[int, float, list[Candidate]]]:
        """``(frame index, seconds, candidates)`` of each sampled frame in ``[start, stop)``."""
        for idx, t, frame in sample_video(path, sample_fps, limits, info, start, stop):
            yield idx, t, self.people(frame, name, short, idx, t, keep_frame=True)


def track_video(name: str, frames: Iterable[tuple[int, float, list[Candidate]]], options: TrackerOptions,
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


def index_sources(sources: Sequence[Source], indexer: FrameIndexer, topts: TrackerOptions, sample_fps: float,
                  limits: FootageLimits, report: Callable[[str, int, int], None], keep_going: bool = True,
                  record_paths: bool = False) -> tuple[list[SourceResult], list[tuple[str, str]]]:
    """Each source's tracks and manifest entry, in order, and the ``(name, reason)`` of those skipped
    (with `keep_going`; without, or with one source, its `FootageError` is raised)."""
    results: list[SourceResult] = []
    skipped: list[tuple[str, str]] = []
    for n, (src, short) in enumerate(zip(sources, short_names(sources))):
        name = Path(src.path).name
        report(f"{src.kind} {n + 1}/{len(sources)}: {name}", n, len(sources))
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
        if record_paths:
            results[-1].meta["path"] = str(Path(src.path).resolve())
        if src.kind != "video":
            check_crop_count(results, limits, final=False)
    return results, skipped


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
    prepare_out(out, sources, source_folders)
    opencv()  # no OpenCV is one sentence before anything is read
    if any(s.kind in ("video", "photo") for s in sources) and detector is None:
        detector = make_detector()
    indexer = FrameIndexer(model, detector)
    report = as_progress(progress)
    t_start = time.perf_counter()
    threads_before = set_torch_threads(torch_threads)
    try:
        results, skipped = index_sources(sources, indexer, topts, sample_fps, limits, report, keep_going, record_paths)
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
