"""What SynthPedes' ground truth gives training beyond caption pairs: attribute labels for every picture
(``attributes.json``) and counterfactual captions for every caption (``counterfactuals.json``)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..fileio import read_json
from .base import DataError, Sample
from ..synthpedes.vocabulary import BAG_TYPES, COLOURS, GENDERS, HEADWEAR, LOWER_TYPES, UPPER_TYPES
from ..synthpedes.writer import COUNTERFACTUALS_FILE

# Attribute -> its values, in the order of the classifier's outputs (LightCLIPConfig.attribute_classes).
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "gender": GENDERS,
    "upper_colour": tuple(COLOURS),
    "upper_type": UPPER_TYPES,
    "lower_colour": (*COLOURS, "none"),  # "none" under a dress
    "lower_type": (*LOWER_TYPES, "none"),
    "shoes_colour": tuple(COLOURS),
    "bag": BAG_TYPES,
    "headwear": HEADWEAR,
}


def attribute_classes() -> dict[str, int]:
    return {name: len(values) for name, values in ATTRIBUTE_VALUES.items()}


def attribute_labels(root: str | Path, samples: list[Sample]) -> torch.Tensor:
    """``(N, A)`` class indices (order of `ATTRIBUTE_VALUES`) of each sample's person, from
    ``root/attributes.json``; -1 where a value is not in the vocabulary."""
    path = Path(root) / "attributes.json"
    data = read_json(path, DataError, missing=f"{path} is missing: attribute supervision needs a SynthPedes dataset.")
    people = {p["pid"]: p for p in data["identities"]}
    rows = []
    for s in samples:
        person = people.get(s.pid)
        if person is None:
            raise DataError(f"{path} has no identity {s.pid} (the dataset and its attributes.json disagree).")
        rows.append([values.index(person[name]) if person.get(name) in values else -1
                     for name, values in ATTRIBUTE_VALUES.items()])
    return torch.tensor(rows, dtype=torch.long)


def has_counterfactuals(root: str | Path) -> bool:
    """Whether the dataset at `root` was written with counterfactual captions."""
    return (Path(root) / COUNTERFACTUALS_FILE).is_file()


def counterfactual_captions(root: str | Path, samples: list[Sample]) -> tuple[list[str], torch.Tensor]:
    """The counterfactual texts of every caption of `samples` (captions laid end to end, as
    `caption_offsets` counts them) and their index ``(num_captions, K)`` into those texts, -1 for none."""
    path = Path(root) / COUNTERFACTUALS_FILE
    data = read_json(path, DataError, missing=f"{path} is missing: hard negatives need a SynthPedes dataset "
                     "written with synth --counterfactuals N.")
    pictures, per = data.get("pictures", {}), int(data.get("per_caption", 0))
    texts: list[str] = []
    index = []
    for s in samples:
        entries = pictures.get(Path(s.img_path).name, [[] for _ in s.captions])
        if len(entries) != len(s.captions):
            raise DataError(f"{path} lists {len(entries)} captions for {Path(s.img_path).name}, the dataset {len(s.captions)}.")
        for cfs in entries:
            row = []
            for cf in cfs[:per]:
                row.append(len(texts))
                texts.append(cf["text"])
            index.append(row + [-1] * (per - len(row)))
    return texts, torch.tensor(index, dtype=torch.long).reshape(len(index), per)
