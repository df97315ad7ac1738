"""Writing a SynthPedes dataset: `SynthConfig`, the identities of each split, rendering on worker
processes (byte-identical for any number of them), RSTPReid's format plus ``attributes.json`` and
``counterfactuals.json``, and contact sheets."""

from __future__ import annotations

import io
import multiprocessing as mp
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ..errors import LightCLIPError
from ..fileio import atomic_write_json, read_json_or_none
from ..outputs import OutputKind, check_output_dir, remove_owned
from ..registry import one_of
from .captions import CaptionWriter
from .counterfactuals import UniformStream, write_counterfactuals
from .drawing import Renderer
from .identities import Identity, mutate_identity, sample_identity
from .phrasings import WRITERS
from .renderers import RENDERERS
from .shots import Shot
from .vocabulary import VERSION, VIEWS

# --------------------------------------------------------------------------------------------------
# Dataset generation
# --------------------------------------------------------------------------------------------------

SPLITS = ("train", "val", "test")
COUNTERFACTUALS_FILE = "counterfactuals.json"
MAX_IDS, MAX_IMAGES_PER_ID, MAX_SIDE = 1_000_000, 100, 1024  # bounds on one run (a typo of --ids must not fill a disk)

@dataclass(frozen=True)
class SynthConfig:
    """Sizes and seed of a SynthPedes dataset; the same config gives byte-identical files."""

    ids: int = 2000
    images_per_id: int = 4
    size: tuple[int, int] = (256, 128)  # (H, W)
    val_ids: int = 250
    test_ids: int = 500
    seed: int = 0
    hard_share: float = 0.3  # share of identities created as near-duplicates of another
    jpeg_quality: int = 76
    # More training identities beyond ``ids``, drawn from a random stream of their own (pids from
    # ``ids`` on): the val and test splits, and every picture of the first ``ids`` identities, stay
    # exactly what they are without them. None repeats the attributes of a val or test identity.
    extra_train_ids: int = 0
    # "varied": captions in more orders and constructions (synthpedes/phrasings.py); "classic": the four
    # patterns the bundled gallery was written with.
    phrasings: str = "classic"
    # > 0: up to that many counterfactual captions per caption (synthpedes/counterfactuals.py), written to
    # counterfactuals.json. Either option draws captions from a replayable stream, so the captions (not
    # the pictures) differ from a dataset written without them.
    counterfactuals: int = 0
    # How pictures are made (RENDERERS): "draw" (flat figures, the bundled gallery's) or "camera"
    # (synthpedes/camera.py). Captions, facts and counterfactuals do not depend on it.
    renderer: str = "draw"

    def check(self) -> None:
        if self.ids < 1 or self.images_per_id < 1:
            raise LightCLIPError("SynthPedes needs at least one identity and one image per identity.")
        if self.val_ids < 0 or self.test_ids < 0 or self.val_ids + self.test_ids > self.ids:
            raise LightCLIPError(
                f"--val-ids ({self.val_ids}) + --test-ids ({self.test_ids}) must not exceed --ids ({self.ids})."
            )
        if self.extra_train_ids < 0:
            raise LightCLIPError(f"--extra-train-ids must be 0 or more, got {self.extra_train_ids}.")
        one_of("--phrasings", self.phrasings, ("classic", "varied"), "values")
        RENDERERS.get(self.renderer)
        if not 0 <= self.counterfactuals <= 8:
            raise LightCLIPError(f"--counterfactuals must be 0 to 8 per caption, got {self.counterfactuals}.")
        if min(self.size) < 32:
            raise LightCLIPError(f"SynthPedes pictures need at least 32 px a side, got {self.size[0]}x{self.size[1]}.")
        if max(self.size) > MAX_SIDE:
            raise LightCLIPError(f"SynthPedes pictures are at most {MAX_SIDE} px a side, got {self.size[0]}x{self.size[1]}.")
        if self.ids + self.extra_train_ids > MAX_IDS or self.images_per_id > MAX_IMAGES_PER_ID:
            raise LightCLIPError(f"SynthPedes writes at most {MAX_IDS:,} identities (--ids + --extra-train-ids) of at most "
                                 f"{MAX_IMAGES_PER_ID} pictures each, got {self.ids + self.extra_train_ids:,} of "
                                 f"{self.images_per_id:,}.")


