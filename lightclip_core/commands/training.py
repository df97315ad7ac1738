"""Training and what makes a checkpoint: `train`, `teacher-store`, `export`, `wise`."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

import torch

from ..checkpoints import MODEL_FILE, export_checkpoint, load_checkpoint
from ..data import load_dataset
from ..distill import build_teacher_store
from ..errors import LightCLIPError
from ..fileio import check_writable_dir, read_json_or_none
from ..models.text_encoders import TEXT_ENCODERS, create_text_encoder
from ..outputs import OutputKind, check_output_dir, check_output_file
from ..run_state import read_run_config
from ..runtime import onnxruntime_available
from ..train import fit, refuse_real_check
from ..train_config import (
    AUGMENTATIONS,
    DEFAULT_KD,
    LossConfig,
    TrainConfig,
    add_options,
    given_options,
    preset,
)
from ..train_parts import resolve_device
from ..weight_ensemble import wise_checkpoint
from .common import command, flag_ranges, number, whole

# The numeric flags of these commands and what each accepts (checked before any work).
flag_ranges(
    alpha=number(minimum=0, maximum=1),
    attr=number(minimum=0),
    epochs=whole(1),
    eval_batch_size=whole(1),
    id=number(minimum=0),
    itc=number(minimum=0),
    kd_cos=number(minimum=0),
    kd_kl=number(minimum=0),
    lr=number(above=0),
    max_steps_per_epoch=whole(0),
    neg=number(minimum=0),
    num_workers=whole(0),
    samples_per_epoch=whole(0),
    sdm=number(minimum=0),
    stripes=whole(0),
    teacher_views=whole(0),
    temperature=number(above=0),
    trunk_lr_scale=number(above=0),
    views=whole(0),
    warmup_epochs=number(minimum=0),
    weight_decay=number(minimum=0),
)


def cmd_train(args: argparse.Namespace) -> int:
    """Train a backbone against a frozen text encoder; writes RUN_DIR/best and RUN_DIR/last."""

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


def cmd_teacher_store(args: argparse.Namespace) -> int:
    """Encode a training split with one or more teachers in every view, once, into the store
    that `train --teacher` reads (same key: teachers, data, views, augmentation, seed)."""

    if args.augment:
        aug = AUGMENTATIONS[args.augment]
    else:
        aug = preset(args.preset).get("augment", AUGMENTATIONS["standard"]) if args.preset else AUGMENTATIONS["standard"]
    if args.threads:
        torch.set_num_threads(args.threads)
    refuse_real_check(args.root)
    dataset = load_dataset(args.dataset, args.root)
    samples = dataset.split(args.split)

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


def cmd_export(args: argparse.Namespace) -> int:
    """Copy a checkpoint with fp16 (or fp32) weights, e.g. RUN_DIR/best -> checkpoints/<backbone>."""

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

    dst = wise_checkpoint(args.checkpoint, Path(args.out), args.alpha, args.toward)
    print(json.dumps({"checkpoint": str(dst), "alpha": args.alpha, "toward": args.toward}))
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    """A checkpoint's image side, or a text encoder, as one fp32 ONNX file (+ a JSON sidecar with its
    SHA-256 and the parity check against PyTorch). The app and `search` build these on demand in the
    cache; this writes one where you want it (to serve it elsewhere, or to inspect it)."""

    if not onnxruntime_available():
        raise LightCLIPError("--format onnx needs onnxruntime (to check the export): pip install onnx onnxruntime.")
    out = Path(args.out)
    folder_given = out.suffix != ".onnx"
    if folder_given:
        out = out / ("text.onnx" if args.text_encoder else "image.onnx")
    _check_onnx_out(out, folder_given, [args.checkpoint])
    if args.text_encoder:
        fn = create_text_encoder(args.text_encoder).onnx_function()
    elif args.checkpoint:
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


@command("train")
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


@command("teacher-store")
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


@command("export")
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


@command("wise")
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
