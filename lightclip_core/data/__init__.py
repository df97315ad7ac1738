"""Datasets: SynthPedes, the person-search benchmarks, Flickr30k and plain folders, by name."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..registry import Registry
from .base import DataError, EvalSplit, PersonSearchDataset, Sample, load_image
from .flickr30k import load_flickr30k
from .folder import load_folder
from .person_search import load_cuhkpedes, load_icfgpedes, load_rstpreid, load_synthpedes

DATASETS: Registry[Callable[..., PersonSearchDataset]] = Registry("dataset")
DATASETS.register("synthpedes", load_synthpedes)
DATASETS.register("rstpreid", load_rstpreid)
DATASETS.register("cuhkpedes", load_cuhkpedes)
DATASETS.register("icfgpedes", load_icfgpedes)
DATASETS.register("flickr30k", load_flickr30k)
DATASETS.register("folder", load_folder)


def load_dataset(name: str, root: str | Path, **kwargs) -> PersonSearchDataset:
    """Load dataset `name` (see `DATASETS`) from `root`, the directory with its annotation file."""
    return DATASETS.get(name)(root, **kwargs)


__all__ = [
    "DATASETS",
    "DataError",
    "EvalSplit",
    "PersonSearchDataset",
    "Sample",
    "load_dataset",
    "load_image",
]
