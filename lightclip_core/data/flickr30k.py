"""Flickr30k (Young et al., 2014) through Hugging Face `datasets`: general image-text retrieval.

31,783 images with 5 captions each; Karpathy split 29,000 / 1,014 / 1,000 images. Each image is its
own "identity", so person-search metrics become ordinary text-to-image retrieval metrics.

Source: a local directory of parquet files with columns ``image`` (an Image feature), ``caption``
(list of str) and ``split`` (train / val / test; "validation" is read as val) -- the layout of the
parquet mirrors on the Hub; or, when the Hub is reachable, such a mirror's Hub id. ``datasets`` 4+
no longer runs loading scripts, so script-based repos (``nlphuji/flickr30k``) do not load. Images are
written once to ``<cache>/images/`` so that training reads files like every other dataset.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import OfflineError
from ..hub import hub_unreachable_reason
from .base import DataError, PersonSearchDataset, Sample

REQUIRED_COLUMNS = ("image", "caption", "split")
SPLIT_ALIASES = {"train": "train", "val": "val", "validation": "val", "dev": "val", "test": "test"}


def _open(source: str):
    try:
        import datasets
    except ImportError:
        raise DataError("Flickr30k needs the datasets package: pip install datasets.") from None
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet"))
        if not files:
            raise DataError(f"No .parquet files under {path}; Flickr30k expects a parquet mirror's files there.")
        return datasets.load_dataset("parquet", data_files=files, split="train"), path / ".lightclip"
    if path.exists():
        raise DataError(f"{path} is a file; Flickr30k expects a directory of parquet files or a Hub dataset id.")

    reason = hub_unreachable_reason()
    if reason is not None:
        raise OfflineError(
            f"Flickr30k {source!r} is neither a local directory nor reachable on the Hugging Face Hub ({reason}); "
            "download a parquet mirror once and pass its directory as --root."
        )
    ds = datasets.load_dataset(source)
    parts = [ds[k].add_column("split", [k] * len(ds[k])) if "split" not in ds[k].column_names else ds[k] for k in ds]
    from huggingface_hub import constants

    cache = Path(constants.HF_HOME) / "lightclip" / source.replace("/", "--")
    return datasets.concatenate_datasets(parts), cache


def load_flickr30k(root: str, check_images: bool = True) -> PersonSearchDataset:
    """Flickr30k from a local parquet directory or a Hub id (see the module docstring)."""
    import datasets

    table, cache = _open(root)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(
            f"Flickr30k parquet at {root} lacks column(s) {', '.join(missing)} (it has: {', '.join(table.column_names)})."
        )
    table = table.cast_column("image", datasets.Image(decode=False))
    img_dir = cache / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for i, row in enumerate(table):
        split = SPLIT_ALIASES.get(str(row["split"]).lower())
        if split is None:
            raise DataError(f"Row {i} of Flickr30k at {root} has split {row['split']!r}; expected train, val or test.")
        caps = row["caption"]
        if isinstance(caps, str):
            caps = [caps]
        image = row["image"] or {}
        data = image.get("bytes")
        name = Path(image.get("path") or "").name or row.get("filename") or f"{i:06d}.jpg"
        if data is None:
            raise DataError(f"Row {i} of Flickr30k at {root} has no image bytes.")
        target = img_dir / f"{hashlib.sha1(data).hexdigest()[:10]}_{name}"
        if not target.exists():
            tmp = target.with_suffix(target.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        samples.append(Sample(str(target), i, tuple(str(c) for c in caps), split))
    return PersonSearchDataset("Flickr30k", Path(root), samples, notes={"image_cache": str(img_dir)})
