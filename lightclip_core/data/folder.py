"""A plain folder of the user's own images: a gallery to search.

Layout: any images (jpg, jpeg, png, webp, bmp; nested folders allowed) under `root`, and optionally
``<root>/captions.jsonl``, one JSON object per line::

    {"file": "street/cam1_0001.jpg", "captions": ["a man in a red coat"], "id": 7}

``captions`` and ``id`` are optional; without an ``id`` each image is its own person. A footage
gallery (``python -m lightclip_core footage``) has a ``footage.json``: then only the crops it lists
are gallery images, in its order (its ``frames/`` are context for the app). Hidden files,
unreadable or corrupt images, and links that lead outside `root` are skipped and listed in
``dataset.notes["skipped"]`` as ``(path, reason)``; they never stop the scan.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .base import (
    IMAGE_EXTENSIONS,
    DataError,
    PersonSearchDataset,
    PictureError,
    Sample,
    load_image,
    require_root,
)
from .footage_file import FootageError, read_footage


def _image_problem(path: Path) -> str | None:
    """None for a picture that decodes, else why not (its pixel count is checked before decoding).
    A full decode, not PIL's verify(): verify passes a truncated JPEG that would then fail indexing."""
    try:
        load_image(path)
        return None
    except PictureError as exc:
        return exc.reason.rstrip(".")


def _read_captions(root: Path) -> dict[str, dict]:
    path = root / "captions.jsonl"
    if not path.is_file():
        return {}
    table: dict[str, dict] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"Line {n} of {path} is not valid JSON ({exc.msg}).") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
                raise DataError(f"Line {n} of {path} needs a \"file\" field with the image's path relative to {root}.")
            caps = entry.get("captions", [])
            if isinstance(caps, str):
                caps = [caps]
            if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
                raise DataError(f"Line {n} of {path}: \"captions\" should be a list of strings.")
            if "id" in entry and not isinstance(entry["id"], int):
                raise DataError(f"Line {n} of {path}: \"id\" should be an integer.")
            table[os.path.normpath(entry["file"])] = {"captions": caps, "id": entry.get("id"), "line": n}
    return table


def _listed_images(root: Path, skip) -> tuple[list[Path], dict | None]:
    """The image files of `root` in gallery order, and its footage.json (read) or None: a footage
    gallery's crops in the order footage.json lists them, else every image file under `root`, sorted.
    Each file left out goes to `skip(path, why)`."""
    real_root = root.resolve()
    try:
        footage = read_footage(root)
    except FootageError as exc:
        raise DataError(str(exc)) from None
    found: list[Path] = []
    for entry in footage["crops"] if footage else ():
        path = root / str(entry.get("file", ""))
        if not path.resolve().is_relative_to(real_root) or not path.is_file():
            skip(path, "listed in footage.json but not found in the folder")
        else:
            found.append(path)
    if footage:
        return found, footage
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name == "captions.jsonl":
                continue
            path = Path(dirpath) / name
            if not name.lower().endswith(IMAGE_EXTENSIONS):
                skip(path, "not an image file type (jpg, png, webp, bmp)")
            elif not path.resolve().is_relative_to(real_root):
                skip(path, "a link that leads outside the folder")
            else:
                found.append(path)
    return sorted(found), None


def load_folder(
    root: str | Path,
    check_images: bool = True,
    max_images: int | None = None,
    split: str = "test",
) -> PersonSearchDataset:
    """Every image under `root` as a gallery sample (split `split`), with captions when given."""
    root = require_root(root, "image folder")
    captions = _read_captions(root)
    skipped: list[tuple[str, str]] = []  # (file relative to root, why): never the machine's own path

    def skip(path: Path, why: str) -> None:
        skipped.append((os.path.relpath(path, root), why))

    found, footage = _listed_images(root, skip)
    if max_images is not None and len(found) > max_images:
        for p in found[max_images:]:
            skip(p, f"over the limit of {max_images} images")
        found = found[:max_images]

    used_ids = {c["id"] for c in captions.values() if c["id"] is not None}
    next_id = max(used_ids, default=-1) + 1
    samples, listed = [], set()
    for path in found:
        rel = os.path.normpath(str(path.relative_to(root)))
        problem = _image_problem(path) if check_images else None
        if problem:
            skip(path, problem)
            continue
        meta = captions.get(rel, {})
        listed.add(rel)
        pid = meta.get("id")
        if pid is None:
            pid, next_id = next_id, next_id + 1
        samples.append(Sample(str(path), pid, tuple(meta.get("captions", ())), split))
    for rel, meta in captions.items():
        if rel not in listed and not any(p == rel for p, _ in skipped):
            skip(root / rel, f"listed on line {meta['line']} of captions.jsonl but not found")
    if not samples:
        first = f": {skipped[0][0]} {skipped[0][1]}" if skipped else ""
        error = DataError(f"No readable images in the folder ({len(skipped)} file(s) skipped{first}).")
        error.skipped = skipped  # every (file, why), for a caller that names them its own way (the app's uploads)
        raise error
    notes = {"skipped": skipped}
    if footage:
        notes["footage"] = footage  # the footage.json read above: Gallery.load indexes it without reading it again
    return PersonSearchDataset("folder", root, samples, notes=notes)
