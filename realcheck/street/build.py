"""Rebuild realcheck/street/ (imgs/, data_captions.json, crops.json) from vtest.avi and a footage run.

The people, the crops chosen for them and the descriptions below were chosen by hand by looking at
enlarged contact sheets of the footage pipeline's tracks (see README.md); this script only cuts the
chosen crops out of the frames and writes the files. Run from the repository root:

    python -m lightclip_core footage --video vtest.avi --out /tmp/vtest_footage10 --fps 10 \
        --crops-per-track 1000 --json --no-progress
    python -m lightclip_core footage --video vtest.avi --out /tmp/vtest_footage_small --fps 5 \
        --min-height 56 --crops-per-track 1000 --json --no-progress
    python realcheck/street/build.py --video vtest.avi --footage /tmp/vtest_footage10 \
        --footage-small /tmp/vtest_footage_small

It checks that every chosen (track, frame) is a crop of that footage run, so a run whose tracks came
out numbered differently fails loudly instead of writing wrong labels.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Persons in order of first appearance: (letter used while labelling, [(track, frame), ...], descriptions).
# Track ids are those of the footage run above; a track may hold several people over time (HOG tracks
# swap identities where people cross), so each crop was checked by eye, not taken per track.
PEOPLE: list[tuple[str, list[tuple[int, int]], list[str]]] = [
    ("I", [(1, 15), (13, 194), (16, 240), (16, 389), (29, 574), (41, 754)], [
        "A man with short black hair walking along the road. He wears a black leather jacket, black trousers "
        "and black shoes, and holds some white papers in his right hand.",
        "A young man in a black leather jacket over a dark top, with a grey hood showing at the back, black "
        "trousers and dark shoes. He is carrying a rolled white paper.",
        "man in black leather jacket and black trousers holding white paper",
        "black leather jacket, black pants, papers in hand",
    ]),
    ("A", [(1, 122), (12, 213), (12, 338), (12, 454), (34, 598), (40, 742)], [
        "A young man with short dark hair and glasses. He is wearing a dark brown jacket over a black top, "
        "blue jeans and grey shoes.",
        "A man dressed in a dark brown jacket, a black t-shirt, blue jeans and light grey sneakers.",
        "man with glasses in dark brown jacket and blue jeans",
        "dark jacket black shirt blue jeans grey shoes",
    ]),
    ("C", [(2, 92), (13, 255), (13, 455), (13, 544), (13, 640), (13, 742)], [
        "A man with short dark hair and glasses wearing a black coat that reaches his thighs, black trousers "
        "and grey shoes. He walks with his hands in his pockets.",
        "The man is dressed all in black: a black wool coat and black pants, with grey shoes.",
        "man all in black, black coat and black trousers, hands in pockets",
        "man with glasses in a long black coat and black pants",
    ]),
    ("D", [(4, 56), (14, 244), (19, 302), (32, 617), (32, 668), (32, 750)], [
        "A man with short black hair wearing a puffy navy blue jacket with red shoulders and upper sleeves, "
        "dark navy trousers and white sneakers. He carries some white papers.",
        "A man walking in a padded jacket that is red on top and dark blue below, with dark blue pants and "
        "white shoes, holding papers in one hand.",
        "man in red and navy puffer jacket with white shoes",
        "red and blue down jacket, navy pants, white sneakers, papers",
    ]),
    ("F", [(5, 57), (14, 303), (38, 635), (38, 684), (38, 737), (38, 784)], [
        "A woman with shoulder-length curly blonde hair. She wears a black coat that reaches her knees, blue "
        "jeans and light brown shoes.",
        "A woman with wavy fair hair in a long black coat, dark blue jeans and beige flat shoes.",
        "blonde woman in black coat and jeans",
        "woman with curly blond hair, knee length black coat",
    ]),
    ("G", [(7, 52), (7, 222), (7, 357), (27, 473), (12, 579), (34, 779)], [
        "A bald man with a short beard wearing a black jacket with the collar up, blue jeans and black shoes.",
        "The man has a shaved head and a beard. He is dressed in a zipped black jacket, straight blue jeans "
        "and dark shoes.",
        "bald man with beard in black jacket and jeans",
        "shaved head, black jacket, blue jeans, black shoes",
    ]),
    ("H", [(10, 126), (10, 139), (10, 159), (10, 172), (10, 186), (10, 201)], [
        "A woman wearing a white hat, a light blue padded jacket with a grey scarf, flared blue jeans and "
        "black shoes. She carries a dark brown bag on her shoulder.",
        "A person in a pale blue jacket and a white hat walking to the left, with a brown shoulder bag and "
        "blue jeans.",
        "woman in light blue jacket and white hat with brown shoulder bag",
        "light blue coat, white beanie, jeans, dark handbag",
    ]),
    ("E", [(12, 145), (1, 190), (1, 198), (1, 213), (1, 239), (1, 266)], [
        "A man with short black hair wearing a dark navy sweater with grey horizontal stripes, light blue "
        "jeans and white sneakers.",
        "A man in a striped dark jumper and faded blue jeans walking with his arms swinging; his shoes are "
        "white.",
        "man in navy striped sweater and light jeans",
        "striped dark top, light blue jeans, white trainers",
    ]),
    ("J", [(25, 434), (25, 484), (25, 535), (37, 620), (37, 674), (45, 784)], [
        "A woman with long dark hair wearing a bright red jacket with a grey hood, blue flared jeans and dark "
        "shoes. She is holding white papers.",
        "A young woman in a short red jacket and dark blue jeans, her long black hair down over her "
        "shoulders.",
        "woman in red jacket and jeans with long black hair",
        "red coat, blue bootcut jeans, long dark hair",
    ]),
    ("K", [(39, 665), (39, 674), (39, 688), (39, 698), (39, 716), (39, 736)], [
        "An older man with grey hair wearing a blue padded jacket with a dark hood, grey trousers and brown "
        "shoes. He carries a brown paper envelope in his hand.",
        "A grey-haired man walking in a mid-blue jacket and grey trousers, holding a brown paper bag.",
        "old man in blue jacket and grey trousers",
        "grey hair, blue jacket, grey pants, brown envelope",
    ]),
]

# People who cannot be described distinctively: in the gallery under their own ids, with no captions.
# Both are seen only far away (boxes of 50-60 pixels), below the default run's smallest box, so their
# tracks come from a second run with a smaller --min-height (`--footage-small`); their track ids are
# that run's.
DISTRACTORS: list[tuple[str, list[tuple[int, int]]]] = [
    ("L", [(10, 98), (10, 124), (10, 142), (10, 170)]),  # black hooded coat, white carrier bag, upper-left path
    ("M", [(41, 722), (41, 744), (41, 754)]),  # black jacket, beige trousers, beside the parked car, top right
]

PAD_X, PAD_Y = 0.10, 0.05  # the HOG box (already tightened by the pipeline) widened by this share per side


def padded(box: list[float], width: int, height: int) -> list[int]:
    """The crop cut from the frame: the pipeline's (x0, y0, x1, y1) box grown by PAD_X / PAD_Y per side."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    return [max(0, round(x0 - PAD_X * w)), max(0, round(y0 - PAD_Y * h)),
            min(width, round(x1 + PAD_X * w)), min(height, round(y1 + PAD_Y * h))]


