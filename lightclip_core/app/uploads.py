"""A user's own gallery from uploaded images or zip files, copied into one folder with limits, and
the folders' lifecycle in the app (`UploadArea`).

Nothing in an upload can write or read outside the destination folder: zip members are never
extracted by their own names (each gets a fresh flat name), links and directories inside a zip are
skipped, and sizes (declared, actual, and the compression ratio) are checked before anything is
written. Files that are not images, too large, over the count limit, or corrupt are skipped and
listed as ``(name, reason)``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..data.base import IMAGE_EXTENSIONS
from ..errors import LightCLIPError
from ..fileio import safe_stem

MAX_IMAGES = 1000
MAX_IMAGE_BYTES = 15 * 2**20
MAX_TOTAL_BYTES = 300 * 2**20  # one upload, and so one session (a session holds one gallery at a time)
MAX_APP_BYTES = 2 * 2**30  # every session's uploads together
MAX_RATIO = 100  # a zip member inflating more than this is not a picture (JPEG/PNG barely compress)
MAX_AGE_S = 6 * 3600  # folders older than this are deleted even if their session never said goodbye
MAX_IDLE_S = 30 * 60  # a session that has not uploaded or searched its gallery for this long loses it
EVICT_IDLE_S = 60  # when the app is full, galleries idle this long give way to a new upload (oldest first)
GRADIO_FILES = "gradio"  # Gradio's own uploads and cache live here under the root, so they count too
_SESSION_FOLDER = re.compile(r"[0-9a-f]{32}")


@dataclass
class UploadResult:
    folder: Path
    added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)  # stored file name -> the name the user gave it


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def ingest_uploads(
    files: list[str | os.PathLike],
    dest: str | os.PathLike,
    max_images: int = MAX_IMAGES,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> UploadResult:
    """Copy image files and the images inside zip files into `dest` (flat, numbered names).

    Corrupt images are not detected here (the folder loader decodes and skips them).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    ingest = _Ingest(UploadResult(dest), max_images, max_image_bytes, max_total_bytes)
    for f in files or []:
        path = Path(f)
        if not path.is_file():
            ingest.res.skipped.append((path.name, "not a file"))
        elif zipfile.is_zipfile(path):
            ingest.add_zip(path)
        else:
            ingest.add_file(path)
    res = ingest.res
    if res.added == 0 and not res.skipped:
        raise LightCLIPError("Nothing was uploaded; choose image files or a zip of images.")
    return res


@dataclass
class _Ingest:
    """One upload in progress: what was added and skipped so far, against the limits."""

    res: UploadResult
    max_images: int
    max_image_bytes: int
    max_total_bytes: int
    total: int = 0
    hidden: int = 0  # hidden or system members of the zip being read

    def room(self, name: str, size: int) -> bool:
        """Whether a file of `size` bytes fits the limits (counted if so; the reason listed if not)."""
        if self.res.added >= self.max_images:
            self.res.skipped.append((name, f"over the limit of {self.max_images} images"))
            return False
        if size > self.max_image_bytes:
            self.res.skipped.append((name, f"larger than {self.max_image_bytes // 2**20} MB"))
            return False
        if self.total + size > self.max_total_bytes:
            self.res.skipped.append((name, f"the upload would exceed {self.max_total_bytes // 2**20} MB in all"))
            return False
        self.total += size
        return True

    def target(self, name: str) -> Path:
        """A fresh flat name in the folder for a file the user called `name` (never its own path)."""
        base = Path(name).name
        return self.res.folder / f"{self.res.added:05d}_{safe_stem(base, 60, 'image')}{Path(base).suffix.lower()}"

    def add_file(self, path: Path) -> None:
        name = path.name
        if not _is_image_name(name):
            self.res.skipped.append((name, "not an image or zip file"))
            return
        if not self.room(name, path.stat().st_size):
            return
        out = self.target(name)
        shutil.copyfile(path, out)
        self.res.origin[out.name] = name
        self.res.added += 1

    def add_zip(self, path: Path) -> None:
        self.hidden = 0
        try:
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    self._add_member(zf, info, f"{path.name}:{info.filename}")
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:  # RuntimeError: encrypted members
            self.res.skipped.append((path.name, f"an unreadable zip ({exc})"))
        if self.hidden:
            self.res.skipped.append((path.name, f"{self.hidden} hidden or system file(s) inside (dot files, __MACOSX)"))

    def _add_member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, member: str) -> None:
        if info.is_dir():
            return
        if stat.S_ISLNK(info.external_attr >> 16):
            self.res.skipped.append((member, "a link inside the zip"))
            return
        # a zip made on Windows may separate folders with backslashes: its last part is the file's name
        # (``..\\..\\x.jpg`` is a picture called x.jpg, stored under a fresh flat name like any other)
        parts = re.split(r"[\\/]", info.filename)
        if parts[-1].startswith(".") or "__MACOSX" in parts:
            self.hidden += 1  # listed once per zip (a Mac's zip holds one per picture)
            return
        if not _is_image_name(info.filename):
            self.res.skipped.append((member, "not an image file type (jpg, png, webp, bmp)"))
            return
        if info.file_size > MAX_RATIO * max(info.compress_size, 1):
            self.res.skipped.append((member, f"compressed more than {MAX_RATIO}× (not a picture)"))
            return
        if not self.room(member, info.file_size):
            return
        out = self.target(parts[-1])
        with zf.open(info) as src, open(out, "wb") as dst:
            # read at most the declared size + 1 byte: a lying header cannot fill the disk
            data = src.read(info.file_size + 1)
            if len(data) > info.file_size:
                dst.close()
                out.unlink()
                self.res.skipped.append((member, "its size differs from the zip's header"))
                return
            dst.write(data)
        self.res.origin[out.name] = member
        self.res.added += 1


