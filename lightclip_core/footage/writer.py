"""Writing a footage gallery: each track's best crops and frame, ``captions.jsonl`` and
``footage.json``, in a temporary folder renamed at the end (a failure or a kill leaves no half-written
gallery), and what an existing output folder may hold to be replaced."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..data.footage_file import FOOTAGE_FILE, FORMAT, FootageError, read_footage
from ..fileio import replace_dir
from ..outputs import OutputKind, check_output_dir
from .limits import FootageLimits
from .sources import Source
from .tracker import Track


@dataclass
class FootageSummary:
    out: str
    sources: int
    frames_read: int  # sampled video frames + photos + crops
    detections: int
    tracks: int
    crops: int
    seconds: float
    video_seconds: float  # duration of the videos read
    detect_seconds: float
    embed_seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def realtime_factor(self) -> float | None:
        """Seconds of video per second of indexing (above 1: faster than real time)."""
        return self.video_seconds / self.seconds if self.video_seconds and self.seconds else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["realtime_factor"] = None if self.realtime_factor is None else round(self.realtime_factor, 2)
        d["skipped"] = [list(s) for s in self.skipped]
        for k in ("seconds", "video_seconds", "detect_seconds", "embed_seconds"):
            d[k] = round(d[k], 2)
        return d


def written_files(meta: dict[str, Any]) -> set[str]:
    """The files a footage gallery's manifest says `footage` wrote (relative paths)."""
    files = {FOOTAGE_FILE, "captions.jsonl"}
    files |= {c["file"] for c in meta.get("crops", []) if isinstance(c, dict) and isinstance(c.get("file"), str)}
    files |= {tr["frame"] for tr in meta.get("tracks", []) if isinstance(tr, dict) and isinstance(tr.get("frame"), str)}
    return files


def footage_files(folder: Path) -> set[str] | None:
    """The files a footage gallery's manifest lists in `folder`, or None when it has no ``footage.json``."""
    meta = read_footage(folder)
    return written_files(meta) if meta is not None else None


FOOTAGE_OUTPUT = OutputKind("a footage gallery", footage_files)


def prepare_out(out: Path, sources: Sequence[Source] = (), source_folders: Sequence[str | Path] = (),
                 own: Callable[[str], bool] | None = None) -> None:
    """`out` may be new, empty, or an earlier footage gallery holding only the files its manifest lists
    (it is replaced at the end); nothing else is ever overwritten, and `out` may not hold a source nor
    lie inside a source folder (it would index its own output on every rerun): `outputs.check_output_dir`.
    `own(relative path)` names more files the caller wrote (an archive's parts): they count as the
    gallery's, and a folder holding only them is accepted."""
    check_output_dir(out, FOOTAGE_OUTPUT, "--out", [*source_folders, *(s.path for s in sources)], own, FootageError)


@dataclass
class SourceResult:
    """One source indexed: its tracks (their best crops in memory) and its entry in ``footage.json``."""

    tracks: list[Track]
    meta: dict[str, Any]
    video_seconds: float = 0.0


def check_crop_count(results: Sequence[SourceResult], limits: FootageLimits, final: bool) -> None:
    """Over `limits.max_crops` is an error: said on the way (`final` False) or at the end."""
    n_crops = sum(len(tr.best) for r in results for tr in r.tracks)
    if n_crops > limits.max_crops and not final:
        raise FootageError(f"Over {limits.max_crops:,} person crops; index fewer files at a time or "
                           "raise the crop limit.")
    if n_crops > limits.max_crops:
        raise FootageError(f"{n_crops:,} person crops is over the limit of {limits.max_crops:,}; index a "
                           "shorter video, sample fewer frames per second, or raise the crop limit.")


def write_footage_gallery(out: Path, results: Sequence[SourceResult], skipped: list[tuple[str, str]],
                          counts: dict[str, Any], t_start: float, n_sources: int, options: dict[str, Any],
                          limits: FootageLimits, report: Callable[[str, int, int], None],
                          extra: Callable[[Path], None] | None = None) -> tuple[FootageSummary, np.ndarray]:
    """Write the gallery of `results` (in source order; track ids follow it) to a temporary folder and
    put it at `out`; `extra(folder)` may add files first. Returns the summary and the crops' embeddings."""
    check_crop_count(results, limits, final=True)
    tracks = [tr for r in results for tr in r.tracks]
    if not tracks:
        raise FootageError("No person was found in the footage"
                           + (f" ({len(skipped)} file(s) skipped, the first: {skipped[0][1].rstrip('.')})" if skipped else "")
                           + "; try a lower --min-height or --score-threshold.")
    report("writing the gallery", 0, 0)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        crops_meta, tracks_meta, embeddings = _write_tracks(tmp, tracks)
        # the folder loader lists images sorted by path: rows in that order line up with it
        order = sorted(range(len(crops_meta)), key=lambda i: crops_meta[i]["file"])
        crops_meta = [crops_meta[i] for i in order]
        emb = np.stack([embeddings[i] for i in order]).astype(np.float32)
        with open(tmp / "captions.jsonl", "w", encoding="utf-8") as f:
            for c in crops_meta:
                f.write(json.dumps({"file": c["file"], "id": c["track"]}) + "\n")
        summary = FootageSummary(str(out), n_sources, counts["frames_read"], counts["detections"], len(tracks),
                                 len(crops_meta), time.perf_counter() - t_start,
                                 sum(r.video_seconds for r in results), counts["detect_seconds"],
                                 counts["embed_seconds"], skipped)
        meta = {"format": FORMAT, "version": 1, "sources": [r.meta for r in results], "options": options,
                "summary": {k: v for k, v in summary.to_dict().items() if k not in ("out", "skipped")},
                "skipped": [list(s) for s in skipped], "crops": crops_meta, "tracks": tracks_meta}
        (tmp / FOOTAGE_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        if extra is not None:
            extra(tmp)
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary.seconds = time.perf_counter() - t_start
    return summary, emb


def _write_tracks(tmp: Path, tracks: Sequence[Track]) -> tuple[list[dict], list[dict], list[np.ndarray]]:
    """Each track's crops and best frame as files under `tmp`; their ``footage.json`` entries."""
    (tmp / "crops").mkdir(parents=True)
    (tmp / "frames").mkdir()
    crops_meta, tracks_meta, embeddings = [], [], []
    for new_id, tr in enumerate(tracks):
        kept = []
        frame_file = None
        for rank, c in enumerate(tr.best):
            file = f"crops/t{new_id:05d}_{c.short}_f{c.frame:06d}_{rank}.jpg"
            (tmp / file).write_bytes(c.jpeg)
            if rank == 0 and c.frame_jpeg is not None:
                frame_file = f"frames/{c.short}_f{c.frame:06d}.jpg"
                (tmp / frame_file).write_bytes(c.frame_jpeg)
            crops_meta.append({"file": file, "source": c.source, "frame": c.frame, "timestamp": c.timestamp,
                               "box": [round(v, 1) for v in c.box], "track": new_id, "score": c.score,
                               "sharpness": c.sharpness})
            embeddings.append(c.embedding)
            kept.append(file)
        tracks_meta.append({"track": new_id, "source": tr.source, "start": round(tr.first_t, 3),
                            "end": round(tr.last_t, 3), "detections": tr.detections, "crops": kept,
                            "frame": frame_file, "box": [round(v, 1) for v in tr.best[0].box]})
    return crops_meta, tracks_meta, embeddings
