"""The app's models: one lazily built `SearchEngine` per encoder and bundled gallery, thread-safe, with
missing checkpoints fetched from a Hub repo on first use and failed loads backed off."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Sequence

from ..checkpoint_hub import pull_checkpoint
from ..checkpoints import bundled_checkpoints, read_config
from ..errors import LightCLIPError
from ..fileio import log, read_json
from ..gallery import Gallery
from ..gallery_embeddings import shipped_embeddings_current
from ..models.backbones import get_backbone_spec
from ..models.lightclip import LightCLIPConfig
from ..models.zero_shot import is_zero_shot, weights_cached
from ..progress import Progress
from ..search import SearchEngine


def how_to_get(backbone: str) -> str:
    """One sentence telling a user how to make a checkpoint for `backbone`."""
    return (f"No checkpoint for {backbone} yet: train one with `python -m lightclip_core train --preset cpu-synth "
            f"--backbone {backbone} --out runs/{backbone}`, then `python -m lightclip_core export --dtype int8 "
            f"--checkpoint runs/{backbone}/best --out checkpoints/{backbone}`.")


def model_key(backbone: Any) -> str:
    """`backbone` as a model key, or one sentence: API clients can send null, a list or a number, and
    every endpoint answers them the same way."""
    if isinstance(backbone, str) and backbone:
        return backbone
    got = "nothing" if backbone is None or backbone == "" else type(backbone).__name__
    raise LightCLIPError(f"Name one model as a string, e.g. 'mobilenetv3_large_100' (got {got}).")


DEFAULT_GALLERY_KEY = "synthpedes"  # the pool's first gallery, `gallery_dir`


LOADING = "loading "  # `EnginePool.warming`'s word for a model whose checkpoint is being loaded


def query_graphs(model) -> list:
    """The ONNX graphs a query goes through when `model` runs on ONNX Runtime (none on PyTorch): the
    frozen text encoder's (pooled vector, or the token states a tokens head reads) and the text head's."""
    text = model.text_encoder
    if text.runtime != "onnx":
        return []
    graphs = [text.states_onnx() if model.needs_token_states else text.onnx_function()]
    if model.text_head is not None and model.image_runtime == "onnx":
        graphs.append(model.text_head_onnx())
    return graphs


class EnginePool:
    """One lazily built `SearchEngine` per (gallery, backbone); thread-safe.

    The app holds one pool; several browser sessions searching the same backbone and gallery share
    its engine. `gallery_dir` is the default gallery (key ``synthpedes``); `galleries` adds others
    by key (the app's street gallery), each searched with the same checkpoints.
    """

    def __init__(self, checkpoints_dir: str | Path, gallery_dir: str | Path,
                 cache_dir: str | Path | None = None, device: str = "cpu", hub_repo: str | None = None,
                 galleries: dict[str, str | Path] | None = None) -> None:
        self.checkpoints_dir = Path(checkpoints_dir)
        # A Hugging Face model repo (`hub push`) to fetch missing checkpoints from on first use, never at start
        self.hub_repo = hub_repo or None
        self.gallery_dir = Path(gallery_dir)
        self.gallery_dirs = {DEFAULT_GALLERY_KEY: self.gallery_dir, **{k: Path(v) for k, v in (galleries or {}).items()}}
        self.cache_dir = cache_dir
        self.device = device
        self.checkpoints = bundled_checkpoints(self.checkpoints_dir)
        # False only in tests: zero-shot models with random weights, the same code path offline
        self.zero_shot_pretrained = True
        self._failed: dict[str, tuple[float, str]] = {}  # model -> (when, message) of a failed load
        self.retry_after_s = 60.0
        self._galleries: dict[str, Gallery] = {}
        self._engines: dict[tuple[str, str], SearchEngine] = {}
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._bench: dict[str, Any] | None = None

    @property
    def gallery(self) -> Gallery:
        """The default gallery."""
        return self.gallery_of(None)

    def gallery_key(self, gallery: Any) -> str:
        """`gallery` as one of this pool's gallery keys (None or "" is the default), or one sentence."""
        if gallery is None or gallery == "":
            return DEFAULT_GALLERY_KEY
        if isinstance(gallery, str) and gallery in self.gallery_dirs:
            return gallery
        got = repr(gallery) if isinstance(gallery, str) else f"a {type(gallery).__name__}"
        raise LightCLIPError(f"Unknown gallery {got[:80]}; valid galleries are: {', '.join(self.gallery_dirs)}.")

    def gallery_of(self, gallery: Any = None) -> Gallery:
        """The gallery with key `gallery` (default: the first), loaded once."""
        key = self.gallery_key(gallery)
        with self._lock:
            if key not in self._galleries:
                self._galleries[key] = Gallery.load(self.gallery_dirs[key])
            return self._galleries[key]

    def available(self) -> list[str]:
        return list(self.checkpoints)

    def usable(self) -> list[str]:
        """The bundled models that load (a damaged one is listed by `available`, never chosen by default)."""
        return [k for k in self.available() if self.info(k).get("available")]

    def bench(self) -> dict[str, Any]:
        """checkpoints/benchmarks.json, read once ({} when it is missing or unreadable: the app then shows
        no measured figures rather than failing)."""
        if self._bench is None:
            try:
                doc = read_json(self.checkpoints_dir / "benchmarks.json")
            except LightCLIPError:
                doc = {}
            self._bench = doc if isinstance(doc, dict) else {}
        return self._bench

    def is_loaded(self, backbone: str, gallery: Any = None) -> bool:
        return (self.gallery_key(gallery), backbone) in self._engines

    def info(self, backbone: str) -> dict[str, Any]:
        """What the app shows about a model: trained on what, epochs, val metrics."""

        try:
            backbone = model_key(backbone)
        except LightCLIPError as exc:
            return {"available": False, "message": str(exc)}
        if is_zero_shot(backbone):
            return {"available": True, "zero_shot": True, "synthetic": False, "cached": weights_cached(backbone)}
        if backbone not in self.checkpoints:
            if self.hub_repo:
                return {"available": True, "remote": self.hub_repo, "synthetic": None}
            return {"available": False, "message": how_to_get(backbone)}
        try:
            cfg = read_config(self.checkpoints[backbone])
            LightCLIPConfig.from_dict(cfg["model"])
        except LightCLIPError as exc:  # damaged: listed, and says why (not where the server keeps it)
            where = self.checkpoints[backbone]
            why = str(exc).replace(str(where), f"checkpoints/{where.name}")
            return {"available": False, "damaged": True, "message": f"The {backbone} checkpoint is damaged: {why}"}
        train = cfg.get("train") or {}
        return {"available": True, "synthetic": bool(cfg.get("synthetic", train.get("dataset") == "synthpedes")),
                "dataset": train.get("dataset"), "epochs": cfg.get("epoch"), "metrics": cfg.get("metrics", {})}

    def get(self, backbone: str, progress: Progress | None = None, gallery: Any = None) -> SearchEngine:
        """The engine for `backbone` over `gallery` (built on first use: load + encode or read the
        gallery's shipped embeddings or cache)."""

        backbone, key = model_key(backbone), self.gallery_key(gallery)
        zero_shot = is_zero_shot(backbone)
        if backbone not in self.checkpoints and not zero_shot:
            get_backbone_spec(backbone)  # an unknown name raises with the list of valid ones
            if not self.hub_repo:
                raise LightCLIPError(how_to_get(backbone))
        engine = self._engines.get((key, backbone))
        if engine is not None:
            return engine
        failed = self._failed.get(backbone)
        if failed is not None and time.monotonic() - failed[0] < self.retry_after_s:
            raise LightCLIPError(failed[1])  # e.g. offline: answer at once instead of probing again
        with self._lock:
            lock = self._locks.setdefault(backbone, threading.Lock())
        with lock:  # two sessions asking for the same new backbone build it once
            if (key, backbone) not in self._engines:
                self._engines[key, backbone] = self._build(backbone, self.gallery_of(key), zero_shot, progress)
            return self._engines[key, backbone]

    def _build(self, backbone: str, gallery: Gallery, zero_shot: bool, progress: Progress | None) -> SearchEngine:
        """A new engine (the caller holds the backbone's lock); a failed zero-shot or Hub load is remembered."""
        if zero_shot:
            try:
                return SearchEngine.from_zero_shot(backbone, gallery, cache_dir=self.cache_dir, progress=progress,
                                                   pretrained=self.zero_shot_pretrained, device=self.device)
            except LightCLIPError as exc:
                self._failed[backbone] = (time.monotonic(), str(exc))
                raise
        if backbone not in self.checkpoints:
            self._fetch_from_hub(backbone)
        loaded = next((e for (_, b), e in list(self._engines.items()) if b == backbone), None)
        if loaded is not None:  # the same weights over another gallery: one model in memory
            return SearchEngine.over_gallery(loaded.model, self.checkpoints[backbone], gallery, cache_dir=self.cache_dir,
                                             progress=progress)
        # the image side is built on its first use (an upload, footage, a gallery without shipped
        # embeddings): a text search over shipped embeddings needs only the text side
        return SearchEngine.from_checkpoint(self.checkpoints[backbone], gallery, cache_dir=self.cache_dir,
                                            progress=progress, device=self.device, defer_image=True)

    def warm(self, backbone: str, wait: bool = True) -> SearchEngine:
        """Load `backbone` and open (on a fresh machine, export) its ONNX query graphs — the frozen
        encoder's pooled vector or the token states a tokens text head reads, and the head itself —
        then encode one query, so that its first search waits for nothing. With ``wait=False`` the
        graphs are built in the background (a forked exporter, `OnnxFunction.build_in_background`) and
        queries run on PyTorch until they are ready: what the app does, so that its page opens at once."""
        engine = self.get(backbone)
        for graph in query_graphs(engine.model):
            if wait:
                graph.session()
            else:
                graph.build_in_background()
        engine.model.encode_text(["a person"])
        return engine

    def warming(self, backbone: str) -> list[str]:
        """What is still being prepared for `backbone`'s queries, in words: ``LOADING + backbone`` while
        its checkpoint loads, then its ONNX graphs not ready yet; [] once its searches run on their final
        runtime, or when nothing is loading it."""
        engine = self._engines.get((DEFAULT_GALLERY_KEY, backbone))
        if engine is None:  # being loaded now (another thread holds its lock), or not asked for
            lock = self._locks.get(backbone)
            return [LOADING + backbone] if lock is not None and lock.locked() else []
        return [g.what for g in query_graphs(engine.model) if not g.ready()]

    def preload(self, backbones: Sequence[str] | None = None, gallery: Any = None) -> list[str]:
        """Build the engines of `backbones` (default: every bundled checkpoint) over `gallery` whose
        shipped gallery embeddings are current, one after another: a checkpoint load each, never a
        gallery encode (one without current embeddings is left for its first search). The app runs this
        in the background once its default model is warm, so the first search with any bundled encoder
        needs only a text encode. Returns the backbones now loaded; a failure is logged and skipped."""

        done = []
        for b in backbones if backbones is not None else self.available():
            if self.is_loaded(b, gallery):
                done.append(b)
                continue
            ckpt = self.checkpoints.get(b)
            try:
                if ckpt is None or not shipped_embeddings_current(ckpt, self.gallery_of(gallery)):
                    continue
                self.get(b, gallery=gallery)
                done.append(b)
            except LightCLIPError as exc:
                log(f"preload: {b} skipped ({exc})")
        return done

    def _fetch_from_hub(self, backbone: str) -> None:
        """Download `backbone`'s checkpoint from `hub_repo` into the checkpoints directory (caller holds its lock)."""

        try:
            dest = pull_checkpoint(self.hub_repo, backbone, self.checkpoints_dir)
        except LightCLIPError as exc:
            self._failed[backbone] = (time.monotonic(), str(exc))
            raise
        self.checkpoints[backbone] = dest