class UploadArea:
    """The app's upload folders under `root`: one per session at a time, within `session_bytes` each
    and `total_bytes` together (every file under `root` counts, Gradio's own uploads in
    ``root/gradio`` included). A session's folder is deleted when the session ends (`end_session`),
    when an upload fails (`discard`), when the session has not used it for `idle_s` (`reap`: REST
    clients send no heartbeat, so their sessions never say goodbye), after `max_age_s` in any case,
    and, when the app is full, to make room for a new upload once idle for `evict_idle_s`."""

    def __init__(self, root: str | os.PathLike, session_bytes: int = MAX_TOTAL_BYTES,
                 total_bytes: int = MAX_APP_BYTES, max_age_s: float = MAX_AGE_S, idle_s: float = MAX_IDLE_S,
                 evict_idle_s: float = EVICT_IDLE_S) -> None:
        self.root = Path(root)
        self.session_bytes, self.total_bytes, self.max_age_s = session_bytes, total_bytes, max_age_s
        self.idle_s, self.evict_idle_s = idle_s, evict_idle_s
        self._lock = threading.Lock()
        self._kept: dict[str, Path] = {}  # session -> its gallery's folder
        self._used: dict[str, float] = {}  # session -> when it last uploaded or searched its gallery (monotonic)
        self._open: dict[Path, int] = {}  # folders being written -> the bytes they were promised

    def open(self) -> tuple[Path, int]:
        """A fresh folder and the bytes it may hold; one sentence when the app is full (after giving
        way the galleries idle for `evict_idle_s`, oldest first)."""
        self.reap()
        with self._lock:
            room = self._room()
            while room < self.session_bytes and self._evict_one():
                room = self._room()
            if room <= 0:
                raise LightCLIPError(f"The app holds all the uploads it may ({self.total_bytes // 2**20} MB) "
                                     "right now; try again in a few minutes.")
            folder = self.root / uuid.uuid4().hex
            folder.mkdir(parents=True)
            self._open[folder] = room
        return folder, room

    def _room(self) -> int:
        held = self.used_bytes(besides=set(self._open))  # a folder being written counts as its promise
        return min(self.session_bytes, self.total_bytes - held - sum(self._open.values()))

    def _evict_one(self) -> bool:
        """Delete the gallery idle longest, if idle for `evict_idle_s` (the lock is held)."""
        now = time.monotonic()
        idle = sorted((t, s) for s, t in self._used.items() if now - t >= self.evict_idle_s and s in self._kept)
        if not idle:
            return False
        session = idle[0][1]
        self._used.pop(session, None)
        shutil.rmtree(self._kept.pop(session), ignore_errors=True)
        return True

    def keep(self, session: str, folder: Path) -> None:
        """`folder` indexed well: it becomes `session`'s gallery, and its previous one is deleted."""
        with self._lock:
            self._open.pop(folder, None)
            old = self._kept.get(session)
            self._kept[session] = folder
            self._used[session] = time.monotonic()
        if old is not None and old != folder:
            shutil.rmtree(old, ignore_errors=True)

    def touch(self, session: str) -> None:
        """`session` used its gallery (a search): its idle clock starts again."""
        with self._lock:
            if session in self._kept:
                self._used[session] = time.monotonic()

    def discard(self, folder: Path) -> None:
        """A failed upload: its folder goes at once."""
        with self._lock:
            self._open.pop(folder, None)
        shutil.rmtree(folder, ignore_errors=True)

    def end_session(self, session: str) -> None:
        with self._lock:
            folder = self._kept.pop(session, None)
            self._used.pop(session, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def reap(self) -> list[Path]:
        """Delete the galleries of sessions idle for `idle_s`, and folders older than `max_age_s` that
        are not being written; returns them."""
        gone = []
        with self._lock:
            now = time.monotonic()
            for session in [s for s, t in self._used.items() if now - t > self.idle_s]:
                self._used.pop(session)
                folder = self._kept.pop(session, None)
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
                    gone.append(folder)
        now = time.time()
        folders = sorted(self.root.glob("*")) if self.root.is_dir() else []
        for folder in [f for f in folders if _SESSION_FOLDER.fullmatch(f.name)]:  # never Gradio's own folder
            try:
                old = now - folder.stat().st_mtime > self.max_age_s
            except OSError:
                continue
            with self._lock:
                if not old or folder in self._open:
                    continue
                for session in [s for s, f in self._kept.items() if f == folder]:
                    del self._kept[session]
                    self._used.pop(session, None)
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
        return gone

    def used_bytes(self, besides: set[Path] = frozenset()) -> int:
        """Bytes of every file under `root` now, except in the folders `besides`."""
        total = 0
        for dirpath, dirs, names in os.walk(self.root):
            dirs[:] = [d for d in dirs if Path(dirpath, d) not in besides]
            for name in names:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:
                    pass
        return total