def main() -> None:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", required=True, help="vtest.avi")
    ap.add_argument("--footage", required=True, help="the footage gallery folder written by the command above")
    ap.add_argument("--footage-small", required=True, help="the second run (--min-height 56), for the distractors")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args()
    runs = {"main": args.footage, "small": args.footage_small}
    det = {}  # (run, track, frame) -> the footage.json crop
    for run, folder in runs.items():
        for c in json.loads((Path(folder) / "footage.json").read_text())["crops"]:
            det[(run, c["track"], c["frame"])] = c
    persons = [(letter, picks, caps, "main") for letter, picks, caps in PEOPLE] + \
        [(letter, picks, [], "small") for letter, picks in DISTRACTORS]
    wanted: dict[int, list[tuple[int, int, str]]] = {}  # frame -> [(person, track, run)]
    for pid, (letter, picks, _, run) in enumerate(persons):
        for track, frame in picks:
            if (run, track, frame) not in det:
                raise SystemExit(f"person {letter}: track {track} has no crop at frame {frame} in {runs[run]}")
            wanted.setdefault(frame, []).append((pid, track, run))
    out = Path(args.out)
    (out / "imgs").mkdir(parents=True, exist_ok=True)
    for old in (out / "imgs").glob("*.jpg"):
        old.unlink()
    cap = cv2.VideoCapture(args.video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    W, H = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    files: dict[tuple[int, int], str] = {}
    crops: dict[str, dict] = {}
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        for pid, track, run in wanted.get(index, []):
            c = det[(run, track, index)]
            x0, y0, x1, y1 = padded(c["box"], W, H)
            name = f"p{pid:03d}_t{track:02d}_f{index:04d}.jpg"
            cv2.imwrite(str(out / "imgs" / name), frame[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            hx0, hy0, hx1, hy1 = c["box"]
            crops[name] = {"person": pid, "track": track, "frame": index, "time_s": round(index / fps, 2),
                           "box": [x0, y0, x1 - x0, y1 - y0],
                           "hog_box": [hx0, hy0, round(hx1 - hx0, 1), round(hy1 - hy0, 1)],
                           "run": run, "described": bool(persons[pid][2])}
            files[(pid, track * 100000 + index)] = name
        index += 1
    cap.release()
    entries = []
    for pid, (letter, picks, caps, _) in enumerate(persons):
        # at most 2 captions per image, spread over the person's images in order
        per_image: list[list[str]] = [[] for _ in picks]
        for k, text in enumerate(caps):
            per_image[k % len(picks) if len(caps) <= len(picks) else (k // 2) % len(picks)].append(text)
        assert all(len(c) <= 2 for c in per_image), letter
        for (track, frame), texts in zip(picks, per_image):
            entries.append({"id": pid, "img_path": files[(pid, track * 100000 + frame)], "captions": texts,
                            "split": "test"})
    (out / "data_captions.json").write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
    doc = {"format": "lightclip-realcheck", "version": 1, "source": Path(args.video).name, "fps": round(fps),
           "frame_size": [W, H], "box_format": "x, y, w, h of the saved crop in frame pixels; hog_box: the "
           "footage pipeline's (tightened) HOG box the crop was padded from",
           "runs": {"main": "footage --fps 10 --crops-per-track 1000 (default HOG options)",
                    "small": "footage --fps 5 --min-height 56 --crops-per-track 1000 (distractors only)"},
           "crops": dict(sorted(crops.items()))}
    (out / "crops.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"people": len(persons), "described": sum(bool(c) for _, _, c, _ in persons),
                      "descriptions": sum(len(c) for _, _, c, _ in persons), "crops": len(entries)}))


if __name__ == "__main__":
    main()
