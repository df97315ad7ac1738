"""A user's own gallery from uploaded images or zip files, copied into one folder with limits.

Nothing in an upload can write or read outside the destination folder: zip members are never
extracted by their own names (each gets a fresh flat name), links and directories inside a zip are
skipped, and sizes are checked before anything is read. Files that are not images, too large, over
the count limit, or corrupt are skipped and listed as ``(name, reason)``.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .data.base import IMAGE_EXTENSIONS
from .errors import LightCLIPError
from .fileio import safe_stem

MAX_IMAGES = 1000
MAX_IMAGE_BYTES = 15 * 2**20
MAX_TOTAL_BYTES = 300 * 2**20


@dataclass
class UploadResult:
    folder: Path
    added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


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
    res = UploadResult(dest)
    total = 0

    def room(name: str, size: int) -> bool:
        nonlocal total
        if res.added >= max_images:
            res.skipped.append((name, f"over the limit of {max_images} images"))
            return False
        if size > max_image_bytes:
            res.skipped.append((name, f"larger than {max_image_bytes // 2**20} MB"))
            return False
        if total + size > max_total_bytes:
            res.skipped.append((name, f"the upload would exceed {max_total_bytes // 2**20} MB in all"))
            return False
        total += size
        return True

    def target(name: str) -> Path:
        base = Path(name).name
        ext = Path(base).suffix.lower()
        stem = safe_stem(base, 60, "image")
        return dest / f"{res.added:05d}_{stem}{ext}"

    for f in files or []:
        path = Path(f)
        name = path.name
        if not path.is_file():
            res.skipped.append((name, "not a file"))
            continue
        if zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as zf:
                    for info in zf.infolist():
                        member = f"{name}:{info.filename}"
                        mode = info.external_attr >> 16
                        if info.is_dir():
                            continue
                        if stat.S_ISLNK(mode):
                            res.skipped.append((member, "a link inside the zip"))
                            continue
                        if Path(info.filename).name.startswith(".") or "__MACOSX" in info.filename:
                            continue
                        if not _is_image_name(info.filename):
                            res.skipped.append((member, "not an image file type (jpg, png, webp, bmp)"))
                            continue
                        if not room(member, info.file_size):
                            continue
                        out = target(info.filename)
                        with zf.open(info) as src, open(out, "wb") as dst:
                            # read at most the declared size + 1 byte: a lying header cannot fill the disk
                            data = src.read(info.file_size + 1)
                            if len(data) > info.file_size:
                                dst.close()
                                out.unlink()
                                res.skipped.append((member, "its size differs from the zip's header"))
                                continue
                            dst.write(data)
                        res.added += 1
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:  # RuntimeError: encrypted members
                res.skipped.append((name, f"an unreadable zip ({exc})"))
            continue
        if not _is_image_name(name):
            res.skipped.append((name, "not an image or zip file"))
            continue
        if not room(name, path.stat().st_size):
            continue
        shutil.copyfile(path, target(name))
        res.added += 1
    if res.added == 0 and not res.skipped:
        raise LightCLIPError("Nothing was uploaded; choose image files or a zip of images.")
    return res
