"""``python -m lightclip_core <command>``: the only module that parses argv. The commands live in
``commands/`` (one module per group, each registering its own); this module builds the parser from
their registry and runs the chosen one.

Results go to stdout (``--json`` prints one JSON object); logs and errors go to stderr. A
`LightCLIPError` ends the command with its one-sentence message and exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .commands import COMMANDS, RANGES
from .errors import LightCLIPError
from .runtime import resolve_runtime
from .train_config import image_size_arg  # noqa: F401 - the --image-size parser, tested through the command line


def check_numbers(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give every int/float flag of every command its range from `commands.RANGES` (KeyError: one is missing)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                check_numbers(sub)
        elif action.type in (int, float):
            action.type = RANGES[action.dest]
    return parser


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (the usage of a command like train fills a screen)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m lightclip_core",
        description="LightCLIP: text-based person search with lightweight vision encoders inside CLIP.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name in COMMANDS:
        COMMANDS.get(name)(sub)
    return check_numbers(parser)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if getattr(args, "runtime", None):
            resolve_runtime(args.runtime)  # an unknown or unavailable runtime: one sentence, before any work
        return func(args)
    except LightCLIPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
