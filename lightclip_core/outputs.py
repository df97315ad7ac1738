"""Where a command may write: one rule for every writer (`synth`, `index`, `export`, `wise`, `train`,
`footage`).

An output goes to a fresh place, or to a place this project made -- recognised by the writer's own
manifest or format marker (`OutputKind.files`) -- and never over or beside a file the project did
not write: a folder holding anything else is refused before any work, naming what it holds, so a
rerun or ``--overwrite`` can only ever replace what the manifest lists. An output that is, contains
or lies inside one of the command's inputs is refused (it would overwrite, or index, its own
source), and so are the filesystem root, the home folder itself and system folders. Every refusal is
one sentence (a `LightCLIPError`) naming the flag.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .errors import LightCLIPError

# Writing anywhere inside these is refused; writing *into* the folders of SYSTEM_EXACT themselves too.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys",
                "/usr")
SYSTEM_EXACT = ("/", "/home", "/media", "/mnt", "/opt", "/root", "/run", "/srv", "/tmp", "/var", "/var/tmp")
# The same on Windows, from the environment (a drive's root is refused as "/" is); macOS's are POSIX paths
WINDOWS_TREES = ("SystemRoot", "ProgramFiles", "ProgramFiles(x86)", "ProgramData")
WINDOWS_EXACT = ("SystemDrive", "USERPROFILE", "PUBLIC")


def windows_system_folders(environ: dict[str, str]) -> tuple[set[str], set[str]]:
    """``(exact, trees)`` on Windows, as strings, from its environment variables (C:\\ for SystemDrive C:)."""
    def named(names: tuple[str, ...]) -> set[str]:
        return {environ[n] + ("\\" if n == "SystemDrive" else "") for n in names if environ.get(n)}

    return named(WINDOWS_EXACT), named(WINDOWS_TREES)


def system_folders() -> tuple[set[Path], set[Path]]:
    """``(exact, trees)``: folders refused as an output, and folders refused anywhere inside, on this OS."""
    if os.name == "nt":
        exact, trees = windows_system_folders(dict(os.environ))
        return {Path(p) for p in exact} | {Path.home()}, {Path(t) for t in trees}
    macos = ("/System", "/Library", "/Applications", "/private/etc", "/private/var/db")
    return {Path(p) for p in SYSTEM_EXACT} | {Path.home()}, {Path(t) for t in SYSTEM_TREES + macos}


@dataclass(frozen=True)
class OutputKind:
    """What a writer makes in a folder. `what` names it in sentences ("a SynthPedes dataset");
    `files(folder)` is the writer's manifest: the relative paths (``/``-separated) it wrote there, or
    None when the folder is not one of its outputs."""

    what: str
    files: Callable[[Path], "set[str] | None"]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def refuse_system_path(out: str | Path, flag: str = "--out", error: type[Exception] = LightCLIPError) -> Path:
    """`out` resolved, or one sentence when it is the root, the home folder, a system folder or lies
    inside one (``/proc/x``, ``/etc/y``)."""
    where = Path(os.path.abspath(os.path.expanduser(str(out))))
    try:
        where = where.resolve()
    except OSError:
        pass
    exact, trees = system_folders()
    exact = {p.resolve() for p in exact} | exact
    if where in exact or where == Path(where.anchor) or any(_inside(where, t) for t in trees):
        raise error(f"{flag} {out} is a system folder or lies inside one; write to a folder of your own.")
    return where


def refuse_overlap(out: str | Path, inputs: Iterable[str | Path | None], flag: str = "--out",
                   error: type[Exception] = LightCLIPError) -> None:
    """One sentence when `out` is, contains or lies inside one of `inputs` (files or folders)."""
    where = Path(out).resolve()
    for given in inputs:
        if given is None or str(given) == "":
            continue
        source = Path(given).resolve()
        if _inside(where, source) or _inside(source, where):
            relation = "is" if where == source else ("lies inside" if _inside(where, source) else "contains")
            raise error(f"{flag} {out} {relation} the input {given}; write the output somewhere else.")


def listed_files(folder: Path) -> list[str]:
    """Every file (and link) under `folder`, relative, ``/``-separated, sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found += [(rel / f).as_posix() for f in files]
        found += [(rel / d).as_posix() for d in dirs if os.path.islink(os.path.join(root, d))]
    return sorted(found)


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_output_dir(out: str | Path, kind: OutputKind, flag: str = "--out",
                     inputs: Iterable[str | Path | None] = (), extra: Callable[[str], bool] | None = None,
                     error: type[Exception] = LightCLIPError) -> set[str] | None:
    """Check, before any work, that the folder `out` may receive an output of `kind`; returns the
    manifest (`kind.files`) when it already holds one (the caller decides whether it may be replaced:
    ``--overwrite``, ``--resume``), None when it is new or empty. `extra(relative path)` names more files the caller made there
    (e.g. an interrupted run's parts). Refused in one sentence: a system path, an overlap with
    `inputs`, a file in the way, a folder that is not `kind`, or one holding files `kind` did not write
    (`error`, a `LightCLIPError` unless the caller names its own kind of one)."""
    out = Path(out)
    refuse_system_path(out, flag, error)
    refuse_overlap(out, inputs, flag, error)
    if out.is_symlink() and not out.exists():
        raise error(f"{flag} {out} is a broken link; choose a new folder.")
    if not out.exists():
        return None
    if not out.is_dir():
        raise error(f"{flag} {out} exists and is not a folder; choose a new folder.")
    try:
        present = listed_files(out)
    except OSError as exc:
        raise error(f"{flag} {out} cannot be read ({exc.strerror or exc}); choose another folder.") from None
    if not present:
        return None
    extra = extra or (lambda rel: False)
    owned = kind.files(out)
    if owned is None:
        if all(map(extra, present)):
            return None
        raise error(f"{flag} {out} is not empty and is not {kind.what} (it holds {_shown(present)}); choose a new "
                    "folder (nothing was written).")
    foreign = [f for f in present if f not in owned and not extra(f)]
    if foreign:
        raise error(f"{flag} {out} holds files that are not part of {kind.what} ({_shown(foreign)}); "
                    "move them or choose a new folder (nothing was written).")
    return owned


def check_output_file(path: str | Path, ours: Callable[[Path], bool], what: str, flag: str = "--out",
                      inputs: Iterable[str | Path | None] = ()) -> bool:
    """Check that the file `path` may be written: new, or one `ours(path)` recognises as `what` this
    project wrote (returns True then). Same refusals as `check_output_dir`."""
    path = Path(path)
    refuse_system_path(path, flag)
    refuse_overlap(path, inputs, flag)
    if path.is_symlink():
        raise LightCLIPError(f"{flag} {path} is a link; write to a plain new file.")
    if not path.exists():
        return False
    if path.is_dir():
        raise LightCLIPError(f"{flag} {path} is a folder; name a file.")
    if not ours(path):
        raise LightCLIPError(f"{flag} {path} exists and is not {what}; choose a new name (nothing was written).")
    return True


def remove_owned(out: Path, owned: Iterable[str]) -> None:
    """Delete the files `owned` (a manifest's list, relative to `out`) that exist, and nothing else."""
    for rel in owned:
        p = out / rel
        if p.is_file() or p.is_symlink():
            p.unlink()
