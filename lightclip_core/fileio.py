"""Small file helpers with one home: log lines on stderr, JSON read with a one-sentence error, atomic
file writes, replacing a whole directory without ever leaving it half-written, and the safetensors disk
caches (caption embeddings, teacher stores, gallery embeddings) under ``$LIGHTCLIP_CACHE``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from safetensors import safe_open
from safetensors.numpy import save as save_numpy
from safetensors.torch import save as save_torch

from .errors import LightCLIPError
from .settings import get

_UMASK = os.umask(0o022)  # read once at import (setting it is process-wide, so never toggle it later)
os.umask(_UMASK)


def log(msg: str) -> None:
    """One progress line on stderr (stdout stays free for --json output)."""
    print(msg, file=sys.stderr, flush=True)


def safe_stem(name: str, limit: int, default: str) -> str:
    """A file name's stem cut to `limit` characters, with anything but letters, digits, - and _ made
    ``_`` (safe in any folder); `default` when nothing is left."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(name).stem)[:limit] or default


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory, fsync, rename: a killed
    process leaves the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; written files should read like any other
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path: Path, error: type[Exception] | None = None, missing: str | None = None,
              advice: str = "") -> Any:
    """The JSON document at `path`, or `error` (LightCLIPError by default) in one sentence: `missing`
    (default "PATH is missing") when there is no such file, else what is wrong with it; `advice` (what
    to do) ends every sentence but `missing`."""
    error = error or LightCLIPError
    path = Path(path)
    tail = f"; {advice}." if advice else "."
    if not path.is_file():
        raise error(missing or f"{path} is missing{tail}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise error(f"{path} is not UTF-8 text{tail}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path} is not valid JSON ({exc}){tail}") from None
    except OSError as exc:
        raise error(f"{path} cannot be read ({exc.strerror or exc}){tail}") from None


def read_json_or_none(path: Path) -> Any:
    """The JSON document at `path`, or None when it is missing or is not readable JSON: for a file
    that may or may not be one of ours (`outputs.OutputKind.files`), where "not ours" is an answer."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def atomic_write_json(path: Path, obj: Any, indent: int | None = 2, ensure_ascii: bool = True) -> None:
    """`obj` as JSON (compact separators when `indent` is None) and a newline, written atomically."""
    text = json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii, separators=None if indent else (",", ":"))
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def replace_dir(src: Path, dest: Path) -> None:
    """Put the finished directory `src` at `dest`; an existing `dest` is first moved aside to a new,
    uniquely named ``.<name>.old-*`` folder (in the same parent) and removed only after the swap. No
    other folder is ever removed: a ``.<name>.old`` someone else made stays."""
    src, dest = Path(src), Path(dest)
    aside = None
    if dest.exists():
        aside = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.old-"))
        try:
            os.replace(dest, aside)  # a directory renamed onto the empty one just made
        except OSError:
            aside.rmdir()
            raise
    os.replace(src, dest)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def write_dir(dest: Path, fill: Callable[[Path], None], flag: str = "--out") -> Path:
    """Make folder `dest` whole: `fill(folder)` writes into a new folder beside it, which then replaces
    `dest` (`replace_dir`): a failure or a kill leaves the old `dest` as it was, and nothing of an
    earlier `dest` survives beside the new files. The caller has checked `dest` may be replaced."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.new-"))
    except OSError as exc:
        raise LightCLIPError(f"{flag} {dest} cannot be written ({exc.strerror or exc}); choose another place.") from None
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700; the result should read like any other folder
        fill(tmp)
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def check_writable_dir(folder: Path, flag: str) -> None:
    """Make `folder` (and its parents) and check a file can be written there, before any long work:
    one sentence naming `flag` when it cannot (read-only place, a file in the way, no permission)."""

    folder = Path(folder)
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise LightCLIPError(f"{flag} {folder} cannot be written: {blocker} is a file, not a folder; choose another place.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise LightCLIPError(f"{flag} {folder} cannot be written ({exc.strerror or exc}); choose another place.") from None


def portable_path(path: str | Path) -> str:
    """`path` as a file others read should record it: relative to the working directory when it lies
    under it, else only its name (a machine's absolute paths tell nothing elsewhere, and tell where its
    owner keeps things). Empty stays empty."""
    if not str(path):
        return ""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return p.name


PATH_KEYS = ("path", "root", "out", "init", "exported_from", "teachers")


def portable_record(record: Any) -> Any:
    """A copy of a JSON record (a checkpoint's config or recipe) whose recorded paths (the values of
    `PATH_KEYS`, at any depth) are absolute nowhere: an absolute one keeps only its name. For records
    copied from another run, where `portable_path`'s working directory means nothing."""
    if isinstance(record, list):
        return [portable_record(v) for v in record]
    if not isinstance(record, dict):
        return record

    def name_only(v: Any) -> Any:
        if isinstance(v, list):
            return [name_only(x) for x in v]
        if isinstance(v, dict):
            return portable_record(v)
        return Path(v).name if isinstance(v, str) and Path(v).is_absolute() else v

    return {k: name_only(v) if k in PATH_KEYS else portable_record(v) for k, v in record.items()}


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_root() -> Path:
    """LightCLIP's cache root: ``$LIGHTCLIP_CACHE`` or ``~/.cache/lightclip``."""

    return Path(get("LIGHTCLIP_CACHE"))


def read_cache(path: Path, valid: Callable[[dict[str, Any]], bool], framework: str = "pt",
               metadata: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The tensors of the safetensors cache file `path` (torch with ``framework="pt"``, NumPy with
    ``"numpy"``), or None when it is missing, unreadable, its metadata lacks an item of `metadata`
    (e.g. the fingerprints it was built from), or `valid(tensors)` says it does not fit — the caller
    then rebuilds it. A cache file is never trusted beyond what these check."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework=framework) as f:
            stored = f.metadata() or {}
            if any(stored.get(k) != v for k, v in (metadata or {}).items()):
                return None
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return tensors if valid(tensors) else None
    except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt
        return None


def write_cache(path: Path, tensors: dict[str, Any], metadata: dict[str, str] | None = None, framework: str = "pt",
                best_effort: bool = False) -> None:
    """Store `tensors` at `path` atomically; with `best_effort`, a read-only cache directory is
    ignored (it only costs the next run its encoding time)."""
    save = save_numpy if framework == "numpy" else save_torch
    try:
        atomic_write_bytes(path, save(tensors, metadata=metadata))
    except OSError:
        if not best_effort:
            raise
