"""Linking one video's detections into tracks: position (moved on at the track's velocity), size and
looks (cosine of the image embeddings), best pair first."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..data.footage_file import FootageError


@dataclass
class Candidate:
    """One detection kept as a possible crop of its track."""

    jpeg: bytes  # the crop, as written to the gallery (JPEG, quality 92)
    source: str
    frame: int
    timestamp: float
    box: tuple[float, float, float, float]
    score: float
    sharpness: float
    quality: float
    embedding: np.ndarray
    short: str = ""  # the source's unique short name, for file names
    frame_jpeg: bytes | None = None  # the source frame, when this is the track's best crop so far


@dataclass
class Track:
    id: int
    source: str
    box: tuple[float, float, float, float]
    first_t: float
    last_t: float
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre, pixels per second
    embedding: np.ndarray | None = None  # running mean of the unit embeddings (re-normalised)
    detections: int = 0
    best: list[Candidate] = field(default_factory=list)

    def predicted(self, t: float) -> tuple[float, float, float, float]:
        dt = t - self.last_t
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        return (self.box[0] + dx, self.box[1] + dy, self.box[2] + dx, self.box[3] + dy)


@dataclass
class TrackerOptions:
    """How detections join tracks. Distances are in person heights (box height), so the same options
    fit near and far people and any resolution."""

    max_distance: float = 0.4  # a detection may join a track whose predicted box centre is this close ...
    distance_per_s: float = 0.6  # ... plus this much per second the track has gone unseen
    max_size_ratio: float = 1.5  # ... whose box height differs by at most this factor ...
    min_similarity: float = 0.5  # ... and that looks alike (cosine of the LightCLIP image embeddings)
    similarity_weight: float = 0.5  # association score = w * cosine + (1 - w) * (1 - distance / gate)
    max_gap_s: float = 2.0  # a track unseen for longer ends
    crops_per_track: int = 3
    min_track_detections: int = 2  # shorter video tracks are dropped (photos and crops always count)

    def __post_init__(self) -> None:
        for name in ("crops_per_track", "min_track_detections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FootageError(f"{name} must be a whole number of at least 1 (got {value!r}).")
        for name in ("max_distance", "distance_per_s", "max_size_ratio", "max_gap_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise FootageError(f"{name} must be a number of at least 0 (got {value!r}).")
        for name in ("min_similarity", "similarity_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and -1 <= value <= 1):
                raise FootageError(f"{name} must be a number between -1 and 1 (got {value!r}).")


class Tracker:
    """Greedy frame-to-frame association of detections into tracks (one video at a time): the best
    scoring (detection, track) pair inside the gates first, then the next, each used once."""

    def __init__(self, options: TrackerOptions, next_id: int = 0) -> None:
        self.o = options
        self.live: list[Track] = []
        self.finished: list[Track] = []
        self.next_id = next_id

    def _new(self, source: str, c: Candidate) -> Track:
        tr = Track(self.next_id, source, c.box, c.timestamp, c.timestamp, embedding=c.embedding.copy())
        self.next_id += 1
        self._add(tr, c)
        return tr

    def _add(self, tr: Track, c: Candidate) -> None:
        tr.detections += 1
        tr.best.append(c)
        tr.best.sort(key=lambda x: -x.quality)
        if len(tr.best) > self.o.crops_per_track:
            tr.best.pop()
        for other in tr.best[1:]:
            other.frame_jpeg = None  # only the best crop keeps its source frame
        if tr.best[0] is not c:
            c.frame_jpeg = None

    def gate(self, tr: Track, c: Candidate, t: float) -> float | None:
        """How far `c` is from where `tr` should be (0 = on the spot, 1 = at the gate), or None
        outside the gate or the size ratio."""
        th, ch = tr.box[3] - tr.box[1], c.box[3] - c.box[1]
        if th <= 0 or ch <= 0 or max(th / ch, ch / th) > self.o.max_size_ratio:
            return None
        (px, py), (cx, cy) = _centre(tr.predicted(t)), _centre(c.box)
        dist = math.hypot(cx - px, cy - py) / ((th + ch) / 2)
        limit = self.o.max_distance + self.o.distance_per_s * max(0.0, t - tr.last_t)
        return dist / limit if dist <= limit else None

    def step(self, source: str, t: float, cands: list[Candidate]) -> None:
        """Associate one sampled frame's detections (all of `source`, at `t` seconds)."""
        self._expire(t)
        w = self.o.similarity_weight
        pairs = []
        for i, c in enumerate(cands):
            for j, tr in enumerate(self.live):
                g = self.gate(tr, c, t)
                if g is None:
                    continue
                sim = float(np.dot(c.embedding, tr.embedding)) if tr.embedding is not None else 1.0
                if sim < self.o.min_similarity:
                    continue
                pairs.append((w * sim + (1 - w) * (1 - g), i, j))
        used_c, used_t = set(), set()
        for _, i, j in sorted(pairs, key=lambda p: -p[0]):
            if i in used_c or j in used_t:
                continue
            used_c.add(i)
            used_t.add(j)
            tr, c = self.live[j], cands[i]
            dt = t - tr.last_t
            if dt > 0:
                (ax, ay), (bx, by) = _centre(tr.box), _centre(c.box)
                vx, vy = (bx - ax) / dt, (by - ay) / dt
                # smoothed, so that one jittery box does not throw the prediction off
                tr.velocity = (0.5 * tr.velocity[0] + 0.5 * vx, 0.5 * tr.velocity[1] + 0.5 * vy) if tr.detections > 1 else (vx, vy)
            tr.box, tr.last_t = c.box, t
            mean = tr.embedding * tr.detections + c.embedding
            tr.embedding = mean / max(float(np.linalg.norm(mean)), 1e-12)
            self._add(tr, c)
        for i, c in enumerate(cands):
            if i not in used_c:
                self.live.append(self._new(source, c))

    def _expire(self, t: float) -> None:
        still = []
        for tr in self.live:
            (self.finished if t - tr.last_t > self.o.max_gap_s else still).append(tr)
        self.live = still

    def close(self) -> list[Track]:
        """End every live track; the tracks long enough to keep, in order of first appearance."""
        self.finished += self.live
        self.live = []
        done = [tr for tr in self.finished if tr.detections >= self.o.min_track_detections]
        self.finished = []
        return sorted(done, key=lambda tr: (tr.first_t, tr.id))


def _centre(b: Sequence[float]) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