def _draw_families(
    rng: np.random.Generator, count: int, first_pid: int, first_family: int, hard_share: float, allowed=None
) -> tuple[list[list[Identity]], list[Identity]]:
    """`count` identities in families (a base, sometimes a near-duplicate twin), pids from `first_pid`.

    `allowed(identity) -> bool` rejects an identity (a rejected base takes no twin); the random
    stream is consumed the same way either way, so rejection never shifts later identities.
    """
    families: list[list[Identity]] = []
    people: list[Identity] = []
    while len(people) < count:
        base = sample_identity(rng, first_pid + len(people))
        want_twin = len(people) + 1 < count and rng.random() < hard_share / (1 + hard_share)
        twin = mutate_identity(rng, base, first_pid + len(people) + 1) if want_twin else None
        if allowed is not None and not allowed(base):
            continue
        base.family = first_family + len(families)
        family = [base]
        people.append(base)
        if twin is not None and (allowed is None or allowed(twin)):
            twin.pid = first_pid + len(people)
            twin.family = base.family
            family.append(twin)
            people.append(twin)
        families.append(family)
    return families, people


def attribute_key(ident: Identity) -> tuple:
    """What captions can say about an identity: two identities with equal keys are the same person."""
    d = ident.captioned()
    return tuple(v for k, v in sorted(d.items()) if k not in ("pid", "family", "twin_of", "differs_in"))


