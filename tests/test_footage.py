"""Footage galleries: sampling, tracking, the gallery format and the error paths on a short clip made
here (two bundled SynthPedes people composited walking across a plain background, boxes known), with
a fake detector that finds them by their pixels; OpenCV's HOG detector on a real street clip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from lightclip_core import create_model  # noqa: E402
from lightclip_core.footage import (  # noqa: E402
    FOOTAGE_FILE,
    Detection,
    Detector,
    FootageError,
    FootageIndex,
    FootageLimits,
    Source,
    TrackerOptions,
    build_footage_gallery,
    iou,
    make_detector,
    nms,
    probe_video,
    sample_video,
    sources_from,
)
from lightclip_core.search import SearchEngine  # noqa: E402
from lightclip_core.gallery import Gallery  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BG = (60, 140, 60)  # BGR background of the made clip
W, H, FPS, SECONDS = 320, 240, 10, 4
PERSON_H, PERSON_W = 96, 48
# Debian's opencv-doc package ships OpenCV's sample vtest.avi (768x576, 79.5 s of people walking):
# .ci/run extracts it here; LIGHTCLIP_TEST_VIDEO points elsewhere.
VTEST = Path(os.environ.get("LIGHTCLIP_TEST_VIDEO", Path.home() / ".cache/lightclip/test-data/vtest.avi"))


def require_test_video() -> None:
    """Skip without the real clip, unless LIGHTCLIP_REQUIRE_TEST_VIDEO is set (CI): then fail."""
    if not VTEST.is_file():
        if os.environ.get("LIGHTCLIP_REQUIRE_TEST_VIDEO"):
            pytest.fail(f"LIGHTCLIP_REQUIRE_TEST_VIDEO is set but {VTEST} is missing")
        pytest.skip(f"no real street clip at {VTEST} (scripts/get-test-video fetches it; CI does)")


def vtest_clip(path: Path, frames: int, first: int = 0) -> Path:
    """`frames` frames of the real street clip from frame `first`, as an mp4 (what a user would upload)."""
    require_test_video()
    cap = cv2.VideoCapture(str(VTEST))
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (768, 576))
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok
        out.write(frame)
    out.release()
    cap.release()
    return path


def person(name: str) -> np.ndarray:
    img = cv2.imread(str(ROOT / "gallery" / "imgs" / name))
    return cv2.resize(img, (PERSON_W, PERSON_H), interpolation=cv2.INTER_AREA)


def truth_boxes(frame: int) -> dict[str, tuple[float, float, float, float] | None]:
    """Where each person is in `frame`: A walks left to right (and is hidden for frames 15-19),
    B right to left lower down."""
    t = frame / FPS
    ax = 10 + 60 * t
    bx = W - PERSON_W - 10 - 55 * t
    a = None if 15 <= frame <= 19 else (ax, 20.0, ax + PERSON_W, 20.0 + PERSON_H)
    return {"A": a, "B": (bx, 130.0, bx + PERSON_W, 130.0 + PERSON_H)}


def make_clip(path: Path, frames: int = FPS * SECONDS, size: tuple[int, int] = (W, H)) -> Path:
    sprites = {"A": person("01500_00.jpg"), "B": person("01501_00.jpg")}
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    out = cv2.VideoWriter(str(path), fourcc, FPS, size)
    assert out.isOpened()
    for f in range(frames):
        img = np.empty((size[1], size[0], 3), np.uint8)
        img[:] = BG
        for key, box in truth_boxes(f).items():
            if box is not None:
                x, y = int(round(box[0])), int(round(box[1]))
                img[y:y + PERSON_H, x:x + PERSON_W] = sprites[key]
        out.write(img)
    out.release()
    return path


class BlobDetector(Detector):
    """Fake detector: boxes of the regions that differ from the plain background."""

    name = "blobs"

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.fail_after = fail_after

    def detect(self, frame):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("detector crashed")
        diff = np.abs(frame.astype(np.int16) - np.array(BG, np.int16)).max(axis=2) > 40
        n, _, stats, _ = cv2.connectedComponentsWithStats(diff.astype(np.uint8))
        return [Detection((float(x), float(y), float(x + w), float(y + h)), 1.0)
                for x, y, w, h, area in stats[1:] if h >= 40 and w >= 20]


@pytest.fixture(scope="module")
def model():
    return create_model("mobilenetv3_small_100", image_size=(64, 32)).eval()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "walk.avi")


def test_boxes_iou_and_nms():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    dets = [Detection((0, 0, 10, 20), 0.9), Detection((1, 0, 11, 20), 0.95), Detection((30, 0, 40, 20), 0.5)]
    kept = nms(dets, 0.4)
    assert [d.score for d in kept] == [0.95, 0.5]
    assert nms([], 0.4) == []


def _slow_iou(a, b) -> float:
    w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


def test_torchvisions_nms_and_iou_equal_the_obvious_loops():
    rng = np.random.default_rng(0)
    for _ in range(20):
        xy = rng.uniform(0, 100, (30, 2))
        wh = rng.uniform(5, 40, (30, 2))
        dets = [Detection((float(x), float(y), float(x + w), float(y + h)), float(s))
                for (x, y), (w, h), s in zip(xy, wh, rng.random(30))]
        for a, b in zip(dets, dets[1:]):
            assert iou(a.box, b.box) == pytest.approx(_slow_iou(a.box, b.box), abs=1e-12)
        for threshold in (0.0, 0.3, 0.7):
            want = []
            for d in sorted(dets, key=lambda d: -d.score):  # greedy: best first, drop what overlaps a kept one
                if all(_slow_iou(d.box, k.box) <= threshold for k in want):
                    want.append(d)
            assert nms(dets, threshold) == want


def test_sampling_picks_frames_at_the_asked_rate(clip):
    info = probe_video(clip)
    assert (info.width, info.height, info.frames) == (W, H, FPS * SECONDS)
    assert info.fps == pytest.approx(FPS)
    picked = [(i, t) for i, t, frame in sample_video(clip, 2.0)]
    assert [i for i, _ in picked] == list(range(0, FPS * SECONDS, 5))
    assert [t for _, t in picked] == pytest.approx([i / FPS for i in range(0, FPS * SECONDS, 5)])
    assert [i for i, _, _ in sample_video(clip, 100.0)] == list(range(FPS * SECONDS))  # never above the video's rate


def test_one_track_per_person_with_a_missed_sample(clip, model, tmp_path):
    out = tmp_path / "g"
    summary, emb = build_footage_gallery([Source(str(clip), "video")], out, model, BlobDetector(), sample_fps=2.0)
    meta = json.loads((out / FOOTAGE_FILE).read_text())
    # 8 samples; A is hidden in the one at frame 15: 7 + 8 detections, one track each
    assert (summary.frames_read, summary.detections, summary.tracks) == (8, 15, 2)
    assert summary.realtime_factor and summary.video_seconds == pytest.approx(SECONDS)
    by_track: dict[int, set[str]] = {}
    for c in meta["crops"]:
        truth = {k: b for k, b in truth_boxes(c["frame"]).items() if b is not None}
        who = max(truth, key=lambda k: iou(truth[k], c["box"]))
        assert iou(truth[who], c["box"]) > 0.8
        by_track.setdefault(c["track"], set()).add(who)
        assert c["source"] == "walk.avi" and c["timestamp"] == pytest.approx(c["frame"] / FPS)
        assert set(c) >= {"file", "source", "frame", "timestamp", "box", "track", "score"}
    assert sorted(map(sorted, by_track.values())) == [["A"], ["B"]]
    spans = {t["track"]: (t["start"], t["end"], t["detections"]) for t in meta["tracks"]}
    assert sorted(spans.values()) == [(0.0, 3.5, 7), (0.0, 3.5, 8)]
    assert all(len(t["crops"]) == 3 and (out / t["frame"]).is_file() for t in meta["tracks"])
    assert emb.shape == (6, model.embed_dim)
    assert not list(tmp_path.glob(".g.tmp-*"))  # the temporary folder was renamed, nothing left beside
    # A's one-second hole is longer than a 0.7 s gap allows: A becomes two tracks, B stays one
    summary, _ = build_footage_gallery([Source(str(clip), "video")], tmp_path / "short_gap", model, BlobDetector(),
                                       tracker=TrackerOptions(max_gap_s=0.7))
    assert summary.tracks == 3
    with pytest.raises(FootageError, match="at least one sampling interval"):  # no track could ever continue
        build_footage_gallery([Source(str(clip), "video")], tmp_path / "x", model, BlobDetector(),
                              tracker=TrackerOptions(max_gap_s=0.4))


def test_gallery_loads_as_a_folder_and_search_ranks_tracks(clip, model, tmp_path):
    out = tmp_path / "g"
    _, emb = build_footage_gallery([Source(str(clip), "video")], out, model, BlobDetector())
    gallery = Gallery.load(out)
    meta = json.loads((out / FOOTAGE_FILE).read_text())
    assert gallery.dataset == "folder" and gallery.one_per_id
    assert [Path(p).relative_to(out).as_posix() for p in gallery.paths] == [c["file"] for c in meta["crops"]]
    assert gallery.pids == [c["track"] for c in meta["crops"]]  # frames/ are not gallery images
    # the returned embeddings are the crops' (up to JPEG rounding), in the loader's order
    from lightclip_core.retrieval import encode_images

    again = encode_images(model, gallery.paths).numpy()
    assert (again * emb).sum(1).min() > 0.98
    engine = SearchEngine(model, gallery, emb, runtime="torch")
    res = engine.search("a person walking", k=10)
    assert len(res.hits) == 2 and len({h.pid for h in res.hits}) == 2
    # each track is represented by its best-scoring crop: compare with a full sort
    q = engine.encode_queries(["a person walking"])[0]
    sims = emb @ q
    for h in res.hits:
        rows = [i for i, p in enumerate(gallery.pids) if p == h.pid]
        assert h.row == max(rows, key=lambda i: sims[i])
    similar = engine.search_similar(res.hits[0].row, k=5)  # the other person, never the own track
    assert [h.pid for h in similar.hits] == [res.hits[1].pid]
    fx = FootageIndex.load(out)
    label = fx.label(res.hits[0].path)
    assert label.startswith(f"track {res.hits[0].pid} · walk.avi 0.0–3.5 s")
    framed = fx.frame_with_box(res.hits[0].path)
    assert framed.shape == (H, W, 3)
    # the box is drawn in red on the frame where the track's best crop was seen
    tr = fx.track_of(res.hits[0].path)
    x0, y0 = (int(round(v)) for v in tr["box"][:2])
    assert tuple(framed[y0 + 1, x0 + PERSON_W // 2]) == (255, 0, 0)
    fx.tracks[tr["track"]] = dict(tr, frame="../../outside.jpg")  # a hostile footage.json: never read outside
    assert fx.frame_with_box(res.hits[0].path) is None


def test_photos_and_crops_are_one_track_each(clip, model, tmp_path):
    frames = tmp_path / "photos"
    frames.mkdir()
    for i, _, frame in sample_video(clip, 1.0):
        cv2.imwrite(str(frames / f"street_{i:03d}.jpg"), frame)
    (frames / "broken.jpg").write_bytes(b"not a jpeg")
    crops = [ROOT / "gallery" / "imgs" / "01502_00.jpg"]
    summary, emb = build_footage_gallery(sources_from(photos=[frames], crops=crops), tmp_path / "g", model,
                                         BlobDetector())
    # 4 photos (A hidden in none of the 1-per-second samples: 0, 10, 20, 30) -> 8 people, + 1 crop
    assert summary.tracks == 9 and summary.crops == 9 and summary.detections == 9
    assert summary.skipped == [("broken.jpg", "broken.jpg is not an image PIL can read.")]
    assert summary.realtime_factor is None


def test_error_paths_leave_nothing_behind(clip, model, tmp_path):
    def fails(sources, match, **kw):
        out = tmp_path / "out"
        with pytest.raises(FootageError, match=match):
            build_footage_gallery(sources, out, model, BlobDetector(), **kw)
        assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))

    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4096))
    fails([Source(str(corrupt), "video")], "could not be opened as a video|no decodable frame")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    fails([Source(str(empty), "video")], "is empty")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    fails([Source(str(text), "video")], "not a supported video")
    fails([Source(str(tmp_path / "missing.avi"), "video")], "does not exist")
    fails([Source(str(clip), "video")], "between 64 and 200 pixels", limits=FootageLimits(max_side=200))
    fails([Source(str(clip), "video")], "over the limit of 2 s", limits=FootageLimits(max_video_seconds=2))
    fails([Source(str(clip), "video")], "over the limit of 4", limits=FootageLimits(max_crops=4))
    fails([], "Nothing to index")
    with pytest.raises(RuntimeError, match="detector crashed"):  # a crash midway: no half gallery
        build_footage_gallery([Source(str(clip), "video")], tmp_path / "out", model, BlobDetector(fail_after=3))
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))
    # an existing folder that is not a footage gallery is never overwritten; an earlier gallery is replaced
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "mine.txt").write_text("precious")
    with pytest.raises(FootageError, match="not empty and is not a footage gallery"):
        build_footage_gallery([Source(str(clip), "video")], keep, model, BlobDetector())
    assert (keep / "mine.txt").read_text() == "precious"
    again = tmp_path / "again"
    build_footage_gallery([Source(str(clip), "video")], again, model, BlobDetector(), sample_fps=1.0)
    build_footage_gallery([Source(str(clip), "video")], again, model, BlobDetector(), sample_fps=2.0)
    assert json.loads((again / FOOTAGE_FILE).read_text())["options"]["sample_fps"] == 2.0


def test_out_is_replaced_only_when_it_holds_nothing_but_its_own_files(clip, model, tmp_path):
    src = [Source(str(clip), "video")]
    out = tmp_path / "g"
    build_footage_gallery(src, out, model, BlobDetector(), sample_fps=1.0)
    written = sorted(p for p in out.rglob("*") if p.is_file())
    (out / "notes.txt").write_text("precious")  # a user's file beside the gallery's own
    (out / "crops" / "extra.jpg").write_bytes(b"mine")
    with pytest.raises(FootageError, match=r"not part of a footage gallery \(crops/extra.jpg, notes.txt\)"):
        build_footage_gallery(src, out, model, BlobDetector())
    assert (out / "notes.txt").read_text() == "precious" and (out / "crops" / "extra.jpg").read_bytes() == b"mine"
    assert sorted(p for p in out.rglob("*") if p.is_file()) == sorted([*written, out / "notes.txt",
                                                                        out / "crops" / "extra.jpg"])
    (out / "notes.txt").unlink()
    (out / "crops" / "extra.jpg").unlink()
    (tmp_path / ".g.old").mkdir()  # someone's folder named like the old swap's: left alone
    (tmp_path / ".g.old" / "keep.txt").write_text("keep")
    build_footage_gallery(src, out, model, BlobDetector())
    assert (tmp_path / ".g.old" / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".g.old", "g"]  # and no swap folder left behind


def test_out_never_inside_a_source_nor_holding_one(clip, model, tmp_path, capsys):
    from lightclip_core.checkpoints import save_checkpoint
    from lightclip_core.cli import main

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, _, frame in sample_video(clip, 1.0):
        cv2.imwrite(str(photos / f"street_{i:03d}.jpg"), frame)
    with pytest.raises(FootageError, match="lies inside the input"):
        build_footage_gallery(sources_from(photos=[photos]), photos / "gallery", model, BlobDetector(),
                              source_folders=[photos])
    with pytest.raises(FootageError, match=r"contains the input .*street_000.jpg"):
        build_footage_gallery(sources_from(photos=[photos]), photos, model, BlobDetector())
    assert sorted(p.name for p in photos.iterdir()) == [f"street_{i:03d}.jpg" for i in (0, 10, 20, 30)]
    ckpt = tmp_path / "ckpt"
    save_checkpoint(model, ckpt)
    rc = main(["footage", "--photos", str(photos), "--out", str(photos / "g"), "--checkpoint", str(ckpt), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "lies inside the input" in err and len(err.strip().splitlines()) == 1
    assert not (photos / "g").exists()


@pytest.mark.parametrize("options, match", [
    ({"crops_per_track": 0}, "crops_per_track must be a whole number of at least 1"),
    ({"min_track_detections": 1.5}, "min_track_detections must be a whole number"),
    ({"max_gap_s": float("nan")}, "max_gap_s must be a number of at least 0"),
    ({"min_similarity": 2}, "min_similarity must be a number between -1 and 1"),
])
def test_tracker_options_are_checked(options, match):
    with pytest.raises(FootageError, match=match):
        TrackerOptions(**options)


def test_unknown_detector_and_bad_options():
    with pytest.raises(KeyError, match="Unknown detector 'yolo'; valid detectors are: hog, ssdlite"):
        make_detector("yolo")
    with pytest.raises(FootageError, match="min_height"):
        make_detector("hog", min_height=4)
    with pytest.raises(FootageError, match="The hog detector has no option tiles; its options are: min_height, "):
        make_detector("hog", tiles=2)
    with pytest.raises(FootageError, match="tiles must be a whole number from 1"):
        make_detector("ssdlite", tiles=9)
    with pytest.raises(FootageError, match="score threshold is a probability"):
        make_detector("ssdlite", score_threshold=2)


def test_cli_footage_json_summary(clip, tmp_path, capsys):
    from lightclip_core.checkpoints import save_checkpoint
    from lightclip_core.cli import main

    ckpt = tmp_path / "ckpt"
    save_checkpoint(create_model("mobilenetv3_small_100", image_size=(64, 32)).eval(), ckpt)
    # HOG on a plain background with two small sprites: it may find nobody, which is one sentence
    rc = main(["footage", "--video", str(clip), "--out", str(tmp_path / "g"), "--checkpoint", str(ckpt), "--json",
               "--no-progress", "--min-height", "90"])
    out, err = capsys.readouterr()
    if rc == 0:
        s = json.loads(out)
        assert s["frames_read"] == 8 and {"detections", "tracks", "crops", "seconds"} <= set(s)
    else:
        assert rc == 2 and err.startswith("error: No person was found") and len(err.strip().splitlines()) == 1
    # search prints tracks of a footage gallery (one made with the fake detector)
    build_footage_gallery([Source(str(clip), "video")], tmp_path / "fg", create_model("mobilenetv3_small_100",
                          image_size=(64, 32)).eval(), BlobDetector())
    assert main(["search", "--checkpoint", str(ckpt), "--gallery", str(tmp_path / "fg"), "-q", "a person", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)[0]["hits"]
    assert len(hits) == 2 and {h["track"]["track"] for h in hits} == {0, 1}
    assert all(h["footage"]["file"].startswith("crops/") and h["footage"]["source"] == "walk.avi" for h in hits)
    rc = main(["footage", "--video", str(tmp_path / "nope.avi"), "--out", str(tmp_path / "h"), "--checkpoint", str(ckpt)])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_hog_finds_people_in_real_street_frames():
    """OpenCV's HOG detector on real pixels: frames of vtest.avi (people walking on a campus)."""
    require_test_video()
    det = make_detector("hog")
    counts = []
    for i, _, frame in sample_video(VTEST, 0.1, FootageLimits()):
        if i > 400:
            break
        dets = det.detect(frame)
        counts.append(len(dets))
        for d in dets:
            x0, y0, x1, y1 = d.box
            assert 0 <= x0 < x1 <= frame.shape[1] and 0 <= y0 < y1 <= frame.shape[0]
            assert (y1 - y0) >= 0.9 * 90 * 0.9  # the minimum height, less the trimmed margin
            assert d.score >= 0.5
    assert len(counts) == 5 and min(counts) >= 1 and sum(counts) >= 10
    blank = np.full((576, 768, 3), 128, np.uint8)
    assert det.detect(blank) == []
    # the default smallest person follows the frame: 90 px, or an eighth of a taller frame's height
    assert [det.height_for(h) for h in (480, 576, 1080, 2160)] == [90, 90, 135, 270]
    assert make_detector("hog", min_height=60).height_for(2160) == 60
    # a large frame is shrunk for HOG and the boxes come back in its own pixels: the same street at
    # twice the size, searched for people twice as tall, gives the same people at twice the coordinates
    frame = next(f for i, _, f in sample_video(VTEST, 0.1, FootageLimits()) if i >= 200)
    small = make_detector("hog", min_height=90).detect(frame)
    big = make_detector("hog", min_height=180).detect(cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC))
    assert len(small) >= 2 and abs(len(big) - len(small)) <= 1
    matched = [max(iou(tuple(v / 2 for v in b.box), a.box) for b in big) for a in small]
    assert sorted(matched)[len(matched) // 2] > 0.7  # most people found again at the same place
