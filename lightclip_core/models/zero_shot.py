"""Pretrained CLIP-family models used whole, zero-shot: their own image and text towers.

These are the study's subject trained at scale: small vision encoders inside CLIP (MobileCLIP) and
CLIP's ViT-B/32. They need no training here, but their weights come from the Hugging Face Hub once
(cached afterwards). Offline without a cache they fail in one sentence (`OfflineError`), never a
traceback. `pretrained=False` builds the same architecture with random weights (tests, profiling).

A `ZeroShotCLIP` offers what search, evaluation and profiling use of a `LightCLIP`: ``encode_image``,
``encode_text``, ``image_size``, ``embed_dim``, ``image_mean/std``, ``text_encoder``, ``backbone``,
``head``, ``config.backbone``. Person crops are tall and these models take squares, so images are
letterboxed (padded to a square) rather than cropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ..errors import LightCLIPError
from ..hub import cached_hub_file, resolve_hub_file
from ..registry import Registry
from .text_encoders import DEFAULT_CACHE_SIZE, TextEncoder

HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass(frozen=True)
class ZeroShotSpec:
    key: str
    display_name: str
    model_name: str  # open_clip architecture
    pretrained_tag: str  # open_clip weight tag
    hf_repo: str  # where open_clip's pretrained config points for that tag

    @property
    def label(self) -> str:
        return f"{self.display_name} (pretrained CLIP, zero-shot, needs a one-time download)"


ZERO_SHOT: Registry[ZeroShotSpec] = Registry("zero-shot model")
for _spec in (
    ZeroShotSpec("clip-vit-b-32", "CLIP ViT-B/32", "ViT-B-32", "openai", "timm/vit_base_patch32_clip_224.openai"),
    ZeroShotSpec("mobileclip-s1", "MobileCLIP-S1", "MobileCLIP-S1", "datacompdr", "apple/MobileCLIP-S1-OpenCLIP"),
    ZeroShotSpec("mobileclip-s2", "MobileCLIP-S2", "MobileCLIP-S2", "datacompdr", "apple/MobileCLIP-S2-OpenCLIP"),
    ZeroShotSpec("mobileclip2-s0", "MobileCLIP2-S0", "MobileCLIP2-S0", "dfndr2b", "timm/MobileCLIP2-S0-OpenCLIP"),
):
    ZERO_SHOT.register(_spec.key, _spec)


def list_zero_shot() -> list[str]:
    return ZERO_SHOT.names()


def is_zero_shot(key: str) -> bool:
    return key in ZERO_SHOT.names()


def weights_cached(key: str) -> bool:
    """True when the model's weights are in the local Hub cache (no network touched)."""
    spec = ZERO_SHOT.get(key)
    return cached_hub_file(spec.hf_repo, list(HF_FILES)) is not None


@dataclass
class ZeroShotConfig:
    backbone: str  # the zero-shot key (search and bench treat it like a backbone key)
    text_encoder: str
    model_name: str
    pretrained_tag: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _OpenCLIPText(TextEncoder):
    """The model's own text tower behind the cached `TextEncoder` interface."""

    def __init__(self, model: nn.Module, tokenizer, key: str, dim: int, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        super().__init__(cache_size)
        self.key, self.dim, self.max_tokens = key, dim, 77
        self.model = model  # shared with ZeroShotCLIP (a submodule here too, so .to() moves it)
        self.tokenizer = tokenizer

    def num_params(self) -> int:
        visual = getattr(self.model, "visual", None)
        return super().num_params() - (sum(p.numel() for p in visual.parameters()) if visual is not None else 0)

    def _encode_batch(self, texts: list[str]) -> Tensor:
        return self.model.encode_text(self.tokenizer(texts).to(self.device), normalize=True)


class ZeroShotCLIP(nn.Module):
    """An open_clip model used whole for text-to-image search."""

    letterbox = True

    def __init__(self, key: str, pretrained: bool = True) -> None:
        super().__init__()
        spec = ZERO_SHOT.get(key)
        weights = None
        if pretrained:
            weights = resolve_hub_file(
                spec.hf_repo, list(HF_FILES),
                what=f"The {spec.display_name} weights ({spec.pretrained_tag})",
                alternative="choose one of the bundled LightCLIP models, which work offline",
            )
        try:
            import open_clip
        except ImportError:
            raise LightCLIPError("Zero-shot CLIP models need open_clip: pip install open_clip_torch.") from None
        cfg = open_clip.get_pretrained_cfg(spec.model_name, spec.pretrained_tag) or {}
        model = open_clip.create_model(spec.model_name, pretrained=weights,
                                       force_quick_gelu=bool(cfg.get("quick_gelu")))
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.spec = spec
        self.clip = model
        pre = getattr(model.visual, "preprocess_cfg", {}) or {}
        size = pre.get("size", getattr(model.visual, "image_size", 224))
        size = (size, size) if isinstance(size, int) else tuple(size)
        self._image_size: tuple[int, int] = (int(size[0]), int(size[1]))
        self.image_mean = tuple(cfg.get("mean") or pre.get("mean") or (0.48145466, 0.4578275, 0.40821073))
        self.image_std = tuple(cfg.get("std") or pre.get("std") or (0.26862954, 0.26130258, 0.27577711))
        with torch.no_grad():
            dim = int(model.encode_text(open_clip.get_tokenizer(spec.model_name)(["a"])).shape[-1])
        self.embed_dim = dim
        self.text_encoder = _OpenCLIPText(model, open_clip.get_tokenizer(spec.model_name), spec.key, dim)
        self.backbone = model.visual  # the image tower, projection included
        self.head = nn.Identity()
        self.config = ZeroShotConfig(spec.key, spec.key, spec.model_name, spec.pretrained_tag)
        self.checkpoint_info = {"zero_shot": True, "pretrained": bool(pretrained)}

    @property
    def image_size(self) -> tuple[int, int]:
        return self._image_size

    @property
    def device(self) -> torch.device:
        return next(self.clip.parameters()).device

    def train(self, mode: bool = True) -> "ZeroShotCLIP":
        return super().train(False)  # frozen: never in training mode

    def encode_image(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise LightCLIPError(f"encode_image takes a (B, 3, H, W) batch, got shape {tuple(images.shape)}.")
        return self.clip.encode_image(images, normalize=True)

    def encode_text(self, texts: Sequence[str]) -> Tensor:
        return self.text_encoder.encode(texts)

    def scale(self) -> Tensor:
        return self.clip.logit_scale.exp()


def create_zero_shot(key: str, pretrained: bool = True) -> ZeroShotCLIP:
    """A pretrained CLIP-family model by key (`list_zero_shot()`); offline without a cached copy of
    its weights this raises `OfflineError` in one sentence."""
    return ZeroShotCLIP(key, pretrained)
