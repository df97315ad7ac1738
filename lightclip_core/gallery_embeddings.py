"""Gallery embeddings on disk: the files shipped beside a checkpoint (`ship-embeddings`; fp16, one per
bundled gallery, keyed by the checkpoint's and the gallery content's fingerprints) and the per-user
cache of fresh encodes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import CONFIG_FILE, MODEL_FILE, SHIPPED_EMBEDDINGS, SHIPPED_SUFFIX
from .errors import LightCLIPError
from .fileio import cache_root, read_cache, safe_stem, write_cache
from .gallery import Gallery
from .index import as_float32
from .progress import Progress, as_progress
from .retrieval import GALLERY_VIEWS, encode_images


def store_key(checkpoint: str | Path, gallery: Gallery) -> str:
    """What a written index or store was made from: the checkpoint's weights, the gallery's content and
    how its pictures were embedded (`GALLERY_VIEWS`)."""
    return f"{checkpoint_fingerprint(checkpoint)}|{gallery.content_fingerprint()}|{GALLERY_VIEWS}"


def checkpoint_fingerprint(path: str | Path) -> str:
    """SHA-256 of a checkpoint's weights and config."""

    h = hashlib.sha256()
    for name in (MODEL_FILE, CONFIG_FILE):
        with open(Path(path) / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def shipped_file(checkpoint: str | Path, gallery: Gallery) -> Path:
    """Where `write_shipped_embeddings` puts `gallery`'s embeddings beside `checkpoint`:
    ``<folder>_embeddings.safetensors``, named after the gallery's folder (``gallery/`` gives
    `SHIPPED_EMBEDDINGS`, ``samples/street/`` gives ``street_embeddings.safetensors``)."""
    folder = Path(gallery.root).name if gallery.root else ""
    name = safe_stem(folder, 64, "")
    return Path(checkpoint) / (f"{name}{SHIPPED_SUFFIX}" if name else SHIPPED_EMBEDDINGS)


def _shipped(checkpoint: str | Path, gallery: Gallery, valid, checkpoint_fp: str | None = None) -> dict[str, Any] | None:
    """The shipped file written for these weights and this gallery's content, whatever its name (a
    gallery copied to another folder still finds its own; another one in a folder of the same name never
    gets wrong embeddings): the file named after the folder first, then the others (headers only)."""
    meta = {"checkpoint": checkpoint_fp or checkpoint_fingerprint(checkpoint), "gallery": gallery.content_fingerprint(),
            "views": GALLERY_VIEWS}
    first = shipped_file(checkpoint, gallery)
    for path in [first, *sorted(p for p in Path(checkpoint).glob("*" + SHIPPED_SUFFIX) if p != first)]:
        got = read_cache(path, valid, "numpy", metadata=meta)
        if got is not None:
            return got
    return None


def read_shipped_embeddings(checkpoint: str | Path, gallery: Gallery, embed_dim: int,
                            checkpoint_fp: str | None = None) -> np.ndarray | None:
    """The gallery embeddings shipped beside a checkpoint (fp16 on disk; unit-norm float32 here), or
    None when there are none, or they were written for other weights, another gallery content or with
    other views (`GALLERY_VIEWS`)."""
    got = _shipped(checkpoint, gallery, lambda t: t["embeddings"].shape == (len(gallery), embed_dim), checkpoint_fp)
    if got is None:
        return None
    emb = got["embeddings"].astype(np.float32)
    return np.ascontiguousarray(emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12))


def shipped_embeddings_current(checkpoint: str | Path, gallery: Gallery) -> bool:
    """Whether the file beside `checkpoint` was written for these weights and this gallery content."""
    return _shipped(checkpoint, gallery, lambda t: t["embeddings"].shape[0] == len(gallery)) is not None


def write_shipped_embeddings(checkpoint: str | Path, gallery: Gallery, embeddings: Any) -> Path:
    """Store `embeddings` of `gallery` beside the checkpoint (fp16, ~1.5 MB for 2,000 x 384), keyed by
    the checkpoint's and the gallery content's fingerprints, so a fresh start needs no gallery encode."""
    path = shipped_file(checkpoint, gallery)
    emb = as_float32(embeddings)
    if emb.shape[0] != len(gallery):
        raise LightCLIPError(f"{emb.shape[0]} embeddings for a gallery of {len(gallery)} images.")
    meta = {"checkpoint": checkpoint_fingerprint(checkpoint), "gallery": gallery.content_fingerprint(),
            "views": GALLERY_VIEWS, "images": str(len(gallery)), "dtype": "float16"}
    write_cache(path, {"embeddings": emb.astype(np.float16)}, metadata=meta, framework="numpy")
    return path


def cached_gallery_embeddings(model, gallery: Gallery, model_key: str | None, cache_dir: str | Path | None = None,
                              progress: Progress | None = None) -> np.ndarray:
    """`encode_gallery`, cached on disk under ``<cache>/gallery/`` keyed by `model_key` (which must
    identify the weights) and the gallery's fingerprint; `model_key=None` skips the cache."""
    cache_file = None
    if model_key is not None:
        name = hashlib.sha256((model_key + gallery.fingerprint() + GALLERY_VIEWS).encode()).hexdigest()[:24]
        cache_file = Path(cache_dir or cache_root()) / "gallery" / f"{name}.safetensors"
        cached = read_cache(cache_file, lambda t: t["embeddings"].shape == (len(gallery), model.embed_dim), "numpy")
        if cached is not None:
            return cached["embeddings"]
    emb = encode_gallery(model, gallery, progress=progress)
    if cache_file is not None:
        write_cache(cache_file, {"embeddings": emb}, framework="numpy", best_effort=True)
    return emb


def encode_gallery(model, gallery: Gallery, batch_size: int = 64,
                   progress: Progress | None = None) -> np.ndarray:
    """L2-normalised embeddings ``(N, D)`` float32 of the gallery's images, in order.

    `progress("encoding the gallery", done, total)` is called after each batch (the app drives its
    progress bar with it).
    """
    report = as_progress(progress)
    on_batch = lambda done, total: report("encoding the gallery", done, total)  # noqa: E731
    return encode_images(model, gallery.paths, batch_size, on_batch=on_batch).numpy()
