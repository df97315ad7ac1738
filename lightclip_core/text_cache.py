"""The frozen text encoder's output for a training set, computed once and kept on disk.

The text encoder is frozen, so a caption's encoding never changes: training reads it from a cache
instead of running the encoder every step. Without a text head (or with the pooled one) that is one
pooled vector per text; a tokens head also needs every token state, stored as fp16 rows laid end to
end (``states`` (total tokens, D), ``offsets`` (N + 1)). Files live under
``<cache>/text_features/``, keyed by the encoder and the texts, and are rebuilt when damaged.
"""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from .fileio import cache_root, log, read_cache, write_cache
from .models.text_encoders import TextEncoder, TextFeatures
from .runtime import onnxruntime_available

CHUNK = 512  # texts per encoder call while building


def text_feature_cache_dir() -> Path:
    return cache_root() / "text_features"


def _key(encoder: TextEncoder, texts: list[str], kind: str) -> str:
    return hashlib.sha256("\n".join([encoder.key, kind, *texts]).encode()).hexdigest()[:20]


def _chunks(n: int, what: str, progress: bool):
    it = range(0, n, CHUNK)
    if progress:
        it = tqdm(it, desc=f"encoding {n} {what}", unit="chunk", leave=False)
    return it


def cached_text_features(encoder: TextEncoder, texts: list[str], name: str, progress: bool) -> torch.Tensor:
    """Pooled embeddings of `texts` ``(N, D)`` from the disk cache, or encoded once and stored there."""
    key = hashlib.sha256("\n".join([encoder.key, *texts]).encode()).hexdigest()[:20]  # the key files always had
    path = text_feature_cache_dir() / f"{encoder.key}-{name}-{key}.safetensors"
    cached = read_cache(path, lambda t: t["features"].shape == (len(texts), encoder.dim))
    if cached is not None:
        return cached["features"]
    t0 = time.perf_counter()
    chunks = [encoder.encode(texts[i : i + CHUNK]).float().cpu() for i in _chunks(len(texts), "texts", progress)]
    feats = torch.cat(chunks) if chunks else torch.empty(0, encoder.dim)
    write_cache(path, {"features": feats.contiguous()})
    log(f"text features: {len(texts)} captions encoded in {time.perf_counter() - t0:.1f} s, cached at {path}")
    return feats


class TokenStateStore:
    """Pooled vectors and token states of N texts; `rows(idx)` pads a batch of them (TextFeatures)."""

    def __init__(self, pooled: torch.Tensor, states: torch.Tensor, offsets: torch.Tensor) -> None:
        self.pooled = pooled  # (N, D) float32
        self.states = states  # (total tokens, D) float16
        self.offsets = offsets  # (N + 1,) int64

    def __len__(self) -> int:
        return self.pooled.shape[0]

    def rows(self, idx: torch.Tensor) -> TextFeatures:
        idx = idx.reshape(-1).tolist()
        o = self.offsets
        return TextFeatures.from_rows([(self.pooled[i], self.states[o[i] : o[i + 1]]) for i in idx],
                                      self.pooled.shape[1])

    @classmethod
    def build(cls, encoder: TextEncoder, texts: list[str], progress: bool) -> "TokenStateStore":
        """Encode `texts` into one preallocated buffer (the tokenizer counts every text's tokens first),
        so building never holds the states twice (240,000 captions: 5.8 GB, not 11.6)."""
        per_text = [int(n) for i in range(0, len(texts), CHUNK)
                    for n in encoder._mask(encoder._tokens(texts[i : i + CHUNK])).sum(1)]
        offsets = torch.zeros(len(texts) + 1, dtype=torch.long)
        offsets[1:] = torch.cumsum(torch.tensor(per_text, dtype=torch.long), 0) if per_text else 0
        states = torch.empty(int(offsets[-1]), encoder.dim, dtype=torch.float16)
        pooled = torch.empty(len(texts), encoder.dim)
        for i in _chunks(len(texts), "texts (token states)", progress):
            feats = encoder.encode_features(texts[i : i + CHUNK], batch_size=64)
            pooled[i : i + CHUNK] = feats.pooled.float().cpu()
            for j, (st, m) in enumerate(zip(feats.states.cpu(), feats.mask.cpu())):
                states[offsets[i + j] : offsets[i + j + 1]] = st[m].half()
        return cls(pooled, states, offsets)


def _states_path(encoder: TextEncoder, texts: list[str], name: str) -> Path:
    return text_feature_cache_dir() / f"{encoder.key}-{name}-states-{_key(encoder, texts, 'states')}.safetensors"


def cached_token_states_exist(encoder: TextEncoder, texts: list[str], name: str) -> bool:
    """Whether a token-state cache of `texts` is on disk (its pooled vectors then serve any run)."""
    return _states_path(encoder, texts, name).is_file()


def cached_token_states(encoder: TextEncoder, texts: list[str], name: str, progress: bool) -> TokenStateStore:
    """`TokenStateStore` of `texts` from the disk cache, or encoded once (on ONNX Runtime when it is
    installed: about twice as fast on a CPU) and stored there."""
    path = _states_path(encoder, texts, name)

    def fits(t) -> bool:
        n = len(texts)
        return (t["pooled"].shape == (n, encoder.dim) and t["offsets"].shape == (n + 1,)
                and int(t["offsets"][-1]) == t["states"].shape[0])

    cached = read_cache(path, fits)
    if cached is not None:
        return _store_from(cached)
    t0 = time.perf_counter()

    on_onnx = encoder.device.type == "cpu" and onnxruntime_available()
    with encoder.dispatch.switched("onnx") if on_onnx else nullcontext():
        store = TokenStateStore.build(encoder, texts, progress)
    _write_large(path, {"pooled": store.pooled, "states": store.states, "offsets": store.offsets})
    log(f"text token states: {len(texts)} texts ({store.states.shape[0]} tokens) encoded in "
        f"{time.perf_counter() - t0:.1f} s, cached at {path}")
    return store


def _store_from(tensors: dict[str, torch.Tensor]) -> TokenStateStore:
    return TokenStateStore(tensors["pooled"], tensors["states"], tensors["offsets"])


def _write_large(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Like `fileio.write_cache`, but streamed to a temporary file (no second copy in memory)."""

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


__all__ = ["TokenStateStore", "cached_text_features", "cached_token_states", "text_feature_cache_dir"]
