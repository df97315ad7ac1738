"""`bench-footage`: index a street video as the ``footage`` command does and measure what issue users
care about, side by side in one run:

- indexing speed: seconds of video per second of indexing at the chosen sampling rate (above 1 is
  faster than real time), with the time spent detecting and embedding;
- tracks: how many, their lengths, and a contact sheet (one row of crops per track) to count tracks
  per person by eye;
- the first search over the indexed footage against the first search over the bundled gallery with
  the same checkpoint (both after one warm-up of the shared text encoder; every query new to its
  cache, so each time includes a text encode), then warm medians.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from ..archive import PARTS, read_manifest
from ..checkpoints import load_checkpoint
from ..errors import LightCLIPError
from ..fileio import log
from ..footage import Source, build_footage_gallery, make_detector, probe_video
from ..footage.opencv import opencv
from ..gallery import Gallery
from ..profiling import machine_info
from ..search import SearchEngine

QUERIES = ("a man in a black jacket and blue jeans", "a woman in a red coat", "a woman with blonde hair in a black coat",
           "a man in a blue jacket and grey trousers", "a person in a white hooded jacket")


def tracks_sheet(root: str | Path, out: str | Path, height: int = 120, columns: int = 4) -> Path:
    """A JPEG contact sheet of a footage gallery: one cell per track, its kept crops side by side,
    labelled ``T<track> <start>-<end> s n<detections>``."""

    root = Path(root)
    meta = json.loads((root / "footage.json").read_text())
    tracks = meta["tracks"]
    per = max((len(t["crops"]) for t in tracks), default=1)
    w = height // 2
    cell_w, cell_h = per * w + 10, height + 14
    rows = max(1, (len(tracks) + columns - 1) // columns)
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, t in enumerate(tracks):
        x, y = (i % columns) * cell_w, (i // columns) * cell_h
        for j, c in enumerate(t["crops"]):
            with Image.open(root / c) as im:
                sheet.paste(im.convert("RGB").resize((w, height)), (x + j * w, y))
        draw.text((x + 2, y + height + 1), f"T{t['track']} {t['start']:.0f}-{t['end']:.0f} s n{t['detections']}",
                  fill="black")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, quality=85)
    return out


def _index_seconds(video: str | Path, checkpoint: str | Path, sample_fps: float, torch_threads: int) -> float:
    """`footage` in a fresh process, as users run it: its own indexing seconds (model load excluded)."""

    with tempfile.TemporaryDirectory(prefix="lightclip-footage-busy-") as tmp:
        done = subprocess.run([sys.executable, "-m", "lightclip_core", "footage", "--video", str(video), "--out",
                               str(Path(tmp) / "g"), "--checkpoint", str(checkpoint), "--fps", str(sample_fps),
                               "--torch-threads", str(torch_threads), "--json", "--no-progress"],
                              capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise LightCLIPError(f"footage failed while benchmarking: {done.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def busy_comparison(video: str | Path, checkpoint: str | Path, sample_fps: float = 2.0, busy: int = 2,
                    repeats: int = 2) -> dict[str, Any]:
    """Indexing seconds on this machine idle and with `busy` CPU-bound processes running beside it,
    with the thread policy `build_footage_gallery` uses (PyTorch on one thread) and with PyTorch's
    threads as they are, side by side in one run (each a fresh `footage` process, the median of
    `repeats`, the policies alternating); ``ratio`` = busy / idle of the same policy."""

    policies = {"one_torch_thread": 1, "threads_as_set": 0}
    out: dict[str, Any] = {"busy_processes": busy, "repeats": repeats}
    runs: dict[str, dict[str, list[float]]] = {name: {"idle_s": [], "busy_s": []} for name in policies}
    for _ in range(repeats):
        for name, n in policies.items():
            runs[name]["idle_s"].append(_index_seconds(video, checkpoint, sample_fps, n))
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        time.sleep(1.0)
        for _ in range(repeats):
            for name, n in policies.items():
                runs[name]["busy_s"].append(_index_seconds(video, checkpoint, sample_fps, n))
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    times = {name: {k: round(statistics.median(v), 2) for k, v in r.items()} for name, r in runs.items()}
    for name, t in times.items():
        t["ratio"] = round(t["busy_s"] / t["idle_s"], 2)
        log(f"bench-footage: {name}: idle {t['idle_s']} s, with {busy} busy processes {t['busy_s']} s ({t['ratio']}x)")
    return out | times


def run_footage_bench(video: str | Path, checkpoint: str | Path, gallery_dir: str | Path, sample_fps: float = 2.0,
                      sheet: str | Path | None = None, keep: str | Path | None = None, busy: int = 0) -> dict[str, Any]:
    info = probe_video(video)
    model = load_checkpoint(checkpoint)
    with tempfile.TemporaryDirectory(prefix="lightclip-footage-") as tmp:
        out = Path(keep) if keep else Path(tmp) / "footage"
        log(f"bench-footage: indexing {Path(video).name} ({info.duration_s:.1f} s, {info.width}x{info.height}) "
            f"at {sample_fps:g} frames/s")
        summary, emb = build_footage_gallery([Source(str(video), "video")], out, model, make_detector(),
                                             sample_fps=sample_fps)
        meta = json.loads((out / "footage.json").read_text())
        lengths = sorted((t["detections"] for t in meta["tracks"]), reverse=True)
        sheet_path = str(tracks_sheet(out, sheet)) if sheet else None

        footage_gallery = Gallery.load(out)
        footage_engine = SearchEngine(model, footage_gallery, emb)
        bundled_engine = SearchEngine.from_checkpoint(checkpoint, Gallery.load(gallery_dir))
        footage_engine.encode_queries(["warm-up of the shared text encoder"])

        def first_then_warm(engine, tag: str) -> tuple[float, float]:
            # every query is new to the text encoder's LRU cache: each time includes a text encode
            t0 = time.perf_counter()
            engine.search(f"{QUERIES[0]} ({tag})", 10)
            first = time.perf_counter() - t0
            warm = []
            for n in range(5):
                for q in QUERIES:
                    t0 = time.perf_counter()
                    engine.search(f"{q} ({tag} {n})", 10)
                    warm.append(time.perf_counter() - t0)
            return first * 1e3, statistics.median(warm) * 1e3

        f_first, f_warm = first_then_warm(footage_engine, "footage")
        b_first, b_warm = first_then_warm(bundled_engine, "bundled")
    busy_doc = busy_comparison(video, checkpoint, sample_fps, busy) if busy else None
    return {
        "machine": machine_info("cpu"),
        "video": {"file": Path(video).name, "seconds": round(info.duration_s, 2), "fps": info.fps,
                  "width": info.width, "height": info.height, "frames": info.frames},
        "sample_fps": sample_fps,
        "checkpoint": Path(checkpoint).name,
        "indexing": summary.to_dict() | {"out": None},
        "tracks": {"count": summary.tracks, "detections_per_track": lengths,
                   "single_sample_tracks_dropped": "min_track_detections=2", "sheet": sheet_path},
        "first_search_ms": {"footage": round(f_first, 2), "bundled_gallery": round(b_first, 2)},
        "warm_search_ms": {"footage": round(f_warm, 2), "bundled_gallery": round(b_warm, 2)},
        "gallery_sizes": {"footage_crops": len(footage_gallery), "bundled_images": len(bundled_engine.gallery)},
        "busy_machine": busy_doc,
    }


def cut_clips(video: str | Path, folder: Path, clips: int, seconds: float) -> list[Path]:
    """`clips` clips of `seconds` each, cut one after the other from `video` (mp4, the source's rate);
    the last clip wraps around to the start when the video is shorter than all of them together."""

    cv2 = opencv()
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        for n in range(clips):
            path = folder / f"cam{n + 1:02d}.mp4"
            out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            for _ in range(round(seconds * fps)):
                ok, frame = cap.read()
                if not ok:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, frame = cap.read()
                out.write(frame)
            out.release()
            paths.append(path)
    finally:
        cap.release()
    return paths


def _archive_run(folder: Path, out: Path, checkpoint: str | Path, sample_fps: float, extra: list[str],
                 kill_after_parts: int | None = None) -> tuple[float, dict[str, Any]] | None:
    """`footage --videos folder` in a fresh process: its wall seconds and its JSON summary (None when
    killed on purpose once `kill_after_parts` videos were finished)."""

    cmd = [sys.executable, "-m", "lightclip_core", "footage", "--videos", str(folder), "--out", str(out),
           "--checkpoint", str(checkpoint), "--fps", str(sample_fps), "--no-progress", "--json", *extra]
    t0 = time.perf_counter()
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           cwd=Path(__file__).resolve().parents[1])
    if kill_after_parts is not None:
        while job.poll() is None:
            if (out / "parts" / "manifest.json").is_file() and len(read_manifest(out)["done"]) >= kill_after_parts:
                job.send_signal(signal.SIGKILL)
                job.wait()
                return None
            time.sleep(0.05)
    printed, err = job.communicate()
    if job.returncode != 0:
        raise LightCLIPError(f"footage --videos failed while benchmarking: {err.strip().splitlines()[-1:]}")

    return time.perf_counter() - t0, json.loads(printed.strip().splitlines()[-1])


def archive_comparison(video: str | Path, checkpoint: str | Path, clips: int = 4, seconds: float = 20.0,
                       sample_fps: float = 2.0, workers: int = 2) -> dict[str, Any]:
    """An archive cut from `video`: indexed in one process and on `workers` local Ray workers (fresh
    processes, wall time of the whole command), the two galleries compared file by file; then a run
    killed with SIGKILL after its first finished video and re-run, compared with the uninterrupted one.
    From the measured cost: the Ray workers (one CPU each) that index 2,400 hours in one hour."""

    with tempfile.TemporaryDirectory(prefix="lightclip-archive-") as tmp:
        tmp = Path(tmp)
        paths = cut_clips(video, tmp / "videos", clips, seconds)
        video_s = clips * seconds
        single, single_summary = _archive_run(tmp / "videos", tmp / "single", checkpoint, sample_fps, [])
        ray, ray_summary = _archive_run(tmp / "videos", tmp / "ray", checkpoint, sample_fps,
                                        ["--ray", "--workers", str(workers), "--segment-seconds", str(seconds / 2)])
        same = _same_gallery(tmp / "single", tmp / "ray", PARTS)
        _archive_run(tmp / "videos", tmp / "killed", checkpoint, sample_fps, [], kill_after_parts=1)
        resumed, _ = _archive_run(tmp / "videos", tmp / "killed", checkpoint, sample_fps, [])
        same_resumed = _same_gallery(tmp / "single", tmp / "killed", PARTS)
    # one worker's cost: the workers' own detect + embed seconds (one CPU each) per second of video
    worker_s = ray_summary["detect_seconds"] + ray_summary["embed_seconds"]
    per_worker = video_s / worker_s
    doc = {"clips": len(paths), "seconds_each": seconds, "sample_fps": sample_fps, "workers": workers,
           "single_process_s": round(single, 2), "ray_s": round(ray, 2), "speedup": round(single / ray, 2),
           "single_process_indexing_s": single_summary["seconds"], "ray_indexing_s": ray_summary["seconds"],
           "ray_worker_busy_s": round(worker_s, 2),
           "identical_galleries": same, "killed_then_resumed_s": round(resumed, 2),
           "resumed_gallery_identical": same_resumed,
           "video_s_per_worker_s": round(per_worker, 3),
           "workers_for_2400_h_in_1_h": int(-(-2400 // per_worker))}
    log(f"bench-footage --archive: {clips} clips x {seconds:g} s: one process {doc['single_process_s']} s, "
        f"Ray x{workers} {doc['ray_s']} s ({doc['speedup']}x), identical: {same}; killed and resumed: "
        f"identical: {same_resumed}")
    return doc


def _same_gallery(a: Path, b: Path, skip: str) -> bool:
    """Whether two footage galleries hold the same files (crops, frames, captions, footage.json but for
    its timings), the parts folder aside."""

    def files(root: Path) -> dict[str, bytes]:
        got = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
               if p.is_file() and p.relative_to(root).parts[0] != skip}
        meta = json.loads(got.pop("footage.json"))
        meta.pop("summary")
        got["footage.json"] = json.dumps(meta, sort_keys=True).encode()
        return got

    return files(a) == files(b)
