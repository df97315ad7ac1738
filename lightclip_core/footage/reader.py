"""Reading a footage gallery back: per-crop and per-track facts for result captions and frames."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.footage_file import read_footage
from .opencv import opencv


@dataclass
class FootageIndex:
    """Per-image footage facts of a loaded gallery: crop and track metadata by absolute path."""

    root: str
    crops: dict[str, dict[str, Any]]  # resolved crop path -> its footage.json entry
    tracks: dict[int, dict[str, Any]]

    @classmethod
    def load(cls, root: str | Path) -> "FootageIndex | None":
        meta = read_footage(root)
        return None if meta is None else cls.from_meta(root, meta)

    @classmethod
    def from_meta(cls, root: str | Path, meta: dict[str, Any]) -> "FootageIndex":
        """From a footage.json already read (`read_footage`), e.g. by the folder loader."""
        root = Path(root)
        crops = {os.path.normpath(str((root / c["file"]).resolve())): c for c in meta["crops"] if isinstance(c, dict)
                 and isinstance(c.get("file"), str)}
        tracks = {int(t["track"]): t for t in meta.get("tracks", []) if isinstance(t, dict) and "track" in t}
        return cls(str(root), crops, tracks)

    def crop(self, path: str) -> dict[str, Any] | None:
        return self.crops.get(os.path.normpath(str(Path(path).resolve())))

    def track_of(self, path: str) -> dict[str, Any] | None:
        c = self.crop(path)
        return self.tracks.get(int(c["track"])) if c is not None and "track" in c else None

    def label(self, path: str) -> str:
        """``track 3 · vtest.avi 12.0–19.5 s`` (or the photo's name) for a result caption."""
        tr = self.track_of(path)
        if tr is None:
            return ""
        span = f" {tr['start']:.1f}–{tr['end']:.1f} s" if tr.get("end", 0) > tr.get("start", 0) or tr.get("start") else ""
        return f"track {tr['track']} · {tr['source']}{span}"

    def frame_with_box(self, path: str) -> np.ndarray | None:
        """The source frame of `path`'s track (RGB) with the track's best box drawn, or None."""
        tr = self.track_of(path)
        if tr is None or not tr.get("frame"):
            return None
        cv2 = opencv()
        path = (Path(self.root) / str(tr["frame"])).resolve()
        if not path.is_relative_to(Path(self.root).resolve()):
            return None  # a footage.json naming a file outside its gallery: never read it
        frame = cv2.imread(str(path))
        if frame is None:
            return None
        x0, y0, x1, y1 = (int(round(v)) for v in tr["box"])
        thick = max(2, frame.shape[0] // 200)
        cv2.rectangle(frame, (x0, y0), (x1, y1), (0, 0, 255), thick)
        return frame[:, :, ::-1].copy()
