"""`eval` (retrieval, binding, the real-photo check) and `profile` (cost)."""

from __future__ import annotations

import argparse
import json

import torch

from ..binding import BindingSet, binding_report
from ..checkpoints import load_checkpoint
from ..data import load_dataset
from ..errors import LightCLIPError
from ..evaluate import evaluate
from ..profiling import profile
from ..realcheck import crops_reid, read_crops
from ..retrieval import GALLERY_VIEW_CHOICES, GALLERY_VIEWS, encode_images
from ..train_config import image_size_arg
from ..train_parts import resolve_device
from .common import command


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint on a dataset split; --json prints one object."""

    device = resolve_device(args.device)
    model = load_checkpoint(args.checkpoint, device=device)
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset, args.root)
    if args.binding and args.dataset != "synthpedes":
        raise LightCLIPError("eval --binding needs SynthPedes (--dataset synthpedes): it writes descriptions from "
                             "each picture's known attributes.")

    crops = read_crops(args.root) if args.dataset == "rstpreid" and args.split == "test" else None
    gallery = dataset.eval_split(args.split).gallery
    features = encode_images(model, gallery, args.batch_size, args.workers, progress=not args.json,
                             views=args.gallery_views)
    result = evaluate(model, dataset, args.split, args.batch_size, args.workers, progress=not args.json,
                      image_features=features)
    result.update(checkpoint=str(args.checkpoint), backbone=model.config.backbone, dataset=args.dataset, split=args.split,
                  gallery_views=args.gallery_views)
    if crops is not None:  # a real check (lightclip_core.realcheck): image -> image re-identification too
        reid = crops_reid(args.root, gallery, features, crops)
        result["reid"] = {k.removeprefix("real_reid_"): v for k, v in reid.items()}
    if args.binding:
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


@command("eval")
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
    p.add_argument("--gallery-views", default=GALLERY_VIEWS, choices=GALLERY_VIEW_CHOICES,
                   help="embed each gallery picture with its mirror image (image+mirror, as the app and bench do; "
                   "default) or alone (image)")
    p.set_defaults(func=cmd_eval)


@command("profile")
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