def make_identities(cfg: SynthConfig) -> tuple[list[Identity], dict[int, str]]:
    """All identities (families of near-duplicates included) and their identity-disjoint splits."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1]))
    families, people = _draw_families(rng, cfg.ids, 0, 0, cfg.hard_share)
    # Whole families go to one split, so near-duplicates meet in the same gallery.
    order = rng.permutation(len(families))
    quota = {"test": cfg.test_ids, "val": cfg.val_ids}
    split_of: dict[int, str] = {}  # keyed by generation index
    for f in order:
        family = families[int(f)]
        name = next((s for s in ("test", "val") if quota[s] >= len(family)), "train")
        if name != "train":
            quota[name] -= len(family)
        for person in family:
            split_of[person.pid] = name
    # Final ids run train, val, test, each from where the previous ended (RSTPReid's layout; IRRA's
    # loader expects training ids 0..n-1).
    ordered = sorted(people, key=lambda p: (SPLITS.index(split_of[p.pid]), p.pid))
    new_pid = {p.pid: i for i, p in enumerate(ordered)}
    first_of_family: dict[int, int] = {}
    for p in people:  # generation order: a family's first identity comes first
        first_of_family.setdefault(p.family, new_pid[p.pid])
    split: dict[int, str] = {}
    for p in ordered:
        split[new_pid[p.pid]] = split_of[p.pid]
        p.pid = new_pid[p.pid]
        if p.differs_in:
            p.twin_of = first_of_family[p.family]
    if cfg.extra_train_ids:
        held_out = {attribute_key(p) for p in ordered if split[p.pid] != "train"}
        extra_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 4]))
        _, extra = _draw_families(
            extra_rng, cfg.extra_train_ids, cfg.ids, len(families), cfg.hard_share,
            allowed=lambda ident: attribute_key(ident) not in held_out,
        )
        # Extra ids come after test, so the first `ids` keep their pids (and so their pictures).
        for p in extra:
            split[p.pid] = "train"
            if p.differs_in:
                p.twin_of = p.pid - 1
        ordered += extra
    return ordered, split


_worker_state: dict[str, Any] = {}


def _init_worker(cfg: SynthConfig) -> None:
    _worker_state["cfg"] = cfg
    _worker_state["renderer"] = RENDERERS.get(cfg.renderer)(cfg.size, cfg.seed)


def _image_rng(cfg: SynthConfig, pid: int, k: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, 2, pid, k]))


def render_identity(ident: Identity) -> list[dict[str, Any]]:
    """Pictures and captions of one identity (in a worker process, or inline)."""
    cfg: SynthConfig = _worker_state["cfg"]
    renderer: Renderer = _worker_state["renderer"]
    views = list(np.random.default_rng(np.random.SeedSequence([cfg.seed, 3, ident.pid])).permutation(VIEWS))
    out, drafts = [], []
    for k in range(cfg.images_per_id):
        rng, name = _image_rng(cfg, ident.pid, k), f"{ident.pid:05d}_{k:02d}.jpg"
        img, shot = renderer.render_named(name, ident, rng, view=str(views[k % len(views)]))
        if cfg.phrasings == "classic" and not cfg.counterfactuals:
            writer = CaptionWriter(rng)
            captions, facts = zip(*(writer.write(ident, shot) for _ in range(2)))
        else:
            captions, facts, streams = _write_replayable(cfg, ident, shot, rng)
            drafts.append((shot, facts, streams))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=cfg.jpeg_quality)
        out.append(
            {
                "name": name,
                "jpeg": buf.getvalue(),
                "captions": list(captions),
                "facts": [[[a, v] for a, v in f] for f in facts],
                "view": shot.view,
                "action": shot.action,
                "occluder": shot.occluder,
            }
        )
    if cfg.counterfactuals:
        true_texts = {c for pic in out for c in pic["captions"]}
        for k, (pic, (shot, facts, streams)) in enumerate(zip(out, drafts)):
            pic["counterfactuals"] = [
                _counterfactuals(cfg, ident, shot, stream, f, true_texts, np.random.default_rng(
                    np.random.SeedSequence([cfg.seed, 5, ident.pid, k, c])))
                for c, (stream, f) in enumerate(zip(streams, facts))
            ]
    return out


def _write_replayable(cfg: SynthConfig, ident: Identity, shot: Shot, rng: np.random.Generator):
    """Two captions, each from its own recorded stream of `rng` (so counterfactuals can replay it)."""
    captions, facts, streams = [], [], []
    for _ in range(2):
        stream = UniformStream(rng)
        text, fact = WRITERS[cfg.phrasings](stream).write(ident, shot)
        captions.append(text)
        facts.append(fact)
        streams.append(stream)
    return tuple(captions), tuple(facts), streams


def _counterfactuals(cfg: SynthConfig, ident, shot, stream, facts, true_texts, rng) -> list[dict[str, Any]]:
    def write(other, shot, replay):
        return WRITERS[cfg.phrasings](replay).write(other, shot)

    return write_counterfactuals(ident, shot, stream, facts, true_texts, rng, write, cfg.counterfactuals)


def iter_rendered(cfg: SynthConfig, people: list[Identity], workers: int = 1) -> Iterator[tuple[Identity, list[dict]]]:
    """(identity, pictures) in pid order; the same output for any number of workers."""
    if workers <= 1 or len(people) < 8:
        _init_worker(cfg)
        for ident in people:
            yield ident, render_identity(ident)
        return

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(cfg,)) as pool:
        yield from zip(people, pool.imap(render_identity, people, chunksize=8))


def _config_record(cfg: SynthConfig) -> dict[str, Any]:
    """The config as attributes.json stores it (options added later, like ``extra_train_ids`` or
    ``renderer``, only when not the default, so files written before they existed, like the bundled
    gallery's, stay byte-identical)."""
    d = {**asdict(cfg), "size": list(cfg.size)}
    for key, default in (("extra_train_ids", 0), ("phrasings", "classic"), ("counterfactuals", 0), ("renderer", "draw")):
        if d[key] == default:
            del d[key]
    return d


PARTIAL_FILE = ".synthpedes-partial.json"  # written first, removed last: marks a run that was stopped
_PICTURE_NAME = re.compile(r"^imgs/[0-9]{5,}_[0-9]{2}\.jpg$")


def synthpedes_files(folder: Path) -> set[str] | None:
    """The files a SynthPedes run wrote in `folder` (its manifest: the JSON files and the pictures its
    annotations list; for a stopped run, pictures named as the generator names them), or None when
    `folder` is not a SynthPedes dataset (another dataset's annotations are not ours)."""
    meta = {"data_captions.json", "attributes.json", COUNTERFACTUALS_FILE, PARTIAL_FILE}
    present = {p.relative_to(folder).as_posix() for p in (folder / "imgs").glob("*")} if (folder / "imgs").is_dir() else set()
    if (folder / PARTIAL_FILE).is_file():
        return meta | {f for f in present if _PICTURE_NAME.match(f)}
    attributes = read_json_or_none(folder / "attributes.json")
    records = read_json_or_none(folder / "data_captions.json")
    if not (isinstance(attributes, dict) and attributes.get("generator") == "SynthPedes" and isinstance(records, list)):
        return None
    return meta | {f"imgs/{r['img_path']}" for r in records if isinstance(r, dict) and isinstance(r.get("img_path"), str)
                   and _PICTURE_NAME.match(f"imgs/{r['img_path']}")}


DATASET_OUTPUT = OutputKind("a SynthPedes dataset", synthpedes_files)


def _prepare_output(out: Path, cfg: SynthConfig, splits: tuple[str, ...], overwrite: bool) -> Path:
    """Check the request and make `out` ready to write: an earlier dataset there is removed (with
    `overwrite`, only the files it listed), and a marker says the dataset is incomplete until done."""
    cfg.check()
    if not splits:
        raise LightCLIPError(f"No split to write; valid splits are: {', '.join(SPLITS)}.")
    for split in splits:
        one_of("split", split, SPLITS, "splits")
    earlier = check_output_dir(out, DATASET_OUTPUT)
    if earlier is not None:
        if not overwrite:
            raise LightCLIPError(f"{out} already holds a SynthPedes dataset; pass --overwrite to replace it.")
        remove_owned(out, earlier)  # only what an earlier run listed (foreign files were refused)
    (out / "imgs").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / PARTIAL_FILE, {"generator": "SynthPedes", "complete": False})
    return out


