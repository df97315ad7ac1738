"""`footage`: people in videos and street photos into a searchable gallery (one video, or an archive)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from ..archive import ARCHIVE_LIMITS, archive_sources, build_archive_gallery
from ..checkpoints import bundled_checkpoints, load_checkpoint
from ..errors import LightCLIPError
from ..fileio import log
from ..footage import FootageLimits, TrackerOptions, build_footage_gallery, make_detector, sources_from
from ..footage.detectors import DEFAULT_DETECTOR, DETECTORS
from ..models.backbones import DEFAULT_BACKBONE
from .common import bundled_dir, command, flag_ranges, number, whole

# The numeric flags of these commands and what each accepts (checked before any work).
flag_ranges(
    crops_per_track=whole(1),
    max_crops=whole(1),
    max_gap=number(minimum=0),
    max_seconds=number(above=0),
    min_detections=whole(1),
    min_height=whole(1),
    nms_iou=number(minimum=0, maximum=1),
    score_threshold=number(),
    segment_seconds=number(above=0),
    tiles=whole(1),
    torch_threads=whole(0),
)


def cmd_footage(args: argparse.Namespace) -> int:
    """Detect, track and crop the people in a video or street photos into a searchable gallery folder."""

    ckpt = args.checkpoint
    if ckpt is None:
        found = bundled_checkpoints(bundled_dir("checkpoints"))
        ckpt = found.get(DEFAULT_BACKBONE) or next(iter(found.values()), None)
        if ckpt is None:
            raise LightCLIPError("No bundled checkpoint under checkpoints/; pass --checkpoint DIR (its image "
                                 "embeddings link detections into tracks and index the crops).")
    tracker = TrackerOptions(crops_per_track=args.crops_per_track, max_gap_s=args.max_gap,
                             min_track_detections=args.min_detections)
    detector_options = {"min_height": args.min_height, "score_threshold": args.score_threshold, "nms_iou": args.nms_iou,
                        "tiles": args.tiles}
    if args.videos:
        return _footage_archive(args, ckpt, tracker, detector_options)
    if args.ray is not None:
        raise LightCLIPError("--ray indexes an archive: give the videos with --videos DIR_OR_LIST.")
    model = load_checkpoint(ckpt)
    sources = sources_from(args.video or (), args.photos or (), args.crops or ())
    detector = make_detector(args.detector, **detector_options)
    limits = FootageLimits(max_video_seconds=args.max_seconds or 600.0, max_crops=args.max_crops or 5000)
    bar = None
    bar, progress = _footage_progress(args.no_progress)
    try:
        folders = [p for p in (*(args.photos or ()), *(args.crops or ())) if Path(p).is_dir()]
        summary, _ = build_footage_gallery(sources, args.out, model, detector, args.fps, tracker, limits, progress,
                                           source_folders=folders, record_paths=args.record_paths,
                                           torch_threads=args.torch_threads or None)
    finally:
        if bar is not None:
            bar.close()
    return _footage_done(args, summary)


def _footage_archive(args: argparse.Namespace, ckpt, tracker, detector_options: dict) -> int:
    """`footage --videos`: an archive, resumable, on this machine or over Ray."""

    if args.video or args.photos or args.crops:
        raise LightCLIPError("--videos indexes an archive on its own; give single videos with --videos too.")
    limits = ARCHIVE_LIMITS
    if args.max_seconds or args.max_crops:
        limits = replace(limits, max_video_seconds=args.max_seconds or limits.max_video_seconds,
                         max_crops=args.max_crops or limits.max_crops)
    sources = archive_sources(args.videos)
    bar, progress = _footage_progress(args.no_progress)
    try:
        summary, _ = build_archive_gallery(sources, args.out, ckpt, args.detector, detector_options, args.fps, tracker,
                                           limits, ray=args.ray, workers=args.workers, segment_s=args.segment_seconds,
                                           progress=progress)
    finally:
        if bar is not None:
            bar.close()
    return _footage_done(args, summary)


def _footage_progress(off: bool):
    """A tqdm bar on stderr and the `progress(stage, done, total)` that moves it (None, no-op when `off`)."""
    if off:
        return None, None

    bar = tqdm(total=0, unit="frame", desc="footage", file=sys.stderr, leave=False)

    def progress(stage: str, done: int, total: int) -> None:
        bar.set_description_str(stage[:60], refresh=False)
        if total and bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    return bar, progress


def _footage_done(args: argparse.Namespace, summary) -> int:
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        rt = summary.realtime_factor
        log(f"footage: {summary.frames_read:,} frames, {summary.detections:,} detections -> {summary.tracks:,} tracks, "
            f"{summary.crops:,} crops in {summary.seconds:.1f} s" + (f" ({rt:.1f}x real time)" if rt else ""))
        for name, why in summary.skipped:
            log(f"  skipped {name}: {why}")
        print(summary.out)
    return 0


@command("footage")
def _add_footage(sub) -> None:
    """The `footage` command and its flags."""
    p = sub.add_parser("footage", help="people in a video or street photos -> a searchable gallery folder (offline)",
                       description="Sample a video's frames (or read street photos), detect people (SSDLite-MobileNetV2 "
                       "on ONNX Runtime by default, or OpenCV's HOG; no download), link detections across frames into tracks, keep each track's best crops, "
                       "and write a gallery folder (crops/, frames/, captions.jsonl, footage.json) that search, index, "
                       "the folder dataset and the app load as they are. Written to a temporary folder, then renamed.")
    p.add_argument("--video", action="append", help="a video file: mp4, avi, mov, webm, mkv, m4v (repeatable)")
    p.add_argument("--photos", action="append", help="a street photo or a folder of them (repeatable)")
    p.add_argument("--crops", action="append", help="person crops or a folder of them, each one person (repeatable)")
    p.add_argument("--videos", action="append",
                   help="an archive: a folder of videos, a .txt list of video paths, or a video (repeatable); each "
                   "finished video is kept under OUT/parts/, so the same command re-run after a kill resumes")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="with --videos: index on Ray workers; no ADDRESS starts Ray on this machine, HOST:PORT joins "
                   "a running cluster (pip install -r requirements-scale.txt)")
    p.add_argument("--workers", type=int, default=2, help="Ray workers on this machine (default 2, one CPU each)")
    p.add_argument("--segment-seconds", type=float, default=300.0,
                   help="with --ray: a video is cut into tasks of this many seconds (default 300), joined back by the tracker")
    p.add_argument("--out", required=True, help="the gallery folder to write (new, empty, or an earlier footage gallery holding only its own files; not inside a --photos or --crops folder)")
    p.add_argument("--checkpoint", help="checkpoint whose image embeddings link tracks and index the crops "
                   "(default: the bundled EfficientNet-Lite0)")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="PyTorch threads while indexing (default 1: the detector has OpenCV's own pool, and idle "
                   "PyTorch threads beside it slow a busy machine down; 0: as set, e.g. by --threads)")
    p.add_argument("--record-paths", action="store_true",
                   help="write each source's absolute path into footage.json (default: its file name only, so a "
                   "shared gallery does not tell where its owner keeps files)")
    p.add_argument("--fps", type=float, default=2.0, help="frames sampled per second of video (default 2)")

    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS.names(),
                   help=f"person detector (default {DEFAULT_DETECTOR}; docs/FOOTAGE.md compares them): hog, OpenCV's "
                   "HOG, built in; ssdlite, SSDLite-MobileNetV2 on ONNX Runtime, bundled")
    p.add_argument("--min-height", type=int,
                   help="smallest person box in pixels (HOG's default: 90 or an eighth of the frame height, whichever "
                   "is larger; SSDLite's: any)")
    p.add_argument("--score-threshold", type=float, help="detector score threshold (default: HOG 0.5, SSDLite 0.3)")
    p.add_argument("--nms-iou", type=float, help="non-maximum suppression overlap (default 0.4)")
    p.add_argument("--tiles", type=int, help="SSDLite: detect in the whole frame and a TILES x TILES grid of tiles too "
                   "(default 2; 1: the whole frame only, fastest)")
    p.add_argument("--crops-per-track", type=int, default=3)
    p.add_argument("--max-gap", type=float, default=2.0, help="seconds a track may go unseen before it ends")
    p.add_argument("--min-detections", type=int, default=2,
                   help="drop video tracks seen fewer times (default 2: a one-off detection is mostly a false one)")
    p.add_argument("--max-seconds", type=float, help="longest video accepted (default 600; with --videos a day)")
    p.add_argument("--max-crops", type=int, help="most person crops in the gallery (default 5000; with --videos a million)")
    p.add_argument("--json", action="store_true", help="print a JSON summary (frames read, detections, tracks, crops, seconds)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_footage)
