"""The benchmarks: `bench`, `bench-app`, `bench-detectors`, `bench-footage` (the bench wing)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .. import benchmarks
from ..bench import records, scale, tables
from ..bench.app import run_app_bench
from ..bench.detectors import detector_table, run_detector_bench
from ..bench.footage import archive_comparison, run_footage_bench
from ..bench.store import run_store_bench, store_table
from ..checkpoints import bundled_checkpoints
from ..errors import LightCLIPError
from ..fileio import atomic_write_json, log
from ..footage import DETECTORS
from ..models.backbones import DEFAULT_BACKBONE
from ..stores import STORES
from .common import (
    REAL_CHECK,
    add_runtime_flag,
    bundled_dir,
    command,
    flag_ranges,
    number,
    persistent_store,
    whole,
)

# The numeric flags of these commands and what each accepts (checked before any work).
flag_ranges(
    archive=whole(0),
    archive_seconds=number(above=0),
    busy=whole(0),
    clients=whole(1),
    hnsw_max=whole(0),
    scale_queries=whole(1),
    seconds=number(above=0),
)


def update_pages(readme: str | Path, table: str, training: str) -> None:
    """Write the results table into the README and both tables into docs/BENCHMARKS.md beside it."""

    tables.update_readme(readme, table, training)
    page = Path(readme).parent / "docs" / "BENCHMARKS.md"
    if page.is_file():
        tables.update_readme(page, table, training)


def cmd_bench(args: argparse.Namespace) -> int:
    """Evaluate + profile every checkpoint; write benchmarks.json; print the table (and ratios)."""

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.scale and persistent_store(args):
        doc = run_store_bench([int(x) for x in args.scale_sizes.split(",")], n_queries=min(args.scale_queries, 20),
                              store_name=args.store)
        if args.out:
            benchmarks.write_bench(doc, args.out)
        print(json.dumps(doc) if args.json else store_table(doc))
        return 0
    if args.scale:
        sizes = [int(x) for x in args.scale_sizes.split(",")]
        doc = scale.run_scale(sizes, hnsw_max=args.hnsw_max, n_queries=args.scale_queries, recall_target=args.recall_target)
        if args.out:
            benchmarks.write_bench(doc, args.out)
        print(json.dumps(doc) if args.json else scale.scale_table(doc))
        return 0
    out = args.out or str(Path(args.checkpoints) / "benchmarks.json")
    if args.table_only:
        doc = benchmarks.load_benchmarks(out)
        table = tables.markdown_table(doc)
        if args.update_readme:
            update_pages(args.readme, table, tables.training_table(doc))
        print(table)
        return 0
    backbones = args.backbones.split(",") if args.backbones else None
    real = None if args.no_real else (bundled_dir(args.real) if args.real == REAL_CHECK else Path(args.real))
    if real is not None and not (real / "data_captions.json").is_file():
        if args.real != REAL_CHECK:
            raise LightCLIPError(f"--real {real} holds no real check (data_captions.json); see realcheck/street/README.md.")

        log(f"bench: no real-photo check at {real}; rows get no real_* fields")
        real = None
    doc = records.run_bench(args.checkpoints, args.gallery, args.run, backbones, args.repeats,
                            naive=not args.no_naive, memory=not args.no_memory, zero_shot=not args.no_zero_shot,
                            runtime=args.runtime, real_root=real)
    if args.merge and Path(out).is_file():
        doc = records.merge_bench(benchmarks.load_benchmarks(out), doc)
        if warning := records.stale_warning(doc):
            print(warning, file=sys.stderr)
    benchmarks.write_bench(doc, out)
    table = tables.markdown_table(doc)
    if args.update_readme:
        update_pages(args.readme, table, tables.training_table(doc))
    print(json.dumps(doc) if args.json else table)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_bench_app(args: argparse.Namespace) -> int:
    """Time the app over HTTP: start-up, first /search per bundled encoder, N concurrent clients."""

    encoders = [b.strip() for b in args.encoders.split(",") if b.strip()] if args.encoders else None
    doc = run_app_bench(args.checkpoints, args.gallery, args.clients, args.seconds, encoders, first=not args.no_first,
                        client=args.client, baseline=args.baseline, stall=args.stall,
                        app_file=args.app or bundled_dir("app.py"))
    if args.out:
        atomic_write_json(Path(args.out), doc)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"app answered after {doc['startup_s']:.1f} s; default model warm {doc['warm_s']} s later")
    if cold := doc.get("cold_search"):
        print(f"  first /search the moment the port answered ({cold['backbone']}): {cold['search_s']:.2f} s "
              f"(+ {cold['connect_s']:.2f} s to connect)")
    for r in doc.get("first_search", []):
        print(f"  {r['backbone']:<28} first /search {r['first_s']:6.2f} s   second {r['second_s']:6.2f} s")
    for key, name in (("load", "load"), ("load_untuned", "load without gradio_tuning")):
        if key in doc:
            ld = doc[key]
            print(f"{name}: {ld['clients']} clients x {ld['seconds']:.0f} s over {', '.join(ld['encoders'])}: "
                  f"{ld['requests']} requests, {ld['errors']} errors, p50 {ld['p50_s']} s, p95 {ld['p95_s']} s, "
                  f"{ld['requests_per_s']} requests/s ({ld['client']} clients; CPU per request: app "
                  f"{ld['app_cpu_ms_per_request']} ms, clients {ld['client_cpu_ms_per_request']} ms)")
    if "load_untuned" in doc:
        print(f"requests/s with gradio_tuning / without: {doc['ratios']['tuned_vs_untuned_requests_per_s']}")
    if st := doc.get("stall"):
        alone, beside = st["alone"], st["beside_slow"]
        print(f"stall: {st['clients']} clients of {st['fast']}: p95 {alone['p95_s']} s, worst {alone['max_s']} s alone; "
              f"p95 {beside['p95_s']} s, worst {beside['max_s']} s beside the first use of {st['slow']} "
              f"(x{st['fast_p95_beside_slow_vs_alone']}, x{st['fast_max_beside_slow_vs_alone']}; that call: "
              f"{st['slow_call'].get('answer', '')[:90]} after {st['slow_call'].get('seconds')} s)")
    return 0


def cmd_bench_detectors(args: argparse.Namespace) -> int:
    """Every person detector on the hand-labelled pictures and the whole street clip, side by side."""

    ckpt = args.checkpoint or bundled_checkpoints(bundled_dir("checkpoints")).get(DEFAULT_BACKBONE)
    if ckpt is None:
        raise LightCLIPError("No bundled EfficientNet-Lite0 checkpoint; pass --checkpoint DIR.")
    photos = args.photos or str(Path(args.video).parent)
    doc = run_detector_bench(bundled_dir(args.boxes), args.video, photos, bundled_dir(args.people), ckpt,
                             args.detectors or DETECTORS.names())
    if args.out:
        atomic_write_json(Path(args.out), doc)
    print(json.dumps(doc, indent=2) if args.json else detector_table(doc))
    return 0


def cmd_bench_footage(args: argparse.Namespace) -> int:
    """Index a street video and time it; tracks; first search over the footage vs the bundled gallery."""

    ckpt = args.checkpoint or bundled_checkpoints(bundled_dir("checkpoints")).get(DEFAULT_BACKBONE)
    if ckpt is None:
        raise LightCLIPError("No bundled EfficientNet-Lite0 checkpoint; pass --checkpoint DIR.")
    if args.archive:
        doc = archive_comparison(args.video, ckpt, args.archive, args.archive_seconds, args.fps, args.workers)
        if args.out:
            atomic_write_json(Path(args.out), doc)
        print(json.dumps(doc, indent=2))
        return 0
    doc = run_footage_bench(args.video, ckpt, args.gallery, args.fps, args.sheet, args.keep, args.busy)
    if args.out:
        atomic_write_json(Path(args.out), doc)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    ix, v = doc["indexing"], doc["video"]
    print(f"{v['file']}: {v['seconds']} s at {v['width']}x{v['height']}, sampled at {doc['sample_fps']:g}/s: "
          f"indexed in {ix['seconds']} s = {ix['realtime_factor']}x real time (detect {ix['detect_seconds']} s, "
          f"embed {ix['embed_seconds']} s); {ix['detections']} detections -> {ix['tracks']} tracks, {ix['crops']} crops")
    f, w = doc["first_search_ms"], doc["warm_search_ms"]
    print(f"first search: footage {f['footage']} ms, bundled gallery {f['bundled_gallery']} ms; "
          f"warm median: footage {w['footage']} ms, bundled gallery {w['bundled_gallery']} ms")
    if busy := doc.get("busy_machine"):
        for name in ("one_torch_thread", "threads_as_set"):
            t = busy[name]
            print(f"with {busy['busy_processes']} CPU-bound processes beside it, {name.replace('_', ' ')}: "
                  f"indexed in {t['busy_s']} s against {t['idle_s']} s idle ({t['ratio']}x)")
    return 0


@command("bench")
def _add_bench(sub) -> None:
    """The `bench` command and its flags."""
    p = sub.add_parser("bench", help="evaluate + profile every checkpoint; benchmarks.json; --scale: FAISS scaling")
    p.add_argument("--checkpoints", default="checkpoints", help="directory of checkpoint directories")
    p.add_argument("--gallery", default="gallery", help="gallery dataset directory (default: the bundled one)")
    p.add_argument("--run", action="append", default=[], metavar="CKPT_DIR",
                   help="also benchmark this checkpoint, marked not bundled (e.g. the ViT-B/32 reference)")
    p.add_argument("--backbones", help="comma list: only these backbones")
    p.add_argument("--out", help="output JSON (default CHECKPOINTS/benchmarks.json)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--no-naive", action="store_true", help="skip the naive re-encode-per-query timing")
    p.add_argument("--no-memory", action="store_true", help="skip peak-memory subprocesses")
    p.add_argument("--no-zero-shot", action="store_true", help="leave out the zero-shot CLIP-family models")
    p.add_argument("--real", default=REAL_CHECK, help="the real-photo check every row is also scored on (real_* "
                   "fields; default: the repository's realcheck/street)")
    p.add_argument("--no-real", action="store_true", help="leave out the real-photo check")
    p.add_argument("--merge", action="store_true", help="keep the records of models not measured in this run "
                   "(with --backbones or --run: re-measure some models, e.g. after re-bundling them)")
    p.add_argument("--update-readme", action="store_true", help="replace the results table between the README's bench markers, and both tables in docs/BENCHMARKS.md beside it")
    p.add_argument("--readme", default="README.md")
    p.add_argument("--table-only", action="store_true", help="print (and with --update-readme, write) the table of "
                   "the existing benchmarks.json without measuring")
    p.add_argument("--scale", action="store_true", help="exact vs approximate FAISS search on random vectors")

    p.add_argument("--store", choices=STORES.names(), default="faiss",
                   help="with --scale: a persistent store (milvus: a milvus-lite file; needs requirements-scale.txt) "
                   "beside FAISS (query, recall, a camera-and-hour filter)")
    p.add_argument("--scale-sizes", default="10000,100000,1000000")
    p.add_argument("--scale-queries", type=int, default=100)
    p.add_argument("--hnsw-max", type=int, default=1_000_000, help="skip HNSW builds above this size "
                   "(1M vectors take minutes to build on two cores)")
    p.add_argument("--recall-target", type=float, default=0.97,
                   help="approximate indexes are tuned to this recall@10 on 200 held-out queries (0.97: a margin "
                   "for sampling error over 0.95 on new queries)")
    p.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    add_runtime_flag(p)
    p.set_defaults(func=cmd_bench)


@command("bench-app")
def _add_bench_app(sub) -> None:
    """The `bench-app` command and its flags."""
    p = sub.add_parser("bench-app", help="time the app over HTTP: start-up, first search per encoder, concurrent clients",
                       description="Start app.py with an empty cache (as on a new machine), time the first and second "
                       "/search with every bundled encoder, then --clients gradio_client sessions calling /search for "
                       "--seconds over --encoders. Loopback only.")
    p.add_argument("--checkpoints", default="checkpoints")
    p.add_argument("--gallery", default="gallery")
    p.add_argument("--app", help="the app to start (default: app.py of the working directory, else of the checkout)")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--encoders", help="comma-separated backbones for the load test (default: MobileNetV3-Small, "
                   "MobileNetV3-Large, EfficientNet-Lite0)")
    p.add_argument("--no-first", action="store_true", help="skip the first-search timings")
    p.add_argument("--client", default="http", choices=["http", "gradio_client"],
                   help="load-test clients: asyncio on the REST API (light) or one gradio_client.Client per session")
    p.add_argument("--baseline", action="store_true",
                   help="also run the load test on an app started with LIGHTCLIP_GRADIO_TUNING=0 and report the ratio")
    p.add_argument("--stall", action="store_true",
                   help="also time 5 clients of the default encoder alone and beside another encoder's first use "
                        "(it loads and encodes the gallery), and report their p95 ratio")
    p.add_argument("--out", help="also write the JSON document here (e.g. docs/bench_app.json)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_app)


@command("bench-detectors")
def _add_bench_detectors(sub) -> None:
    """The `bench-detectors` command and its flags."""
    p = sub.add_parser("bench-detectors", help="person detectors on hand-labelled pictures: recall, precision, speed",
                       description="Run every registered person detector on the hand-labelled pictures of "
                       "samples/detection/boxes.json (recall and precision at IoU 0.5), index the whole street clip "
                       "with each (seconds per minute of video) and count the tracks each cuts the real-photo "
                       "check's people into, side by side in one run. The clip and photos: scripts/get-test-video.")
    p.add_argument("--video", required=True, help="OpenCV's vtest.avi (scripts/get-test-video prints its path)")
    p.add_argument("--photos", help="folder of the labelled photos (default: the video's folder, where "
                   "scripts/get-test-video puts them)")
    p.add_argument("--boxes", default="samples/detection/boxes.json")
    p.add_argument("--people", default=REAL_CHECK + "/crops.json",
                   help="the people followed through the clip by hand, for tracks per person")
    p.add_argument("--detectors", nargs="+", help="default: every registered detector")
    p.add_argument("--checkpoint", help="the embeddings that link tracks (default: the bundled EfficientNet-Lite0)")
    p.add_argument("--out", help="also write the JSON here (e.g. docs/bench_detectors.json)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_detectors)


@command("bench-footage")
def _add_bench_footage(sub) -> None:
    """The `bench-footage` command and its flags."""
    p = sub.add_parser("bench-footage", help="index a street video: speed vs real time, tracks, first search",
                       description="Index a video as `footage` does (its default detector, 2 sampled frames per second), report "
                       "seconds of video per second of indexing, tracks and a contact sheet of them, and the first "
                       "search over the footage against the first search over the bundled gallery, in one run. A real "
                       "clip: OpenCV's vtest.avi from Debian's opencv-doc package (see the README).")
    p.add_argument("--video", required=True)
    p.add_argument("--checkpoint", help="default: the bundled EfficientNet-Lite0")
    p.add_argument("--gallery", default="gallery", help="the gallery to compare the first search with")
    p.add_argument("--fps", type=float, default=2.0)
    p.add_argument("--sheet", help="write a JPEG contact sheet of the tracks here")
    p.add_argument("--keep", help="write the footage gallery here (default: a temporary folder)")
    p.add_argument("--archive", type=int, default=0, metavar="CLIPS",
                   help="instead: cut CLIPS clips from the video and index them as an archive in one process and on "
                   "local Ray workers (fresh processes, side by side), compare the galleries, kill a run after its "
                   "first video and resume it (needs requirements-scale.txt)")
    p.add_argument("--archive-seconds", type=float, default=20.0, help="seconds per archive clip (default 20)")
    p.add_argument("--workers", type=int, default=2, help="Ray workers for --archive (default 2)")
    p.add_argument("--busy", type=int, default=0, help="also index with this many CPU-bound processes running "
                   "beside it, with and without the one-PyTorch-thread policy (default 0: skip)")
    p.add_argument("--out", help="write the JSON here (e.g. docs/bench_footage.json)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_footage)
