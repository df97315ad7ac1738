"""What the commands share: number checks, the bundled folders, common flags, and the registry every
command joins (`command`) with the ranges of its numeric flags beside it (`flag_ranges`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Callable

from ..fileio import log
from ..registry import Registry
from ..stores import DEFAULT_COLLECTION, STORES, FootageFilter, parse_time
from ..train_config import image_size_arg

COMMANDS: Registry[Callable[[Any], None]] = Registry("command", plural="commands")
"""`add(subparsers)` per command name: it adds the command, its flags and its `func`."""

RANGES: dict[str, Callable[[str], Any]] = {}
"""What each numeric flag accepts, by its dest: `check_numbers` (cli.py) puts these on the parser, so a
value out of range stops in one sentence before any work. A numeric flag without one fails a test."""


def command(name: str) -> Callable:
    """Decorator: the decorated `add(subparsers)` adds the command `name` (registered in `COMMANDS`)."""
    return COMMANDS.register(name)


def flag_ranges(**ranges: Callable[[str], Any]) -> None:
    """Declare numeric flags' ranges beside the commands that take them (one range per flag name)."""
    for dest, check in ranges.items():
        if dest in RANGES:
            raise ValueError(f"the flag {dest!r} has its range declared twice")
        RANGES[dest] = check


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


# Flags several groups of commands take.
flag_ranges(
    batch_size=whole(1),
    fps=number(above=0),
    recall_target=number(above=0, maximum=1),
    repeats=whole(1),
    seed=whole(0),
    threads=whole(0),
    workers=whole(0),
)

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
    p.add_argument("--store", choices=STORES.names(), default="faiss",
                   help="faiss: in this process (default); milvus: a Milvus collection through pymilvus "
                   "(pip install -r requirements-scale.txt); any other registered store by its name")
    p.add_argument("--uri", help="a persistent store's address, for milvus a file path (local milvus-lite) or "
                   "http://host:19530 (a server)")
    p.add_argument("--collection", default=DEFAULT_COLLECTION, help="a persistent store's collection name")

def persistent_store(args: argparse.Namespace) -> bool:
    """Whether `--store` names a store written by `index --uri` and opened again by `search --uri`."""

    return STORES.get(args.store).persistent

def add_runtime_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=["auto", "torch", "onnx"],
                   help="how queries are encoded on the CPU (default: $LIGHTCLIP_RUNTIME or auto = ONNX Runtime when installed)")

def add_gallery_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gallery", default="gallery", help="dataset directory or plain image folder")

def report_skipped(gallery, shown: int = 20) -> None:
    """Say on stderr which files of a folder gallery were left out and why (by their names in it)."""

    for name, why in gallery.skipped[:shown]:
        log(f"skipped {name}: {why}")
    if len(gallery.skipped) > shown:
        log(f"... and {len(gallery.skipped) - shown} more files skipped")

def footage_filter(args: argparse.Namespace):
    """`--camera`, `--from`, `--to` as a `stores.FootageFilter` (None when none is given)."""

    flt = FootageFilter(tuple(args.camera or ()), None if args.start is None else parse_time(args.start, "--from"),
                        None if args.end is None else parse_time(args.end, "--to"))
    return flt or None
