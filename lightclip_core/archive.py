"""Footage archives: many videos into one gallery, on one machine or on a Ray cluster, resumable.

    python -m lightclip_core footage --videos ARCHIVE_DIR --out gallery_dir [--ray [ADDRESS]]

Each video is indexed as `footage` indexes one (sample, detect, embed, track, keep the best crops) and
its result is written to ``<out>/parts/`` as soon as it is finished, with ``parts/manifest.json``
listing the finished sources. A killed run re-run with the same command reads the finished parts and
indexes only the rest; the gallery (the same format as `footage` writes, track ids in source order) is
assembled from the parts at the end, in a temporary folder renamed into place.

With `ray`, workers (Ray actors, one CPU each, each holding a detector and the model) read the videos:
one task per segment of about `segment_s` seconds, so that a long video keeps several workers busy.
Tracking runs in the caller, over each video's segments in order: the tracker joins them back and the
gallery is the one a single process writes (tests compare them). Without an address Ray starts in
this process on this machine (no setup); with one (``HOST:PORT`` of a running cluster) the same
command runs there; every node must read the videos and the checkpoint at the same paths.

Ray is an optional extra (``requirements-scale.txt``); a missing one is one sentence.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from .checkpoints import load_checkpoint
from .data.footage_file import FootageError
from .fileio import atomic_write_json, log, read_json
from .footage.detectors import DEFAULT_DETECTOR, make_detector
from .footage.limits import VIDEO_EXTENSIONS, FootageLimits
from .footage.opencv import opencv
from .footage.pipeline import FrameIndexer, check_footage_options, track_video
from .footage.sources import Source, files_under, short_names
from .footage.tracker import Candidate, Track, TrackerOptions
from .footage.video import probe_video, video_segments
from .footage.writer import FootageSummary, SourceResult, prepare_out, write_footage_gallery
from .gallery_embeddings import checkpoint_fingerprint
from .progress import Progress, as_progress
from .runtime import set_torch_threads

PARTS = "parts"
MANIFEST = "manifest.json"
PARTS_FORMAT = "lightclip-footage-parts"
ARCHIVE_LIMITS = FootageLimits(max_video_seconds=24 * 3600.0, max_file_bytes=64 << 30, max_crops=1_000_000,
                               max_sources=100_000)


# -- which videos -----------------------------------------------------------------------------------
def archive_sources(items: Iterable[str | Path]) -> list[Source]:
    """Videos from folders (every video under one, sorted), list files (``.txt``: one path per line,
    relative to the list, ``#`` comments) and video files, in the order given, each once."""
    out: list[Source] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = files_under(p, VIDEO_EXTENSIONS, "videos")
        elif p.suffix.lower() == ".txt" and p.is_file():
            lines = [ln.strip() for ln in p.read_text(encoding="utf-8", errors="replace").splitlines()]
            found = [p.parent / ln if not Path(ln).is_absolute() else Path(ln) for ln in lines if ln and not ln.startswith("#")]
            if not found:
                raise FootageError(f"The list {p} names no video.")
        elif p.exists():
            found = [p]
        else:
            raise FootageError(f"--videos {item}: no such file or folder.")
        out += [Source(str(q), "video") for q in found]
    unique, seen = [], set()
    for s in out:  # each file once, where it first appears
        if (key := str(Path(s.path).resolve())) not in seen:
            seen.add(key)
            unique.append(s)
    names = [Path(s.path).name for s in unique]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise FootageError(f"Two videos share the file name {twice[0]}; footage.json names each source by its "
                           "file name, so rename one.")
    return unique


def source_key(path: str | Path) -> str:
    """Which file a part was made from: its name, size and modification time (a changed file is
    indexed again)."""
    st = Path(path).stat()
    return hashlib.sha256(f"{Path(path).name}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]


# -- the parts folder -------------------------------------------------------------------------------
def read_manifest(out: Path) -> dict[str, Any] | None:
    """``parts/manifest.json`` of `out`, or None when there is none; a damaged one is an error."""
    path = out / PARTS / MANIFEST
    if not path.is_file():
        return None
    man = read_json(path, FootageError, advice="remove the parts folder to index again")
    if not (isinstance(man, dict) and man.get("format") == PARTS_FORMAT and isinstance(man.get("done"), dict)):
        raise FootageError(f"{path} is not a LightCLIP parts manifest; remove the parts folder to index again.")
    return man


def prepare_archive_out(out: Path, sources: Sequence[Source]) -> None:
    """`out` may be new, empty, an interrupted archive (a parts folder with its manifest), or an earlier
    gallery; nothing else is overwritten, and it may not hold a source (`footage.writer.prepare_out`)."""
    has_parts = out.is_dir() and read_manifest(out) is not None  # a damaged manifest is an error here
    prepare_out(out, sources, own=lambda rel: has_parts and Path(rel).parts[0] == PARTS)


def _write_part(parts: Path, key: str, result: SourceResult, counts: dict[str, float]) -> str:
    """One finished source as ``parts/<key>/`` (written to a temporary folder, then renamed)."""
    tmp = parts / f".{key}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        tracks, embeddings = [], []
        for t, tr in enumerate(result.tracks):
            best = []
            for r, c in enumerate(tr.best):
                crop_file = f"t{t:05d}_{r}.jpg"
                (tmp / crop_file).write_bytes(c.jpeg)
                frame_file = None
                if c.frame_jpeg is not None:
                    frame_file = f"t{t:05d}_{r}_frame.jpg"
                    (tmp / frame_file).write_bytes(c.frame_jpeg)
                best.append({"frame": c.frame, "timestamp": c.timestamp, "box": list(c.box), "score": c.score,
                             "sharpness": c.sharpness, "quality": c.quality, "crop": crop_file, "frame_jpeg": frame_file})
                embeddings.append(c.embedding)
            tracks.append({"source": tr.source, "box": list(tr.box), "first_t": tr.first_t, "last_t": tr.last_t,
                           "detections": tr.detections, "best": best})
        np.save(tmp / "embeddings.npy", np.asarray(embeddings, np.float32).reshape(len(embeddings), -1))
        atomic_write_json(tmp / "part.json", {"key": key, "meta": result.meta, "video_seconds": result.video_seconds,
                                              "counts": counts, "tracks": tracks}, indent=None)
        if (parts / key).exists():
            shutil.rmtree(parts / key)
        os.replace(tmp, parts / key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return key


def _read_part(folder: Path) -> tuple[SourceResult, dict[str, float]]:
    """A part back as the `SourceResult` it was written from (crops as bytes, embeddings exact)."""
    try:
        doc = json.loads((folder / "part.json").read_text(encoding="utf-8"))
        emb = np.load(folder / "embeddings.npy", allow_pickle=False)
        tracks, row = [], 0
        for tr in doc["tracks"]:
            best = []
            for c in tr["best"]:
                frame = (folder / c["frame_jpeg"]).read_bytes() if c["frame_jpeg"] else None
                best.append(Candidate((folder / c["crop"]).read_bytes(), tr["source"], c["frame"], c["timestamp"],
                                       tuple(c["box"]), c["score"], c["sharpness"], c["quality"], emb[row], "", frame))
                row += 1
            tracks.append(Track(0, tr["source"], tuple(tr["box"]), tr["first_t"], tr["last_t"],
                                detections=tr["detections"], best=best))
        return SourceResult(tracks, doc["meta"], doc["video_seconds"]), doc["counts"]
    except (OSError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise FootageError(f"The part {folder} is damaged ({type(exc).__name__}); remove it to index that "
                           "video again.") from None


# -- the run ----------------------------------------------------------------------------------------
def build_archive_gallery(
    sources: Sequence[Source],
    out: str | Path,
    checkpoint: str | Path,
    detector: str = DEFAULT_DETECTOR,
    detector_options: dict[str, Any] | None = None,
    sample_fps: float = 2.0,
    tracker: TrackerOptions | None = None,
    limits: FootageLimits | None = None,
    ray: str | None = None,
    workers: int = 2,
    segment_s: float = 300.0,
    progress: Progress | None = None,
) -> tuple[FootageSummary, np.ndarray]:
    """Index the videos `sources` into the gallery `out`, resuming from the parts a killed run left.
    `ray`: None runs here in this process; ``"local"`` starts Ray on this machine with `workers`
    workers; ``HOST:PORT`` joins a running cluster. A video that cannot be read is skipped and listed
    (one sentence each); the others go on. Returns the summary and the crops' embeddings."""

    limits = limits or ARCHIVE_LIMITS
    topts = tracker or TrackerOptions()
    out = Path(out)
    check_footage_options(sources, sample_fps, topts, limits)
    opencv()
    skipped: list[tuple[str, str]] = [(Path(s.path).name, "no such file") for s in sources if not Path(s.path).is_file()]
    sources = [s for s in sources if Path(s.path).is_file()]  # a list may name a video that is gone: skipped, named
    if not sources:
        raise FootageError(f"None of the {len(skipped)} videos given exists (first: {skipped[0][0]}); check the paths.")
    prepare_archive_out(out, sources)
    det = make_detector(detector, **(detector_options or {}))
    options = {"sample_fps": sample_fps, "detector": det.name, "detector_options": det.options(),
               "tracker": asdict(topts), "checkpoint": checkpoint_fingerprint(checkpoint)}
    report = as_progress(progress)
    t_start = time.perf_counter()
    parts = out / PARTS
    done = _start_manifest(out, options)
    keys = {s.path: source_key(s.path) for s in sources}
    todo = [s for s in sources if keys[s.path] not in done]
    if len(todo) < len(sources):
        log(f"footage: {len(sources) - len(todo)} of {len(sources)} videos already indexed in {parts}; resuming")

    def finished(src: Source, result: SourceResult, counts: dict[str, float]) -> None:
        done[keys[src.path]] = {"file": Path(src.path).name, "part": _write_part(parts, keys[src.path], result, counts)}
        atomic_write_json(parts / MANIFEST, {"format": PARTS_FORMAT, "version": 1, "options": options, "done": done})

    run = _run_with_ray if ray else _run_here
    run(todo, checkpoint=checkpoint, det=det, det_args=(detector, detector_options or {}), sample_fps=sample_fps, topts=topts, limits=limits, finished=finished,
        skipped=skipped, report=report, address=ray, workers=workers, segment_s=segment_s)
    return _assemble(out, sources, keys, done, skipped, options, limits, t_start, report)


def _start_manifest(out: Path, options: dict[str, Any]) -> dict[str, Any]:
    """The finished parts to reuse (none when the options changed); the manifest is on disk after."""
    man = read_manifest(out)
    done: dict[str, Any] = {}
    if man is not None and man.get("options") == options:
        done = {k: v for k, v in man["done"].items() if (out / PARTS / str(v.get("part", ""))).is_dir()}
    elif man is not None:
        log(f"footage: the parts in {out / PARTS} were made with other options (sampling, detector, tracker "
            "or checkpoint); indexing every video again")
    (out / PARTS).mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / PARTS / MANIFEST, {"format": PARTS_FORMAT, "version": 1, "options": options, "done": done})
    return done


def _run_here(todo: Sequence[Source], *, checkpoint, det, sample_fps, topts, limits, finished, skipped, report,
              **_: Any) -> None:
    """Every video in this process, one after the other (PyTorch on one thread beside OpenCV's pool)."""

    indexer = FrameIndexer(load_checkpoint(checkpoint), det)
    before = set_torch_threads(1)
    try:
        for n, src in enumerate(todo):
            name = Path(src.path).name
            report(f"video {n + 1}/{len(todo)}: {name}", n, len(todo))
            counts0 = _counts(indexer)
            try:
                info = probe_video(src.path, limits)
                frames = indexer.video_frames(src.path, name, "", sample_fps, limits, info)
                result = track_video(name, frames, topts, info, lambda text, d, t: report(f"video {n + 1}/{len(todo)}: {text}", d, t))
            except FootageError as exc:
                skipped.append((name, str(exc)))
                continue
            finished(src, result, {k: v - counts0[k] for k, v in _counts(indexer).items()})
    finally:
        set_torch_threads(before)


def _counts(indexer: FrameIndexer) -> dict[str, float]:
    return {"frames_read": indexer.frames, "detections": indexer.detections,
            "detect_seconds": indexer.detect_seconds, "embed_seconds": indexer.embed_seconds}


def _assemble(out: Path, sources: Sequence[Source], keys: dict[str, str], done: dict[str, Any],
              skipped: list[tuple[str, str]], options: dict[str, Any], limits: FootageLimits, t_start: float,
              report: Progress) -> tuple[FootageSummary, np.ndarray]:
    """The gallery from the finished parts, in source order; the parts (of these sources) go with it."""
    results, totals = [], {"frames_read": 0, "detections": 0, "detect_seconds": 0.0, "embed_seconds": 0.0}
    kept = {}
    for src, short in zip(sources, short_names(sources)):
        entry = done.get(keys[src.path])
        if entry is None:
            continue
        result, counts = _read_part(out / PARTS / entry["part"])
        for tr in result.tracks:
            for c in tr.best:
                c.short = short
        results.append(result)
        kept[keys[src.path]] = entry
        for k in totals:
            totals[k] += counts.get(k, 0)

    def with_parts(folder: Path) -> None:
        for entry in kept.values():
            _link_tree(out / PARTS / entry["part"], folder / PARTS / entry["part"])
        atomic_write_json(folder / PARTS / MANIFEST, {"format": PARTS_FORMAT, "version": 1, "options": options,
                                                      "done": kept})

    return write_footage_gallery(out, results, skipped, totals, t_start, len(sources), options, limits, report,
                                 extra=with_parts)


def _link_tree(src: Path, dest: Path) -> None:
    """`src`'s files at `dest` as hard links (copies where the file system has none)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        try:
            os.link(f, dest / f.name)
        except OSError:
            shutil.copy2(f, dest / f.name)


# -- Ray --------------------------------------------------------------------------------------------
def _import_ray():
    try:
        import ray
    except ImportError:
        raise FootageError("--ray needs Ray, an optional extra: pip install -r requirements-scale.txt "
                           "(or pip install ray).") from None
    return ray


def _check_address(address: str, timeout_s: float = 3.0) -> None:
    """A cluster address that does not answer is one sentence within `timeout_s`, not Ray's long wait."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            return
    except (OSError, ValueError):
        pass
    raise FootageError(f"No Ray cluster answers at {address} (within {timeout_s:g} s); start one with "
                       "`ray start --head`, or run --ray without an address for a local one.")


class _Worker:
    """A Ray actor: one detector and one model, reading video segments into track candidates."""

    def __init__(self, checkpoint: str, detector: str, detector_options: dict, limits: dict) -> None:
        import cv2

        cv2.setNumThreads(1)  # one CPU per worker: the workers are the parallelism
        torch.set_num_threads(1)
        self.indexer = FrameIndexer(load_checkpoint(checkpoint), make_detector(detector, **detector_options))
        self.limits = FootageLimits(**limits)

    def segment(self, path: str, info, sample_fps: float, start: int, stop: int | None) -> tuple[str, Any, dict]:
        """``("ok", [(index, seconds, candidates), ...], counts)`` or ``("error", sentence, {})``;
        `info` is the caller's `probe_video` of `path`."""
        name = Path(path).name
        before = _counts(self.indexer)
        try:
            frames = list(self.indexer.video_frames(path, name, "", sample_fps, self.limits, info, start, stop))
        except FootageError as exc:
            return "error", str(exc), {}
        return "ok", frames, {k: v - before[k] for k, v in _counts(self.indexer).items()}


def _run_with_ray(todo: Sequence[Source], *, checkpoint, det_args, sample_fps, topts, limits, finished, skipped, report,
                  address, workers, segment_s, **_: Any) -> None:
    """Segments of every video over a pool of Ray actors; each video tracked here as its segments come
    back in order, and written as a part when its last one has."""
    ray = _import_ray()
    from ray.util import ActorPool

    tasks, infos = [], {}
    for src in todo:
        try:
            infos[src.path] = probe_video(src.path, limits)
        except FootageError as exc:
            skipped.append((Path(src.path).name, str(exc)))
            continue
        tasks += [(src, a, b) for a, b in video_segments(infos[src.path], segment_s)]
    if not tasks:
        return
    _start_ray(ray, address, workers)
    actor = ray.remote(num_cpus=1)(_Worker)
    opts = {"checkpoint": str(Path(checkpoint).resolve()), "detector": det_args[0], "detector_options": det_args[1],
            "limits": asdict(limits)}
    pool = ActorPool([actor.remote(**opts) for _ in range(max(1, workers))])
    results = pool.map(lambda a, t: a.segment.remote(t[0].path, infos[t[0].path], sample_fps, t[1], t[2]), tasks)
    try:
        for src, segments in _by_video(tasks, results, report):
            name = Path(src.path).name
            errors = [payload for status, payload, _ in segments if status == "error"]
            if errors:
                skipped.append((name, errors[0]))
                continue
            frames = [f for _, payload, _ in segments for f in payload]
            counts = {k: sum(c[k] for _, _, c in segments) for k in segments[0][2]}
            finished(src, track_video(name, frames, topts, infos[src.path]), counts)
    finally:
        if not address or address == "local":
            ray.shutdown()


def _by_video(tasks: list, results: Iterator, report: Progress) -> Iterator[tuple[Source, list]]:
    """Group the pool's results (in task order) into each video's list of segment results."""
    current, acc = None, []
    for n, (task, res) in enumerate(zip(tasks, results)):
        if current is not None and task[0] is not current:
            yield current, acc
            acc = []
        current = task[0]
        acc.append(res)
        report(f"segment {n + 1}/{len(tasks)}: {Path(current.path).name}", n + 1, len(tasks))
    if current is not None:
        yield current, acc


def _start_ray(ray, address: str | None, workers: int) -> None:
    """Ray in this process on this machine (`workers` CPUs, no dashboard), or joined to `address`."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home from an offline machine
    if ray.is_initialized():
        return
    if address and address != "local":
        _check_address(address)
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return
    import lightclip_core

    ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=512 << 20,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
                 [str(Path(lightclip_core.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])}})


__all__ = ["ARCHIVE_LIMITS", "archive_sources", "build_archive_gallery", "read_manifest", "source_key"]
