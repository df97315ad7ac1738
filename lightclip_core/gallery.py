"""A gallery to search: image files with person ids and, when known, the captions written for them
(`Gallery.load` reads a dataset directory or a plain folder), and its fingerprints."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import load_dataset
from .errors import LightCLIPError
from .footage import FootageIndex


def detect_gallery_dataset(root: str | Path) -> str:
    """What a gallery directory holds: ``synthpedes`` (RSTPReid / SynthPedes format) when it has a
    ``data_captions.json``, else ``folder`` (plain images, optional captions.jsonl)."""
    return "synthpedes" if (Path(root) / "data_captions.json").is_file() else "folder"


@dataclass
class Gallery:
    """Images to search, with person ids and (optionally) their captions."""

    paths: list[str]
    pids: list[int]
    captions: list[tuple[str, ...]] = field(default_factory=list)
    name: str = "gallery"
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file under the folder, reason) left out
    root: str | None = None  # where it was loaded from (`Gallery.load`), and as which dataset
    dataset: str | None = None
    footage: Any = None  # a footage.FootageIndex when the folder came from `footage`: search ranks its tracks
    _content_fp: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.paths) != len(self.pids):
            raise LightCLIPError(f"Gallery has {len(self.paths)} images but {len(self.pids)} person ids.")
        if not self.captions:
            self.captions = [()] * len(self.paths)
        self._caption_pid = {c: pid for caps, pid in zip(self.captions, self.pids) for c in caps}

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def load(cls, root: str | Path, dataset: str = "auto", split: str | None = None,
             max_images: int | None = None) -> "Gallery":
        """A gallery from a dataset directory (every split, or `split`) or a plain image folder.

        `dataset="auto"`: RSTPReid/SynthPedes format when ``data_captions.json`` exists, else a folder.
        """

        root = Path(root)
        if dataset == "auto":
            dataset = detect_gallery_dataset(root)
        kwargs = {"max_images": max_images} if dataset == "folder" else {}
        ds = load_dataset(dataset, root, **kwargs)
        samples = ds.samples if split is None else ds.split(split)
        if max_images is not None:
            samples = samples[:max_images]
        footage = None
        if ds.notes.get("footage"):
            footage = FootageIndex.from_meta(root, ds.notes["footage"])
        return cls([s.img_path for s in samples], [s.pid for s in samples], [tuple(s.captions) for s in samples],
                   name=f"{ds.name} ({root.name})", skipped=list(ds.notes.get("skipped", [])), root=str(root),
                   dataset=dataset, footage=footage)

    @property
    def one_per_id(self) -> bool:
        """Whether a search returns one image per person id: a footage gallery's ids are tracks, and
        a track is one result (its best-matching crop)."""
        return self.footage is not None

    def max_images_per_id(self) -> int:
        return max(Counter(self.pids).values(), default=1)

    def pid_of_caption(self, text: str) -> int | None:
        return self._caption_pid.get(text)

    def example_queries(self, n: int = 5, seed: int = 0) -> list[str]:
        """`n` of the gallery's own captions, spread over identities (deterministic)."""
        rows = [i for i, c in enumerate(self.captions) if c]
        if not rows:
            return []
        rng = np.random.default_rng(seed)
        picked = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
        return [self.captions[rows[i]][0] for i in sorted(picked)]

    def content_fingerprint(self) -> str:
        """SHA-256 over each image's path relative to the gallery root, its bytes and its person id:
        the same on any machine and any clone (unlike `fingerprint`, which uses modification times).
        Computed once per Gallery (~50 ms for the bundled 2,000 images)."""
        if self._content_fp is None:
            root = Path(self.root) if self.root else Path(os.path.commonpath(self.paths)) if self.paths else Path(".")
            h = hashlib.sha256()
            for path, pid in zip(self.paths, self.pids):
                rel = Path(os.path.relpath(path, root)).as_posix()
                h.update(f"{rel}\0{hashlib.sha256(Path(path).read_bytes()).hexdigest()}\0{pid}\n".encode())
            self._content_fp = h.hexdigest()
        return self._content_fp

    def fingerprint(self) -> str:
        """Changes when any image (path, size, modification time) or id changes."""
        h = hashlib.sha256()
        for path, pid in zip(self.paths, self.pids):
            st = os.stat(path)
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{pid}\n".encode())
        return h.hexdigest()
