"""The checkpoint catalogue: `backbones` (the encoders by name) and `hub` (push or pull a checkpoint)."""

from __future__ import annotations

import argparse
import json

import torch

from ..checkpoint_hub import pull_checkpoint, push_checkpoints, remote_backbones
from ..checkpoints import bundled_checkpoints
from ..errors import LightCLIPError
from ..models.backbones import create_backbone, get_backbone_spec, list_backbones
from ..profiling import gflops, params_m
from ..train_config import image_size_arg
from .common import command


def cmd_backbones(args: argparse.Namespace) -> int:
    """Print the backbone table: key, display name, params, GFLOPs, feature width."""

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


def cmd_hub(args: argparse.Namespace) -> int:
    """Publish checkpoints to a Hugging Face model repo, list what it holds, or fetch from it."""

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


@command("backbones")
def _add_backbones(sub) -> None:
    """The `backbones` command and its flags."""
    p = sub.add_parser("backbones", help="list the vision backbones with their size and cost")
    p.add_argument("names", nargs="*", help="backbone keys (default: all registered); timm:<name> works")
    p.add_argument("--image-size", type=image_size_arg, default=None, help="HxW (default: each backbone's own)")
    p.add_argument("--no-flops", action="store_true", help="skip building models (no params/GFLOPs)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_backbones)


@command("hub")
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
