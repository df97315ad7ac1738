"""``python -m lightclip_core <command>``: the only module that parses argv.

Results go to stdout (``--json`` prints one JSON object); logs and errors go to stderr. A
`LightCLIPError` ends the command with its one-sentence message and exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import LightCLIPError
from .train_config import AUGMENTATIONS, DEFAULT_KD, LossConfig, TrainConfig, add_options, given_options, image_size_arg


def whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [minimum, maximum]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            span = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be a whole number {span} (got {text!r})")
        return value
    return parse


def number(minimum: float | None = None, above: float | None = None, maximum: float | None = None) -> Callable[[str], float]:
    """An argparse type: a finite number, at least `minimum` or strictly above `above`, at most `maximum`."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (minimum is None or value >= minimum) and (above is None or value > above) \
            and (maximum is None or value <= maximum)
        if not ok:
            span = " and ".join(s for s in (f"at least {minimum:g}" if minimum is not None else "",
                                            f"above {above:g}" if above is not None else "",
                                            f"at most {maximum:g}" if maximum is not None else "") if s)
            raise argparse.ArgumentTypeError(f"must be a finite number{' ' + span if span else ''} (got {text!r})")
        return value
    return parse


def picture_size_arg(text: str) -> tuple[int, int]:
    """``HxW`` for generated pictures: at most 1024 pixels a side (a 20000x20000 picture fills memory)."""
    h, w = image_size_arg(text)
    if max(h, w) > 1024:
        raise argparse.ArgumentTypeError(f"at most 1024 pixels a side (got {text!r})")
    return h, w


# What every numeric flag accepts, by its dest; `check_numbers` puts these on the parser so a value out
# of range stops in one sentence before any work. A new numeric flag must be listed (a test checks).
NUMERIC_FLAGS: dict[str, Callable[[str], Any]] = {
    **{d: whole(1) for d in ("batch_size", "eval_batch_size", "epochs", "repeats", "k", "crops_per_track",
                             "min_detections", "max_crops", "clients", "ids", "images_per_id", "sheet_ids",
                             "min_height", "scale_queries", "max_images", "tiles")},
    **{d: whole(0) for d in ("workers", "num_workers", "threads", "views", "samples_per_epoch", "max_steps_per_epoch", "stripes",
                             "teacher_views", "extra_train_ids", "counterfactuals", "val_ids", "test_ids",
                             "hnsw_max", "busy", "torch_threads", "archive")},
    "seed": whole(0), "jpeg_quality": whole(1, 100),
    **{d: number(above=0) for d in ("lr", "trunk_lr_scale", "temperature", "fps", "seconds", "max_seconds", "segment_seconds",
                                    "archive_seconds")},
    **{d: number(minimum=0) for d in ("weight_decay", "warmup_epochs", "neg", "attr", "itc", "sdm", "id", "kd_kl",
                                      "kd_cos", "max_gap")},
    "score_threshold": number(), "nms_iou": number(minimum=0, maximum=1), "alpha": number(minimum=0, maximum=1),
    "recall_target": number(above=0, maximum=1),
}


REAL_CHECK = "realcheck/street"  # the repository's real-photo check (lightclip_core.realcheck)


def bundled_dir(name: str) -> Path:
    """Where a command looks for the bundled ``checkpoints/`` or ``gallery/`` when no flag names one:
    the working directory's, else those of the checkout this package runs from. The one place the
    program resolves them; the library takes them as arguments."""
    here = Path(name)
    if here.exists():
        return here
    checkout = Path(__file__).resolve().parent.parent / name
    return checkout if checkout.exists() else here


def add_store_flags(p: argparse.ArgumentParser) -> None:
    from .stores import DEFAULT_COLLECTION, STORES

    p.add_argument("--store", choices=STORES.names(), default="faiss",
                   help="faiss: in this process (default); milvus: a Milvus collection through pymilvus "
                   "(pip install -r requirements-scale.txt); any other registered store by its name")
    p.add_argument("--uri", help="a persistent store's address, for milvus a file path (local milvus-lite) or "
                   "http://host:19530 (a server)")
    p.add_argument("--collection", default=DEFAULT_COLLECTION, help="a persistent store's collection name")


def persistent_store(args: argparse.Namespace) -> bool:
    """Whether `--store` names a store written by `index --uri` and opened again by `search --uri`."""
    from .stores import STORES

    return STORES.get(args.store).persistent


def add_runtime_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=["auto", "torch", "onnx"],
                   help="how queries are encoded on the CPU (default: $LIGHTCLIP_RUNTIME or auto = ONNX Runtime when installed)")


def add_gallery_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gallery", default="gallery", help="dataset directory or plain image folder")


