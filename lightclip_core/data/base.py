"""The record and dataset interface every source (SynthPedes, the benchmarks, Flickr30k, folders) shares.

A dataset is a list of `Sample` (one image, its person id, its captions, its split). Training reads
``train_pairs()`` (one image, one caption); evaluation reads ``eval_split()``: every caption of the
split is a text query, every image of the split is in the gallery, and a query's positives are the
gallery images with its person id (the CUHK-PEDES protocol used by IRRA).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from PIL import Image, UnidentifiedImageError

from ..errors import LightCLIPError
from ..fileio import read_json

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class DataError(LightCLIPError):
    """A dataset, annotation file or image that cannot be used as it is; the message names it."""


class PictureError(DataError):
    """One picture that cannot be used: its file name (never the folder it is in) and why not."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name} {reason}")
        self.name, self.reason = name, reason


@dataclass(frozen=True)
class Sample:
    """One image with its person id and captions."""

    img_path: str  # absolute path
    pid: int
    captions: tuple[str, ...]
    split: str


def caption_offsets(samples: list[Sample]) -> list[int]:
    """Index of each sample's first caption in the captions of `samples` laid end to end."""
    offsets, pos = [], 0
    for s in samples:
        offsets.append(pos)
        pos += len(s.captions)
    return offsets


@dataclass(frozen=True)
class EvalSplit:
    """Text queries and the image gallery of one split, with person ids for scoring."""

    queries: list[str]
    query_pids: list[int]
    gallery: list[str]  # image paths
    gallery_pids: list[int]
    first_query: list[int]  # per gallery image: index of its first caption in `queries`


@dataclass
class PersonSearchDataset:
    """Samples of one dataset, all splits."""

    name: str
    root: Path
    samples: list[Sample]
    notes: dict[str, Any] = field(default_factory=dict)

    def split(self, split: str) -> list[Sample]:
        chosen = [s for s in self.samples if s.split == split]
        if not chosen:
            have = sorted({s.split for s in self.samples})
            raise DataError(f"{self.name} at {self.root} has no {split!r} split; it has: {', '.join(have) or 'nothing'}.")
        return chosen

    def splits(self) -> list[str]:
        return sorted({s.split for s in self.samples}, key=lambda s: ("train", "val", "test").index(s) if s in ("train", "val", "test") else 9)

    def train_pairs(self, split: str = "train") -> list[tuple[str, str, int]]:
        """``(img_path, caption, label)`` for every caption; labels are 0..n-1 over the split's ids."""
        samples = self.split(split)
        label = {pid: i for i, pid in enumerate(sorted({s.pid for s in samples}))}
        return [(s.img_path, c, label[s.pid]) for s in samples for c in s.captions]

    def num_ids(self, split: str = "train") -> int:
        return len({s.pid for s in self.split(split)})

    def eval_split(self, split: str = "test") -> EvalSplit:
        samples = self.split(split)
        queries = [c for s in samples for c in s.captions]
        query_pids = [s.pid for s in samples for _ in s.captions]
        return EvalSplit(
            queries, query_pids, [s.img_path for s in samples], [s.pid for s in samples], caption_offsets(samples)
        )

    def stats(self) -> dict[str, Any]:
        """Counts per split: identities, images, captions, mean caption length in words."""
        out: dict[str, Any] = {}
        for split in self.splits():
            samples = [s for s in self.samples if s.split == split]
            caps = [c for s in samples for c in s.captions]
            out[split] = {
                "ids": len({s.pid for s in samples}),
                "images": len(samples),
                "captions": len(caps),
                "words_per_caption": round(sum(len(c.split()) for c in caps) / max(1, len(caps)), 1),
            }
        return out

    def check_images_exist(self, max_listed: int = 3) -> None:
        """Raise a `DataError` naming missing image files (cheap: no decoding)."""
        missing = [s.img_path for s in self.samples if not os.path.isfile(s.img_path)]
        if missing:
            listed = ", ".join(missing[:max_listed])
            more = f" and {len(missing) - max_listed} more" if len(missing) > max_listed else ""
            raise DataError(
                f"{len(missing)} of the {len(self.samples)} images listed for {self.name} are missing: {listed}{more}."
            )


