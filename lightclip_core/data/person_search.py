"""Parsers for the text-based person search benchmarks, in their published on-disk formats.

Each returns a `PersonSearchDataset`; `--root` is the directory holding the annotation file and
``imgs/``. None of these can be downloaded automatically: request them from their authors.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..fileio import log
from .base import (
    DataError,
    PersonSearchDataset,
    Sample,
    read_annotations,
    require_fields,
    require_root,
    resolve_image,
)

SPLIT_NAMES = ("train", "val", "test")


def _samples(entries: list[dict], root: Path, path_key: str, path: Path, id_offset: int = 0) -> list[Sample]:
    """One sample per image. An entry repeating an earlier one's image (same person, same split) is
    counted once and reported on stderr (evaluated twice, it would count that image's matches twice);
    one giving that image another person or split is an error naming both entries."""
    samples, first_entry, repeats = [], {}, []
    for i, e in enumerate(entries):
        if e["split"] not in SPLIT_NAMES:
            raise DataError(f"Entry {i} of {path} has split {e['split']!r}; expected one of {', '.join(SPLIT_NAMES)}.")
        try:
            pid = int(e["id"]) - id_offset
        except (TypeError, ValueError):
            raise DataError(f"Entry {i} of {path} has a non-integer id {e['id']!r}.") from None
        sample = Sample(resolve_image(root, e[path_key], f"Entry {i} of {path}"), pid, tuple(e["captions"]), e["split"])
        key = os.path.normpath(sample.img_path)
        if key in first_entry:
            k, j = first_entry[key]
            if (samples[k].pid, samples[k].split) != (pid, sample.split):
                raise DataError(f"Entries {j} and {i} of {path} give the image {e[path_key][:200]!r} different "
                                "people or splits; fix one of them.")
            repeats.append(i)
            continue
        first_entry[key] = (len(samples), i)
        samples.append(sample)
    if repeats:
        log(f"{path}: {len(repeats)} entr{'y repeats' if len(repeats) == 1 else 'ies repeat'} an earlier entry's "
            f"image (first: entry {repeats[0]}); each image is counted once.")
    return samples


def _read(root: str | Path, name: str, filename: str, path_key: str, id_offset: int = 0) -> tuple[Path, list[Sample]]:
    """Samples from a published annotation file: a JSON list of {id, split, captions, <path_key>}."""
    root = require_root(root, name)
    path = root / filename
    fields = ("id", "split", "captions", path_key)
    entries = require_fields(
        read_annotations(path, name, f"a list of {{{', '.join(fields)}}}"),
        path,
        fields,
        {"captions": list, path_key: str, "split": str},
    )
    return root, _samples(entries, root, path_key, path, id_offset)


def _checked(ds: PersonSearchDataset, check_images: bool) -> PersonSearchDataset:
    if check_images:
        ds.check_images_exist()
    return ds


def load_cuhkpedes(root: str | Path, check_images: bool = True) -> PersonSearchDataset:
    """CUHK-PEDES (Li et al., CVPR 2017), the standard benchmark.

    Statistics: 13,003 identities, 40,206 images, 80,412 captions (~23 words); splits 11,003 / 1,000 /
    1,000 identities = 34,054 / 3,078 / 3,074 images. Layout::

        <root>/reid_raw.json   [{"split": "train"|"val"|"test", "captions": [str, ...],
                                 "file_path": "CUHK01/0363004.png", "processed_tokens": ..., "id": 1}, ...]
        <root>/imgs/<file_path>

    Ids start at 1 in the file; they are shifted to start at 0 here (as IRRA does).
    """
    root, samples = _read(root, "CUHK-PEDES", "reid_raw.json", "file_path", id_offset=1)
    return _checked(PersonSearchDataset("CUHK-PEDES", root, samples), check_images)


def load_icfgpedes(root: str | Path, check_images: bool = True, val_every: int = 20) -> PersonSearchDataset:
    """ICFG-PEDES (Ding et al., 2021): 4,102 identities, 54,522 images, one caption each (~37 words).

    Published splits are train (3,102 ids, 34,674 images) and test (1,000 ids, 19,848 images); there
    is no val split. So that model selection never looks at test, val is made from training
    identities: every `val_every`-th id in sorted order (5% by default; 155 of 3,102), moved from train
    to val. Layout::

        <root>/ICFG-PEDES.json  [{"split": "train"|"test", "captions": [str],
                                  "file_path": "test/0000/0000_002_01_0302morning_0001_1.jpg", "id": 0}, ...]
        <root>/imgs/<file_path>
    """
    root, samples = _read(root, "ICFG-PEDES", "ICFG-PEDES.json", "file_path")
    train_ids = sorted({s.pid for s in samples if s.split == "train"})
    val_ids = set(train_ids[::val_every]) if val_every > 0 else set()
    samples = [Sample(s.img_path, s.pid, s.captions, "val") if s.split == "train" and s.pid in val_ids else s for s in samples]
    notes = {"val": f"every {val_every}th training id"}
    return _checked(PersonSearchDataset("ICFG-PEDES", root, samples, notes=notes), check_images)


def load_rstpreid(root: str | Path, check_images: bool = True, name: str = "RSTPReid") -> PersonSearchDataset:
    """RSTPReid (Zhu et al., ACM MM 2021): 4,101 identities, 20,505 images, 2 captions each (~26 words).

    Splits 3,701 / 200 / 200 identities, 5 images each (18,505 / 1,000 / 1,000). SynthPedes is written
    in the same format. Layout::

        <root>/data_captions.json  [{"id": 0, "img_path": "0000_c14_0031.jpg",
                                     "captions": [str, str], "split": "train"|"val"|"test"}, ...]
        <root>/imgs/<img_path>

    (A path written as ``imgs/...`` relative to the root is accepted too.)
    """
    root, samples = _read(root, name, "data_captions.json", "img_path")
    return _checked(PersonSearchDataset(name, root, samples), check_images)


def load_synthpedes(root: str | Path, check_images: bool = True) -> PersonSearchDataset:
    """SynthPedes (synthetic; `lightclip_core.synthpedes`), RSTPReid's format plus attributes.json."""
    ds = load_rstpreid(root, check_images, name="SynthPedes")
    attrs = Path(root) / "attributes.json"
    ds.notes["synthetic"] = True
    ds.notes["attributes"] = str(attrs) if attrs.is_file() else None
    return ds