def check_numbers(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give every int/float flag of every command its range from NUMERIC_FLAGS (KeyError: one is missing)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                check_numbers(sub)
        elif action.type in (int, float):
            action.type = NUMERIC_FLAGS[action.dest]
    return parser


def cmd_backbones(args: argparse.Namespace) -> int:
    """Print the backbone table: key, display name, params, GFLOPs, feature width."""
    import torch

    from .models.backbones import create_backbone, get_backbone_spec, list_backbones
    from .profiling import gflops, params_m

    keys = args.names or list_backbones()
    rows = []
    for key in keys:
        spec = get_backbone_spec(key)
        row = {
            "backbone": spec.key,
            "display_name": spec.display_name,
            "timm_name": spec.timm_name,
            "feature_dim": spec.feature_dim,
            "min_size": spec.min_size,
            "fixed_size": spec.fixed_size,
        }
        if not args.no_flops:
            trunk = create_backbone(key, image_size=args.image_size)
            h, w = trunk.image_size
            row.update(
                feature_dim=trunk.num_features,
                image_size=[h, w],
                params_m=round(params_m(trunk), 3),
                gflops=round(gflops(trunk, torch.zeros(1, 3, h, w)), 3),
            )
        rows.append(row)

    if args.json:
        print(json.dumps({"flops_note": "FLOPs = 2 x MACs (torch FlopCounterMode)", "backbones": rows}))
        return 0
    header = ["key", "display name", "params (M)", "GFLOPs", "input HxW", "feature width"]
    table = [header]
    for r in rows:
        size = "x".join(map(str, r["image_size"])) if "image_size" in r else "-"
        table.append(
            [
                r["backbone"],
                r["display_name"],
                f"{r['params_m']:.2f}" if "params_m" in r else "-",
                f"{r['gflops']:.2f}" if "gflops" in r else "-",
                size,
                str(r["feature_dim"] or "?"),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if not args.no_flops:
        print("\nVision trunk only, random init, batch 1; FLOPs = 2 x MACs (torch FlopCounterMode).")
    print("Any other timm model works as timm:<name>.")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """Generate SynthPedes (and/or draw a contact sheet)."""

    from .synthpedes.writer import SPLITS, SynthConfig, contact_sheet, generate

    if not args.out and not args.contact_sheet:
        raise LightCLIPError("synth needs --out DIR (the dataset) and/or --contact-sheet PNG.")
    cfg = SynthConfig(
        ids=args.ids,
        images_per_id=args.images_per_id,
        size=args.size,
        # Split sizes not given keep the defaults' proportions (250 and 500 of 2,000), so `--ids 60`
        # works; the defaults themselves, and explicit values, are unchanged.
        val_ids=args.val_ids if args.val_ids is not None else args.ids * SynthConfig.val_ids // SynthConfig.ids,
        test_ids=args.test_ids if args.test_ids is not None else args.ids * SynthConfig.test_ids // SynthConfig.ids,
        seed=args.seed,
        jpeg_quality=args.jpeg_quality,
        extra_train_ids=args.extra_train_ids,
        phrasings=args.phrasings,
        counterfactuals=args.counterfactuals,
        renderer=args.renderer,
    )
    cfg.check()
    summary: dict = {}
    if args.out:
        splits = tuple(s.strip() for s in args.splits.split(",") if s.strip()) if args.splits else SPLITS
        workers = args.workers or (os.cpu_count() or 1)
        summary = generate(args.out, cfg, splits=splits, workers=workers, overwrite=args.overwrite, progress=not args.json)
        summary["workers"] = workers
        print(
            f"SynthPedes (synthetic): {summary['images']} images of "
            + ", ".join(f"{n} {s}" for s, n in summary["ids"].items())
            + f" identities -> {summary['out']} in {summary['seconds']:.1f} s "
            f"({summary['images_per_s']:.0f} images/s on {workers} worker(s))",
            file=sys.stderr,
        )
    if args.contact_sheet:
        summary["contact_sheet"] = str(contact_sheet(args.contact_sheet, cfg, n_ids=args.sheet_ids))
        print(f"contact sheet -> {summary['contact_sheet']}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a backbone against a frozen text encoder; writes RUN_DIR/best and RUN_DIR/last."""
    from dataclasses import replace

    from .train import fit, read_run_config
    from .train_config import preset

    cfg = TrainConfig()
    if args.resume and args.out and (Path(args.out) / "train_config.json").is_file():
        cfg = read_run_config(Path(args.out))  # --resume: the run's own settings, unless a flag is given
    if args.preset:
        cfg = replace(cfg, **preset(args.preset, args.backbone or cfg.backbone))
    cfg = replace(cfg, **given_options(args, TrainConfig))
    if args.teacher:
        cfg = replace(cfg, teachers=list(args.teacher), losses=LossConfig(**{**cfg.losses.to_dict(), **DEFAULT_KD}))
    losses = given_options(args, LossConfig)
    if losses:
        cfg = replace(cfg, losses=LossConfig(**{**cfg.losses.to_dict(), **losses}))
    if args.augment:
        cfg = replace(cfg, augment=AUGMENTATIONS[args.augment])
    if args.fixed_temperature:
        cfg = replace(cfg, learn_temperature=False)
    cfg = replace(cfg, pretrained=args.pretrained or cfg.pretrained, deterministic=args.deterministic or cfg.deterministic,
                  progress=not args.no_progress)
    run_dir = fit(cfg, resume=args.resume)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one summary (rank 0's)
        print(json.dumps({"run_dir": str(run_dir), "best": str(run_dir / "best"), "last": str(run_dir / "last")}))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint on a dataset split; --json prints one object."""
    import torch

    from .checkpoints import load_checkpoint
    from .data import load_dataset
    from .evaluate import evaluate
    from .train import resolve_device

    device = resolve_device(args.device)
    model = load_checkpoint(args.checkpoint, device=device)
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset, args.root)
    if args.binding and args.dataset != "synthpedes":
        raise LightCLIPError("eval --binding needs SynthPedes (--dataset synthpedes): it writes descriptions from "
                             "each picture's known attributes.")
    from .realcheck import read_crops

    crops = read_crops(args.root) if args.dataset == "rstpreid" and args.split == "test" else None
    features = None
    gallery = dataset.eval_split(args.split).gallery
    if args.binding or crops is not None:
        from .retrieval import encode_images

        features = encode_images(model, gallery, args.batch_size, args.workers)
    result = evaluate(model, dataset, args.split, args.batch_size, args.workers, progress=not args.json,
                      image_features=features)
    result.update(checkpoint=str(args.checkpoint), backbone=model.config.backbone, dataset=args.dataset, split=args.split)
    if crops is not None:  # a real check (lightclip_core.realcheck): image -> image re-identification too
        from .realcheck import crops_reid

        reid = crops_reid(args.root, gallery, features, crops)
        result["reid"] = {k.removeprefix("real_reid_"): v for k, v in reid.items()}
    if args.binding:
        from .binding import BindingSet, binding_report

        result["binding"] = binding_report(model, BindingSet.build(args.root, args.split), features)
    if args.json:
        print(json.dumps(result))
    else:
        if args.binding:
            b = result["binding"]
            print(f"binding (chance 50%): colours swapped {b['swap']:.1f}%  one attribute changed {b['single']:.1f}%  "
                  f"(unseen phrasings, swapped: {b['unseen_swap']:.1f}%)  composed precision@5 {b['composed_p5']:.1f}%")
        print(
            f"{model.config.backbone} on {args.dataset}/{args.split}: R@1 {result['r1']:.2f}  R@5 {result['r5']:.2f}  "
            f"R@10 {result['r10']:.2f}  mAP {result['map']:.2f}  mINP {result['minp']:.2f}  val loss {result['val_loss']:.4f}  "
            f"({result['n_queries']} queries, {result['n_gallery']} images, {result['seconds']:.1f} s)"
        )
        if result.get("reid"):
            r = result["reid"]
            print(f"image -> image re-identification: mAP {r['map']:.2f}  R@1 {r['r1']:.2f}  ({r['queries']} query crops)")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    """Params, GFLOPs, latency, throughput and peak memory of one model."""
    import torch

    from .profiling import profile

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.backbone and not args.checkpoint:
        raise LightCLIPError("profile needs --backbone or --checkpoint.")
    report = profile(args.backbone, args.checkpoint, args.text_encoder, args.image_size, args.device,
                     repeats=args.repeats, memory=not args.no_memory)
    d = report.to_dict()
    if args.json:
        print(json.dumps(d))
        return 0
    mem = "n/a" if d["peak_mem_mb"] is None else f"{d['peak_mem_mb']:.0f} MB"
    print(
        f"{d['display_name']} ({d['backbone']}) at {d['image_size'][0]}x{d['image_size'][1]} on {d['device']}, "
        f"{d['threads']} threads\n"
        f"  params (M): trunk {d['params_m_trunk']:.2f}  head {d['params_m_head']:.2f}  image side {d['params_m']:.2f}  "
        f"text encoder {d['params_m_text']:.2f}  total {d['params_m_total']:.2f}\n"
        f"  GFLOPs ({d['flops_note']}): image {d['gflops']:.3f}  one query {d['gflops_text']:.3f}\n"
        f"  latency (ms, median / p90): query {d['latency_ms']:.1f} / {d['latency_ms_p90']:.1f} "
        f"(text {d['latency_ms_text']:.1f}, top-10 search of {d['gallery_size']} {d['latency_ms_search']:.2f})  "
        f"5 queries batched {d['latency_ms_batch5']:.1f}  one image {d['latency_ms_image']:.1f} / {d['latency_ms_image_p90']:.1f}\n"
        f"  throughput: {d['images_per_s']:.1f} images/s at batch 32;  peak memory of inference: {mem}"
    )
    return 0


def cmd_bench_app(args: argparse.Namespace) -> int:
    """Time the app over HTTP: start-up, first /search per bundled encoder, N concurrent clients."""
    from .bench.app import run_app_bench
    from .fileio import atomic_write_json

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
    from .bench.detectors import detector_table, run_detector_bench
    from .fileio import atomic_write_json
    from .footage import DETECTORS
    from .models.backbones import DEFAULT_BACKBONE
    from .checkpoints import bundled_checkpoints

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
    from .fileio import atomic_write_json
    from .bench.footage import run_footage_bench
    from .models.backbones import DEFAULT_BACKBONE
    from .checkpoints import bundled_checkpoints

    ckpt = args.checkpoint or bundled_checkpoints(bundled_dir("checkpoints")).get(DEFAULT_BACKBONE)
    if ckpt is None:
        raise LightCLIPError("No bundled EfficientNet-Lite0 checkpoint; pass --checkpoint DIR.")
    if args.archive:
        from .bench.footage import archive_comparison

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


def update_pages(readme: str | Path, table: str, training: str) -> None:
    """Write the results table into the README and both tables into docs/BENCHMARKS.md beside it."""
    from .bench import tables

    tables.update_readme(readme, table, training)
    page = Path(readme).parent / "docs" / "BENCHMARKS.md"
    if page.is_file():
        tables.update_readme(page, table, training)


def cmd_bench(args: argparse.Namespace) -> int:
    """Evaluate + profile every checkpoint; write benchmarks.json; print the table (and ratios)."""
    import torch

    from . import benchmarks
    from .bench import records, scale, tables

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.scale and persistent_store(args):
        from .bench.store import run_store_bench, store_table

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
        from .fileio import log

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


def report_skipped(gallery, shown: int = 20) -> None:
    """Say on stderr which files of a folder gallery were left out and why (by their names in it)."""
    from .fileio import log

    for name, why in gallery.skipped[:shown]:
        log(f"skipped {name}: {why}")
    if len(gallery.skipped) > shown:
        log(f"... and {len(gallery.skipped) - shown} more files skipped")


def cmd_index(args: argparse.Namespace) -> int:
    """Encode a gallery with a checkpoint and save its FAISS index (+ the embedding cache), or write
    the embeddings with their footage metadata into a Milvus store."""
    from .fileio import check_writable_dir
    from .index import GalleryIndex
    from .search import SearchEngine
    from .gallery import Gallery

    if persistent_store(args):
        return _index_store(args)
    if not args.out:
        raise LightCLIPError("index needs --out PATH for the FAISS index (or --store milvus --uri ...).")
    GalleryIndex.check_out(args.out, [args.gallery, args.checkpoint])
    check_writable_dir(Path(args.out).parent, "--out")  # before encoding the gallery
    gallery = Gallery.load(args.gallery, max_images=args.max_images)
    report_skipped(gallery)
    engine = SearchEngine.from_checkpoint(args.checkpoint, gallery, index_kind=args.kind, recall_target=args.recall_target,
                                          runtime=args.runtime)
    engine.index.key = f"{args.checkpoint}|{gallery.fingerprint()}"
    path = engine.index.save(args.out)
    print(json.dumps({"index": str(path), "images": len(gallery), "kind": engine.index.kind, "tuned": engine.index.tuned,
                      "skipped": len(gallery.skipped)}))
    return 0


def _index_store(args: argparse.Namespace) -> int:
    """`index --store NAME` (a persistent store, e.g. milvus): the gallery's embeddings (encoded or
    cached) and metadata into it."""
    from .search import SearchEngine
    from .gallery import Gallery
    from .gallery_embeddings import store_key
    from .stores import STORES, RowMeta

    uri = args.uri or args.out
    if not uri:
        raise LightCLIPError(f"--store {args.store} needs --uri: for milvus a file path (a local milvus-lite store, "
                             "e.g. gallery.db) or a server's http://host:19530.")
    store = STORES.get(args.store).open(uri, args.collection)  # an unreachable one is one sentence before encoding
    gallery = Gallery.load(args.gallery, max_images=args.max_images)
    report_skipped(gallery)
    engine = SearchEngine.from_checkpoint(args.checkpoint, gallery, index_kind="flat", runtime=args.runtime)
    meta = RowMeta.of(gallery) if gallery.footage is not None else None
    rows = store.write(engine.embeddings, meta, store_key(args.checkpoint, gallery))
    print(json.dumps({"store": args.store, "uri": str(uri), "collection": args.collection, "images": rows,
                      "footage": gallery.footage is not None, "skipped": len(gallery.skipped)}))
    return 0


def footage_filter(args: argparse.Namespace):
    """`--camera`, `--from`, `--to` as a `stores.FootageFilter` (None when none is given)."""
    from .stores import FootageFilter, parse_time

    flt = FootageFilter(tuple(args.camera or ()), None if args.start is None else parse_time(args.start, "--from"),
                        None if args.end is None else parse_time(args.end, "--to"))
    return flt or None


def cmd_ship_embeddings(args: argparse.Namespace) -> int:
    """Write each checkpoint's gallery embeddings beside it (fp16), so the app's first search with any
    bundled encoder needs only a text encode; stale ones are rewritten, current ones kept."""
    import time

    from .fileio import log
    from .search import SearchEngine
    from .gallery import Gallery
    from .checkpoints import bundled_checkpoints
    from .gallery_embeddings import shipped_embeddings_current, write_shipped_embeddings

    gallery = Gallery.load(args.gallery)
    found = bundled_checkpoints(args.checkpoints)
    if args.backbones:
        wanted = [b.strip() for b in args.backbones.split(",") if b.strip()]
        missing = [b for b in wanted if b not in found]
        if missing:
            raise LightCLIPError(f"No checkpoint for {', '.join(missing)} under {args.checkpoints}; "
                                 f"there are: {', '.join(found) or 'none'}.")
        found = {b: found[b] for b in wanted}
    if not found:
        raise LightCLIPError(f"No checkpoints under {args.checkpoints} (each is a directory with config.json).")
    out = []
    for key, ckpt in found.items():
        if shipped_embeddings_current(ckpt, gallery):
            out.append({"backbone": key, "status": "current"})
            continue
        t0 = time.perf_counter()
        engine = SearchEngine.from_checkpoint(ckpt, gallery, shipped=False)
        path = write_shipped_embeddings(ckpt, gallery, engine.embeddings)
        out.append({"backbone": key, "status": "written", "path": str(path), "seconds": round(time.perf_counter() - t0, 1)})
        log(f"ship-embeddings: {key}: {len(gallery)} images -> {path}")
    print(json.dumps({"gallery": str(args.gallery), "images": len(gallery), "checkpoints": out}))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Search a gallery with a text query (or several) and print the top-K."""
    from .search import SearchEngine
    from .gallery import Gallery

    gallery = Gallery.load(args.gallery)
    report_skipped(gallery)
    where = footage_filter(args)
    if persistent_store(args):
        from .stores import STORES

        if not args.uri:
            raise LightCLIPError(f"--store {args.store} needs --uri (the file or server `index --store {args.store}` "
                                 "wrote to).")
        store = STORES.get(args.store).open(args.uri, args.collection, read_only=True)
        engine = SearchEngine.on_store(args.checkpoint, gallery, store, runtime=args.runtime)
    else:
        engine = SearchEngine.from_checkpoint(args.checkpoint, gallery, runtime=args.runtime)
    results = engine.search_batch(args.query, args.k, where=where)
    footage = gallery.footage  # a footage gallery: each hit is a track (its best-matching crop)
    if args.json:
        def hit(h):
            return h.__dict__ | ({"footage": footage.crop(h.path), "track": footage.track_of(h.path)} if footage else {})

        print(json.dumps([{"query": r.query, "truncated": r.truncated, "text_ms": r.text_ms, "search_ms": r.search_ms,
                           "query_pid": r.query_pid, "ap": r.ap,
                           "hits": [hit(h) for h in r.hits]} for r in results]))
        return 0
    for r in results:
        print(f"{r.query!r}  ({r.gallery_size} images, text {r.text_ms:.1f} ms, search {r.search_ms:.2f} ms)")
        for h in r.hits:
            where = f"  ({footage.label(h.path)})" if footage else ""
            print(f"  {h.rank:>3}. {h.score:.4f}  id {h.pid:<6} {h.path}{where}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Copy a checkpoint with fp16 (or fp32) weights, e.g. RUN_DIR/best -> checkpoints/<backbone>."""
    import torch

    from .checkpoints import MODEL_FILE, export_checkpoint

    if args.format == "onnx":
        return _export_onnx(args)
    if args.text_encoder:
        raise LightCLIPError("--text-encoder goes with --format onnx (the text encoders are not trained or saved here).")
    if not args.checkpoint:
        raise LightCLIPError("export needs --checkpoint DIR (or --format onnx --text-encoder NAME).")
    dtype = {"fp16": torch.float16, "fp32": torch.float32, "int8": "int8"}[args.dtype]
    dst = export_checkpoint(args.checkpoint, args.out, dtype)
    size = (dst / MODEL_FILE).stat().st_size / 2**20
    print(json.dumps({"checkpoint": str(dst), "dtype": args.dtype, "model_mb": round(size, 2)}))
    return 0


def cmd_wise(args: argparse.Namespace) -> int:
    """Weight-space ensembling: a checkpoint whose trunk is moved back toward its pretrained start."""
    from .weight_ensemble import wise_checkpoint

    dst = wise_checkpoint(args.checkpoint, Path(args.out), args.alpha, args.toward)
    print(json.dumps({"checkpoint": str(dst), "alpha": args.alpha, "toward": args.toward}))
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    """A checkpoint's image side, or a text encoder, as one fp32 ONNX file (+ a JSON sidecar with its
    SHA-256 and the parity check against PyTorch). The app and `search` build these on demand in the
    cache; this writes one where you want it (to serve it elsewhere, or to inspect it)."""
    from .runtime import onnxruntime_available

    if not onnxruntime_available():
        raise LightCLIPError("--format onnx needs onnxruntime (to check the export): pip install onnx onnxruntime.")
    out = Path(args.out)
    folder_given = out.suffix != ".onnx"
    if folder_given:
        out = out / ("text.onnx" if args.text_encoder else "image.onnx")
    _check_onnx_out(out, folder_given, [args.checkpoint])
    if args.text_encoder:
        from .models.text_encoders import create_text_encoder

        fn = create_text_encoder(args.text_encoder).onnx_function()
    elif args.checkpoint:
        from .checkpoints import load_checkpoint

        fn = load_checkpoint(args.checkpoint).image_onnx()
    else:
        raise LightCLIPError("--format onnx needs --checkpoint DIR (the image side) or --text-encoder NAME.")
    fn.directory, fn.key = out.parent, out.stem
    fn.session()  # exports, checks parity, writes the file and its sidecar
    meta = json.loads(out.with_suffix(".json").read_text())
    print(json.dumps({"onnx": str(out), "mb": round(out.stat().st_size / 2**20, 2), "inputs": fn.input_names,
                      "parity_cosine_min": meta["parity_cosine_min"], "opset": meta["opset"]}))
    return 0


def _check_onnx_out(out: Path, folder_given: bool, inputs: list) -> None:
    """`export --format onnx` writes OUT.onnx and its sidecar OUT.json: each new or an export of ours;
    a folder given as --out (image.onnx / text.onnx inside) is new, empty or holds only such exports."""
    from .fileio import check_writable_dir, read_json_or_none
    from .outputs import OutputKind, check_output_dir, check_output_file

    def sidecar(path: Path) -> bool:
        meta = read_json_or_none(path)
        return isinstance(meta, dict) and {"parity_cosine_min", "opset"} <= set(meta)

    def exports(folder: Path) -> set[str] | None:
        ours = {f"{n}.{ext}" for n in ("image", "text") if sidecar(folder / f"{n}.json") for ext in ("onnx", "json")}
        return ours or None

    what = "an ONNX export of this project (with its .json sidecar)"
    if folder_given:
        check_output_dir(out.parent, OutputKind("a folder of ONNX exports", exports), "--out", inputs)
    ours = check_output_file(out.with_suffix(".json"), sidecar, what, "--out", inputs)
    check_output_file(out, lambda _: ours, what, "--out", inputs)
    check_writable_dir(out.parent, "--out")


def cmd_footage(args: argparse.Namespace) -> int:
    """Detect, track and crop the people in a video or street photos into a searchable gallery folder."""
    from .checkpoints import load_checkpoint
    from .footage import FootageLimits, TrackerOptions, build_footage_gallery, make_detector, sources_from
    from .models.backbones import DEFAULT_BACKBONE
    from .checkpoints import bundled_checkpoints

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
    from .archive import ARCHIVE_LIMITS, archive_sources, build_archive_gallery

    if args.video or args.photos or args.crops:
        raise LightCLIPError("--videos indexes an archive on its own; give single videos with --videos too.")
    limits = ARCHIVE_LIMITS
    if args.max_seconds or args.max_crops:
        from dataclasses import replace

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
    from tqdm import tqdm

    bar = tqdm(total=0, unit="frame", desc="footage", file=sys.stderr, leave=False)

    def progress(stage: str, done: int, total: int) -> None:
        bar.set_description_str(stage[:60], refresh=False)
        if total and bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    return bar, progress


def _footage_done(args: argparse.Namespace, summary) -> int:
    from .fileio import log

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


def cmd_teacher_store(args: argparse.Namespace) -> int:
    """Encode a training split with one or more teachers in every view, once, into the store
    that `train --teacher` reads (same key: teachers, data, views, augmentation, seed)."""
    import torch

    from .data import load_dataset
    from .train_config import AUGMENTATIONS
    from .distill import build_teacher_store
    from .train import refuse_real_check, resolve_device
    from .train_config import preset

    if args.augment:
        aug = AUGMENTATIONS[args.augment]
    else:
        aug = preset(args.preset).get("augment", AUGMENTATIONS["standard"]) if args.preset else AUGMENTATIONS["standard"]
    if args.threads:
        torch.set_num_threads(args.threads)
    refuse_real_check(args.root)
    dataset = load_dataset(args.dataset, args.root)
    samples = dataset.split(args.split)
    from .models.text_encoders import TEXT_ENCODERS

    dim = TEXT_ENCODERS.get(args.text_encoder).dim
    store = build_teacher_store(args.teacher, samples, args.text_encoder, dim, aug, args.views, args.seed,
                                resolve_device(args.device), args.batch_size, args.workers,
                                progress=not args.no_progress)  # the bar is on stderr, JSON on stdout
    summary = {"store": str(store.path), "reused": store.reused, "teachers": store.teachers, "images": len(samples),
               "views": store.views, "shape": list(store.features.shape)}
    print(json.dumps(summary) if args.json else
          f"teacher store {'already there' if store.reused else 'written'}: {store.path} "
          f"({len(samples)} images x {store.views} views x {len(store.teachers)} teacher(s))")
    return 0


def cmd_hub(args: argparse.Namespace) -> int:
    """Publish checkpoints to a Hugging Face model repo, list what it holds, or fetch from it."""
    from .checkpoint_hub import pull_checkpoint, push_checkpoints, remote_backbones
    from .checkpoints import bundled_checkpoints

    if args.action == "push":
        if args.checkpoint:
            paths = args.checkpoint
        else:
            found = bundled_checkpoints(args.dir)
            if args.backbone:
                unknown = [b for b in args.backbone if b not in found]
                if unknown:
                    raise LightCLIPError(f"No checkpoint for {', '.join(unknown)} under {args.dir}/.")
                found = {b: found[b] for b in args.backbone}
            paths = list(found.values())
            if not paths:
                raise LightCLIPError(f"No checkpoints under {args.dir}/ to publish.")
        records = push_checkpoints(args.repo, paths, private=args.private, revision=args.revision)
        for r in records:
            print(f"{r['checkpoint']} -> {r['repo']}/{r['path_in_repo']} ({', '.join(r['files'])})")
        return 0
    if args.action == "list":
        for b in remote_backbones(args.repo, revision=args.revision):
            print(b)
        return 0
    backbones = args.backbone or (remote_backbones(args.repo, revision=args.revision) if args.all else [])
    if not backbones:
        raise LightCLIPError("Name the checkpoints to fetch with --backbone B (repeatable) or pass --all.")
    for b in backbones:
        dest = pull_checkpoint(args.repo, b, args.dir, force=args.force, revision=args.revision)
        print(f"{args.repo}/{b} -> {dest}")
    return 0


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (the usage of a command like train fills a screen)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_backbones(sub) -> None:
    """The `backbones` command and its flags."""
    p = sub.add_parser("backbones", help="list the vision backbones with their size and cost")
    p.add_argument("names", nargs="*", help="backbone keys (default: all registered); timm:<name> works")
    p.add_argument("--image-size", type=image_size_arg, default=None, help="HxW (default: each backbone's own)")
    p.add_argument("--no-flops", action="store_true", help="skip building models (no params/GFLOPs)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_backbones)


def _add_synth(sub) -> None:
    """The `synth` command and its flags."""
    from .synthpedes.renderers import RENDERERS  # numpy and PIL only: the choices come from the registry

    p = sub.add_parser(
        "synth",
        help="generate SynthPedes, the synthetic person-search dataset",
        description="Generate SynthPedes in RSTPReid's format (data_captions.json + imgs/) plus attributes.json. "
        "The same --seed and sizes give byte-identical files. The bundled gallery is "
        "`synth --out gallery --splits test` with the defaults.",
    )
    p.add_argument("--out", help="output directory")
    p.add_argument("--ids", type=int, default=2000, help="identities in all splits (default 2000)")
    p.add_argument("--images-per-id", type=int, default=4, help="pictures per identity (default 4)")
    p.add_argument("--size", type=picture_size_arg, default=(256, 128), help="picture size HxW (default 256x128, at most 1024 a side)")
    p.add_argument("--val-ids", type=int, help="identities in the val split (default: an eighth of --ids, 250 of 2000)")
    p.add_argument("--test-ids", type=int, help="identities in the test split (default: a quarter of --ids, 500 of 2000)")
    p.add_argument("--extra-train-ids", type=int, default=0,
                   help="more training identities from a random stream of their own, with pids after the test "
                   "ids; val, test and the first --ids identities' pictures stay unchanged (default 0)")
    p.add_argument("--phrasings", default="classic", choices=("classic", "varied"),
                   help="caption constructions: classic (4 patterns, the bundled gallery's) or varied (9: lower "
                   "garment first, relative clauses, lists, typed queries, ...)")
    p.add_argument("--counterfactuals", type=int, default=0, metavar="N",
                   help="write up to N near-miss captions per caption (colours swapped, one attribute changed) "
                   "to counterfactuals.json, the hard negatives of train --negatives (default 0)")
    p.add_argument("--renderer", default="draw", choices=RENDERERS.names(),
                   help="how pictures are made: draw (flat figures on procedural scenes, the bundled gallery's) "
                   "or camera (shaded people on photos through a low-resolution surveillance camera); captions "
                   "are the same either way (default draw)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--splits", default="", help="comma list of splits to write (default: train,val,test)")
    p.add_argument("--workers", type=int, default=0, help="processes (default: all cores); output does not depend on it")
    p.add_argument("--jpeg-quality", type=int, default=76)
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    p.add_argument("--contact-sheet", metavar="PNG", help="also draw identities x pictures with captions")
    p.add_argument("--sheet-ids", type=int, default=8, help="identities on the contact sheet (default 8)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=cmd_synth)


def _add_train(sub) -> None:
    """The `train` command: a flag per option field of TrainConfig and LossConfig, plus these."""
    p = sub.add_parser("train", help="train a backbone against a frozen text encoder",
                       description="Train contrastively; writes RUN_DIR/last/ every epoch and RUN_DIR/best/ "
                       "(best val mAP). Unset flags come from --preset, then from the defaults.")
    p.add_argument("--preset", help="named settings, e.g. cpu-synth (see lightclip_core.train_config.PRESETS)")
    add_options(p, TrainConfig)
    add_options(p, LossConfig)
    p.add_argument("--fixed-temperature", action="store_true", help="keep τ fixed instead of learning it")
    p.add_argument("--pretrained", action="store_true", help="start the trunk from ImageNet weights (Hub/cache)")
    p.add_argument("--augment", choices=sorted(AUGMENTATIONS), help="augmentation set (default standard)")
    p.add_argument("--teacher", action="append", metavar="CKPT_DIR",
                   help="distil from this checkpoint (same text encoder; repeat for an ensemble); its image "
                   "embeddings are stored once per training set and reused, so an epoch runs no teacher")
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last/ checkpoint, with the run's own settings (only --epochs, "
                   "--workers and --threads may change)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)


def _add_teacher_store(sub) -> None:
    """The `teacher-store` command and its flags."""
    p = sub.add_parser("teacher-store", help="store teacher image embeddings of a training set once (for train --teacher)",
                       description="Encode every training image in each augmented view with the teacher(s) and "
                       "store the embeddings (safetensors, in LIGHTCLIP_CACHE, keyed by teachers, data and views). "
                       "`train --teacher` with the same teachers, data, seed and augmentation reads them, so a "
                       "student epoch runs no teacher; it also builds the store itself when missing.")
    p.add_argument("--teacher", action="append", required=True, metavar="CKPT_DIR", help="repeat for an ensemble")
    p.add_argument("--dataset", default="synthpedes")
    p.add_argument("--root", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--text-encoder", default="minilm-l6", help="the students' text encoder (must be the teachers')")
    p.add_argument("--preset", help="take the augmentation of this training preset (e.g. cpu-synth)")
    p.add_argument("--augment", choices=["standard", "light", "none"], help="augmentation set (default standard)")
    p.add_argument("--views", type=int, default=0, help="views per image (default: 2 for flip-only, else 8)")
    p.add_argument("--seed", type=int, default=0, help="the students' --seed (views are drawn from it)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=1, help="image-loading processes (default 1: decoding "
                   "in the main process leaves the teacher idle)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar (stderr)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_teacher_store)


def _add_eval(sub) -> None:
    """The `eval` command and its flags."""
    p = sub.add_parser("eval", help="evaluate a checkpoint (R@1/5/10, mAP, mINP, val loss)")
    p.add_argument("--checkpoint", required=True, help="checkpoint directory (RUN_DIR/best)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--binding", action="store_true",
                   help="also the binding benchmark (SynthPedes): how often a picture prefers its true description "
                   "over one with the colours swapped or one attribute changed (chance 50%%), and composed precision@5")
    p.set_defaults(func=cmd_eval)


def _add_export(sub) -> None:
    """The `export` command and its flags."""
    p = sub.add_parser("export", help="copy a checkpoint with fp16/int8 weights (for bundling), or export ONNX")
    p.add_argument("--checkpoint", help="source checkpoint directory (RUN_DIR/best)")
    p.add_argument("--out", required=True, help="destination directory, e.g. checkpoints/<backbone>; "
                   "with --format onnx a .onnx file or a directory")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "fp32", "int8"],
                   help="fp16 (default), fp32, or int8: per-channel int8 weight storage, a quarter of fp32")
    p.add_argument("--format", default="safetensors", choices=["safetensors", "onnx"],
                   help="onnx: the image side (or --text-encoder) as an fp32 ONNX graph, checked against PyTorch")
    p.add_argument("--text-encoder", help="with --format onnx: export this text encoder (e.g. minilm-l6)")
    p.set_defaults(func=cmd_export)


def _add_wise(sub) -> None:
    """The `wise` command (weight-space ensembling, WiSE-FT) and its flags."""
    p = sub.add_parser("wise", help="interpolate a checkpoint's trunk toward its pretrained start (WiSE-FT): "
                       "keeps what pretraining taught about photos")
    p.add_argument("--checkpoint", required=True, help="the fine-tuned checkpoint directory")
    p.add_argument("--alpha", type=float, required=True,
                   help="1 = the fine-tuned trunk, 0 = the start; alpha * fine-tuned + (1 - alpha) * start")
    p.add_argument("--toward", default="pretrained",
                   help="'pretrained' (the trunk's ImageNet weights; EfficientNet-Lite0's ship offline) or another "
                   "checkpoint directory of the same backbone (an earlier fine-tune)")
    p.add_argument("--out", required=True, help="destination checkpoint directory (float32 weights; "
                   "export --dtype int8 to bundle it)")
    p.set_defaults(func=cmd_wise)


def _add_profile(sub) -> None:
    """The `profile` command and its flags."""
    p = sub.add_parser("profile", help="params, GFLOPs, latency, throughput, peak memory of one model")
    p.add_argument("--backbone", help="backbone key (random weights unless --checkpoint)")
    p.add_argument("--checkpoint", help="checkpoint directory")
    p.add_argument("--text-encoder", default="minilm-l6")
    p.add_argument("--image-size", type=image_size_arg, help="HxW (default: the backbone's own)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: all cores)")
    p.add_argument("--repeats", type=int, default=20, help="timed runs per latency (default 20)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_profile)


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
    from .stores import STORES

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


def _add_index(sub) -> None:
    """The `index` command and its flags."""
    p = sub.add_parser("index", help="encode a gallery with a checkpoint and save its FAISS index")
    p.add_argument("--checkpoint", required=True)
    add_gallery_flag(p)
    p.add_argument("--out", help="index path (writes .faiss and .json)")
    add_store_flags(p)
    p.add_argument("--kind", default="auto", choices=["auto", "flat", "pq", "hnsw", "ivf"],
                   help="auto: exact search up to 20,000 images; above, PQ fast-scan + exact re-ranking tuned to "
                   "--recall-target")
    p.add_argument("--recall-target", type=float,
                   help="tune an approximate index to this recall@10 on the gallery's captions (auto: 0.97)")
    p.add_argument("--max-images", type=int)
    add_runtime_flag(p)
    p.set_defaults(func=cmd_index)


def _add_ship_embeddings(sub) -> None:
    """The `ship-embeddings` command and its flags."""
    p = sub.add_parser("ship-embeddings", help="store each checkpoint's gallery embeddings beside it (instant first search)",
                       description="Encode the gallery with every checkpoint under --checkpoints (or --backbones) and "
                       "write gallery_embeddings.safetensors beside each (fp16, keyed by the checkpoint's weights and the "
                       "gallery's content): the app and `search` then skip the gallery encode on a fresh machine. "
                       "Run it after re-bundling a checkpoint; current files are kept.")
    p.add_argument("--checkpoints", default="checkpoints")
    add_gallery_flag(p)
    p.add_argument("--backbones", help="comma-separated backbone keys (default: all)")
    p.set_defaults(func=cmd_ship_embeddings)


def _add_search(sub) -> None:
    """The `search` command and its flags."""
    p = sub.add_parser("search", help="search a gallery with text queries")
    p.add_argument("--checkpoint", required=True)
    add_gallery_flag(p)
    p.add_argument("--query", "-q", action="append", required=True, help="a description (repeat for several)")
    p.add_argument("-k", type=int, default=10)
    add_store_flags(p)
    p.add_argument("--camera", action="append",
                   help="footage galleries: only crops from this source (its file name or stem, e.g. cam3; repeatable)")
    p.add_argument("--from", dest="start", metavar="TIME",
                   help="footage galleries: only crops seen from this time into their video (600, 10:00 or 1:02:03)")
    p.add_argument("--to", dest="end", metavar="TIME", help="... and up to this time")
    p.add_argument("--json", action="store_true")
    add_runtime_flag(p)
    p.set_defaults(func=cmd_search)


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
    from .footage.detectors import DEFAULT_DETECTOR, DETECTORS

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


def _add_hub(sub) -> None:
    """The `hub` command and its flags."""
    p = sub.add_parser("hub", help="publish checkpoints to / fetch them from a Hugging Face model repo")
    p.add_argument("action", choices=["push", "pull", "list"],
                   help="push: upload checkpoints; pull: fetch into --dir; list: backbones the repo holds")
    p.add_argument("--repo", required=True, help="model repository id, owner/name")
    p.add_argument("--backbone", action="append", help="backbone key (repeatable; default for push: all under --dir)")
    p.add_argument("--checkpoint", action="append", help="push: a checkpoint directory (repeatable) instead of --dir")
    p.add_argument("--dir", default="checkpoints", help="where checkpoints live / are fetched to (default checkpoints)")
    p.add_argument("--all", action="store_true", help="pull: every backbone the repo holds")
    p.add_argument("--force", action="store_true", help="pull: replace an existing checkpoint")
    p.add_argument("--private", action="store_true", help="push: create the repo private")
    p.add_argument("--revision", help="branch, tag or commit")
    p.set_defaults(func=cmd_hub)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m lightclip_core",
        description="LightCLIP: text-based person search with lightweight vision encoders inside CLIP.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    for add in (_add_backbones, _add_synth, _add_train, _add_teacher_store, _add_eval, _add_export, _add_wise, _add_profile, _add_bench, _add_bench_app, _add_bench_detectors, _add_bench_footage, _add_index, _add_ship_embeddings, _add_search, _add_footage, _add_hub):
        add(sub)
    return check_numbers(parser)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if getattr(args, "runtime", None):
            from .runtime import resolve_runtime

            resolve_runtime(args.runtime)  # an unknown or unavailable runtime: one sentence, before any work
        return func(args)
    except LightCLIPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