def require_root(root: str | Path, name: str) -> Path:
    path = Path(root).expanduser().absolute()
    if not path.is_dir():
        raise DataError(f"The {name} root {path} does not exist or is not a directory.")
    return path


def read_annotations(path: Path, name: str, layout: str) -> Any:
    """Load a JSON annotation file with a message that says what was expected when it fails."""
    return read_json(path, DataError, missing=f"{name} expects {path} ({layout}); it is missing.")


def require_fields(entries: Any, path: Path, fields: Iterable[str], types: dict[str, type] | None = None) -> list[dict]:
    """Check that `entries` is a list of objects with `fields`; name the first bad entry."""
    if not isinstance(entries, list):
        raise DataError(f"{path} should hold a JSON list of entries, found {type(entries).__name__}.")
    fields = list(fields)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DataError(f"Entry {i} of {path} is not a JSON object.")
        absent = [f for f in fields if f not in entry]
        if absent:
            raise DataError(f"Entry {i} of {path} lacks the field(s) {', '.join(absent)} (it has: {', '.join(entry) or 'none'}).")
        for f, t in (types or {}).items():
            if not isinstance(entry[f], t):
                raise DataError(f"Entry {i} of {path}: field {f!r} should be {t.__name__}, found {type(entry[f]).__name__}.")
        if "captions" in fields and not all(isinstance(c, str) for c in entry["captions"]):
            raise DataError(f"Entry {i} of {path}: 'captions' should be a list of strings.")
    return entries


def skipped_summary(skipped: Sequence[tuple[str, str]], shown: int = 3) -> str:
    """``N file(s) skipped: a: why; b: why; ...; and K more`` for a list of ``(name, why)`` skips (the
    first `shown` of them); a reason that already starts with its file's name is not prefixed again."""
    parts = [why.rstrip(".") if why.startswith(name) else f"{name}: {why.rstrip('.')}" for name, why in skipped[:shown]]
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"{len(skipped)} file(s) skipped: {'; '.join(parts)}{more}"


def resolve_image(root: Path, rel: str, entry: str = "An entry") -> str:
    """Images live under ``root/imgs/``; a path that already starts with ``imgs/`` is accepted too. A
    path that leaves the root (absolute, or ``..`` past it; judged on the written path, so a linked
    ``imgs/`` folder still works) is a `DataError` naming `entry`."""
    primary = root / "imgs" / rel
    lexical = Path(os.path.normpath(primary))
    if Path(rel).is_absolute() or not (lexical == root or root in lexical.parents):
        raise DataError(f"{entry} names the image {rel[:200]!r}, which lies outside the dataset root {root}; image "
                        "paths are relative to its imgs/ folder.")
    if not primary.exists() and (root / rel).exists():
        return str(root / rel)
    return str(primary)


MAX_PIXELS = 50_000_000  # a picture's pixel count, checked from its header before it is decoded


def open_checked(path: str | os.PathLike):
    """Open a picture lazily (header only) and refuse one over `MAX_PIXELS` before it is decoded;
    the caller closes it. Raises a `DataError` naming the file by its name."""

    name = Path(path).name
    try:
        img = Image.open(path)
    except FileNotFoundError:
        raise PictureError(name, "is missing.") from None
    except UnidentifiedImageError:
        raise PictureError(name, "is not an image PIL can read.") from None
    except Image.DecompressionBombError:
        raise PictureError(name, f"claims more pixels than a picture may have ({MAX_PIXELS:,}).") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise PictureError(name, f"is a corrupt image ({type(exc).__name__}).") from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        img.close()
        raise PictureError(name, f"is {w}x{h} pixels, more than the {MAX_PIXELS:,} a picture may have.")
    return img


def load_image(path: str | os.PathLike):
    """Open an image as RGB, or raise a `DataError` naming the file (by its name) and what is wrong.
    The pixel count is checked before decoding, so a decompression bomb stops at its header."""

    with open_checked(path) as img:
        try:
            img.load()
            return img.convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else "corrupt"
            raise PictureError(Path(path).name, f"cannot be decoded ({type(exc).__name__}: {why}).") from None
