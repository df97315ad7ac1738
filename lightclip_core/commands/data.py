"""`synth`: write SynthPedes, the synthetic training set."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import LightCLIPError
from ..synthpedes.renderers import RENDERERS
from ..synthpedes.writer import SPLITS, SynthConfig, contact_sheet, generate
from .common import command, flag_ranges, picture_size_arg, whole

# The numeric flags of these commands and what each accepts (checked before any work).
flag_ranges(
    counterfactuals=whole(0),
    extra_train_ids=whole(0),
    ids=whole(1),
    images_per_id=whole(1),
    jpeg_quality=whole(1, 100),
    sheet_ids=whole(1),
    test_ids=whole(0),
    val_ids=whole(0),
)


def cmd_synth(args: argparse.Namespace) -> int:
    """Generate SynthPedes (and/or draw a contact sheet)."""

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


@command("synth")
def _add_synth(sub) -> None:
    """The `synth` command and its flags."""

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