def _write_counterfactuals(path: Path, per_caption: int, pictures: dict[str, Any]) -> None:
    """The counterfactuals file (`per_caption` > 0), or none: an overwritten dataset keeps no
    counterfactuals of its old captions."""
    if per_caption:
        atomic_write_json(path, {"format": "synthpedes-counterfactuals", "version": 1, "synthetic": True,
                                 "per_caption": per_caption, "pictures": pictures},
                          indent=None, ensure_ascii=False)
    elif path.exists():
        path.unlink()


def generate(
    out_dir: str | Path,
    cfg: SynthConfig = SynthConfig(),
    splits: tuple[str, ...] = SPLITS,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Write SynthPedes to `out_dir` (``data_captions.json``, ``attributes.json``, ``imgs/``).

    `splits` limits what is written (the bundled gallery is ``("test",)``); pictures of a split are
    identical whichever splits are written. Returns a summary with counts and timing.
    """

    out = _prepare_output(Path(out_dir), cfg, splits, overwrite)

    people, split = make_identities(cfg)
    chosen = [p for p in people if split[p.pid] in splits]
    t0 = time.perf_counter()
    records, facts, counterfactuals, n_images = [], {}, {}, 0
    bar = None
    if progress:
        bar = tqdm(total=len(chosen), unit="id", desc="SynthPedes", file=__import__("sys").stderr)
    for ident, pictures in iter_rendered(cfg, chosen, workers):
        for pic in pictures:
            rel = pic["name"]  # relative to imgs/, as in RSTPReid
            (out / "imgs" / rel).write_bytes(pic["jpeg"])
            records.append({"id": ident.pid, "img_path": rel, "captions": pic["captions"], "split": split[ident.pid]})
            facts[rel] = {"view": pic["view"], "action": pic["action"], "occluder": pic["occluder"], "facts": pic["facts"]}
            if "counterfactuals" in pic:
                counterfactuals[rel] = [[{k: v for k, v in cf.items() if k != "facts"} for cf in cfs]
                                        for cfs in pic["counterfactuals"]]
            n_images += 1
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    seconds = time.perf_counter() - t0
    counts = {s: sum(1 for p in chosen if split[p.pid] == s) for s in splits}
    attributes = {
        "generator": "SynthPedes",
        "synthetic": True,
        "version": VERSION,
        "config": _config_record(cfg),
        "splits_written": list(splits),
        "ids_per_split": counts,
        "identities": [dict(p.captioned(), split=split[p.pid]) for p in chosen],
        "pictures": facts,
    }
    atomic_write_json(out / "attributes.json", attributes, indent=None, ensure_ascii=False)
    _write_counterfactuals(out / COUNTERFACTUALS_FILE, cfg.counterfactuals, counterfactuals)
    atomic_write_json(out / "data_captions.json", records, indent=1, ensure_ascii=False)  # last: its presence marks a complete dataset
    (out / PARTIAL_FILE).unlink()
    return {"out": str(out), "images": n_images, "ids": counts, "seconds": seconds, "images_per_s": n_images / max(seconds, 1e-9)}


def contact_sheet(
    out_png: str | Path,
    cfg: SynthConfig = SynthConfig(),
    n_ids: int = 8,
    caption_width: int = 420,
    reference: Sequence[Image.Image] = (),
    reference_label: str = "",
) -> Path:
    """Draw `n_ids` identities (rows) x their pictures (columns) with one caption per picture; then, if
    given, a row of `reference` pictures (real crops, to compare by eye) labelled `reference_label`."""

    people, _ = make_identities(SynthConfig(**{**asdict(cfg), "ids": max(n_ids, 2), "val_ids": 0, "test_ids": 0}))
    people = people[:n_ids]
    h, w = cfg.size
    k = cfg.images_per_id
    try:
        font = ImageFont.load_default(size=max(10, h // 18))
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    rows = n_ids + (1 if reference else 0)
    sheet = Image.new("RGB", (max(k, len(reference)) * w + caption_width, rows * h), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    _init_worker(cfg)
    for row, (ident, pictures) in enumerate(zip(people, map(render_identity, people))):
        for col, pic in enumerate(pictures):
            sheet.paste(Image.open(io.BytesIO(pic["jpeg"])), (col * w, row * h))
        text = f"id {ident.pid}" + (f" (differs from id {ident.twin_of} in {ident.differs_in})" if ident.differs_in else "")
        lines = [text] + [f"{i + 1}. {c}" for i, c in enumerate(p["captions"][0] for p in pictures)]
        y = row * h + 4
        for line in lines:
            for wrapped in _wrap(line, font, caption_width - 12, d):
                d.text((k * w + 6, y), wrapped, fill=(0, 0, 0), font=font)
                y += font.size + 2 if hasattr(font, "size") else 12
        d.line([(0, row * h + h - 1), (sheet.width, row * h + h - 1)], fill=(200, 200, 200))
    if reference:
        for col, img in enumerate(reference):
            sheet.paste(img.convert("RGB").resize((w, h), Image.Resampling.BILINEAR), (col * w, n_ids * h))
        y = n_ids * h + 4
        for wrapped in _wrap(reference_label, font, caption_width - 12, d):
            d.text((len(reference) * w + 6, y), wrapped, fill=(0, 0, 0), font=font)
            y += font.size + 2 if hasattr(font, "size") else 12
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def _wrap(text: str, font, width: int, draw: ImageDraw.ImageDraw) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= width:
            line = trial
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])
