"""LightCLIP: a lightweight vision trunk inside CLIP's recipe, against a frozen text encoder.

    images (B, 3, H, W) -> backbone -> (B, F) -> projection head -> (B, D) -> L2 normalise
    texts  list[str]    -> frozen text encoder (cached) -> pooled (B, D) [+ token states (B, T, D)]
                        -> text head (optional, learned) -> (B, D) -> L2 normalise

D is the text encoder's width (384 for minilm-l6, 512 for clip-vit-b-32). The text encoder stays
frozen; the image side (trunk, head, temperature, optional ID classifier) and the optional text head
(models/text_heads.py: ``text_head="tokens"`` or ``"pooled"``) learn. Without a text head the joint
space is the frozen sentence vector itself, as in checkpoints written before heads existed.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..configs import config_kwargs
from ..errors import LightCLIPError
from ..runtime import OnnxFunction, requested_runtime, state_key
from .backbones import Backbone, create_backbone
from .heads import ProjectionHead
from .text_encoders import TextEncoder, TextFeatures, create_text_encoder
from .text_heads import TextHeadGraph, create_text_head

TEXT_HEAD_CHUNK = 256  # texts per text-head batch in encode_text
# The image side: what `LightCLIP.defer_image_tower` leaves unbuilt until first read
IMAGE_TOWER = ("backbone", "head", "attribute_heads")
_TOWER_LOCK = threading.RLock()


def _check_value(what: str, name: str, value: Any, kind: str) -> None:
    """One sentence when a config value is not what `kind` says: 'str', 'int>=0', 'int>=1', 'int>=1|None',
    'float>0', 'unit' (0 <= x < 1) or 'bool'."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_num = (is_int or isinstance(value, float)) and math.isfinite(value)
    ok = {"str": isinstance(value, str) and bool(value), "bool": isinstance(value, bool),
          "int>=0": is_int and value >= 0, "int>=1": is_int and value >= 1,
          "int>=1|None": value is None or (is_int and value >= 1),
          "float>0": is_num and value > 0, "unit": is_num and 0 <= value < 1}[kind]
    if not ok:
        want = {"str": "a name", "bool": "true or false", "int>=0": "a whole number of at least 0",
                "int>=1": "a whole number of at least 1", "int>=1|None": "null or a whole number of at least 1",
                "float>0": "a number above 0", "unit": "a number from 0 up to 1 (not 1)"}[kind]
        raise LightCLIPError(f"{what} config: {name} must be {want} (got {value!r}).")


@dataclass
class LightCLIPConfig:
    """Everything needed to rebuild a LightCLIP model's architecture (saved with checkpoints)."""

    backbone: str
    text_encoder: str = "minilm-l6"
    image_size: tuple[int, int] | None = None  # (H, W); None: the backbone's default (256, 128)
    head: str = "mlp"  # "linear" | "mlp"
    head_hidden_dim: int | None = None  # mlp width; None: max(feature width, D)
    head_dropout: float = 0.0
    stripes: int = 0  # > 0: pool that many horizontal bands of the feature map (part pooling), 0: global average
    num_classes: int = 0  # > 0 adds an ID classifier over training identities (IRRA's ID loss)
    init_temperature: float = 0.07  # CLIP's init: logit scale 1 / 0.07
    learn_temperature: bool = True  # False keeps 1/τ fixed (IRRA fixes τ = 0.02)
    max_logit_scale: float = 100.0  # CLIP's clamp
    text_head: str = "none"  # "none" | "pooled" | "tokens": a learned head over the frozen encoder's output
    text_head_width: int | None = None  # None: the head's default (192 for tokens, D for pooled)
    text_head_layers: int = 1  # attention layers of the tokens head
    # Attribute classifiers on the pooled image features (training-time supervision; unused at search):
    # name -> number of values, e.g. {"upper_colour": 14}. Empty: none.
    attribute_classes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["image_size"] is not None:
            d["image_size"] = list(d["image_size"])
        return d

    def __post_init__(self) -> None:
        for name, kind in (("backbone", "str"), ("text_encoder", "str"), ("head", "str"), ("text_head", "str"),
                           ("head_hidden_dim", "int>=1|None"), ("head_dropout", "unit"), ("stripes", "int>=0"),
                           ("num_classes", "int>=0"), ("init_temperature", "float>0"), ("learn_temperature", "bool"),
                           ("max_logit_scale", "float>0"), ("text_head_width", "int>=1|None"),
                           ("text_head_layers", "int>=1")):
            _check_value("LightCLIP", name, getattr(self, name), kind)
        if not isinstance(self.attribute_classes, dict):
            raise LightCLIPError(f"LightCLIP config: attribute_classes must be an object (got {self.attribute_classes!r}).")
        for name, n in self.attribute_classes.items():
            _check_value("LightCLIP", f"attribute_classes[{name!r}]", n, "int>=1")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LightCLIPConfig":
        if not isinstance(d, dict):
            raise LightCLIPError(f"LightCLIP config: \"model\" must be an object (got {type(d).__name__}).")
        return cls(**config_kwargs(cls, d, "LightCLIP"))


class LightCLIP(nn.Module):
    """Vision trunk + projection head trained against a frozen text encoder."""

    def __init__(
        self,
        config: LightCLIPConfig,
        pretrained_backbone: bool = False,
        pretrained_text: bool = True,
        text_encoder: TextEncoder | None = None,
        image_tower: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.text_encoder = text_encoder or create_text_encoder(config.text_encoder, pretrained_text)
        self.embed_dim = self.text_encoder.dim
        # Without `image_tower`, the trunk, projection head and attribute heads are built when first used, by
        # the function `defer_image_tower` was given (a checkpoint load: text queries alone never need them).
        self._pending_image_tower = None
        if image_tower:
            self._build_image_tower(pretrained_backbone)
        # Stored as a log so the optimiser works on an unconstrained scalar, as in CLIP.
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / config.init_temperature)), requires_grad=config.learn_temperature
        )
        self.classifier = (
            nn.Linear(self.embed_dim, config.num_classes) if config.num_classes > 0 else None
        )
        if image_tower:
            self._build_attribute_heads()
        self.text_head = create_text_head(config.text_head, self.embed_dim, config.text_head_width,
                                          config.text_head_layers)
        self.image_runtime = "torch"  # or "onnx" (`use_runtime`): CPU inference through ONNX Runtime
        self._runtime_auto = False  # chosen by "auto": a missing graph is exported in the background
        self._image_onnx = None
        self._text_head_onnx = None

    def _build_image_tower(self, pretrained_backbone: bool = False) -> None:
        cfg = self.config
        self.backbone: Backbone = create_backbone(cfg.backbone, pretrained_backbone, cfg.image_size, cfg.stripes)
        self.head = ProjectionHead(self.backbone.num_features, self.embed_dim, kind=cfg.head,
                                   hidden_dim=cfg.head_hidden_dim, dropout=cfg.head_dropout)

    def _build_attribute_heads(self) -> None:
        classes = self.config.attribute_classes
        self.attribute_heads = nn.ModuleDict(
            {name: nn.Linear(self.backbone.num_features, n) for name, n in classes.items()}
        ) if classes else None

    def defer_image_tower(self, attach: Callable[["LightCLIP"], None]) -> None:
        """Leave the image side unbuilt (the model was made with ``image_tower=False``) until something
        reads `IMAGE_TOWER`: then `attach(model)` builds it (`build_image_tower`) and fills its weights.
        A text query never reads it, so a served model whose gallery embeddings are shipped starts
        without importing timm (~2 s) or building a trunk."""
        self._pending_image_tower = attach

    def build_image_tower(self) -> None:
        """Build the deferred image side, untrained, on the model's device and in its mode."""
        self._build_image_tower()
        self._build_attribute_heads()
        for m in (self.backbone, self.head, self.attribute_heads):
            if m is not None:
                m.to(self.device).train(self.training)

    @property
    def image_tower_built(self) -> bool:
        return "backbone" in self._modules

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name not in IMAGE_TOWER or self.__dict__.get("_pending_image_tower") is None:
                raise
        with _TOWER_LOCK:  # two threads reading it first build it once
            attach = self.__dict__.get("_pending_image_tower")
            if attach is not None and not self.image_tower_built:
                try:
                    attach(self)
                except BaseException:  # e.g. a damaged file: no half-filled tower stays behind
                    for part in IMAGE_TOWER:
                        self._modules.pop(part, None), self.__dict__.pop(part, None)
                    raise
                self._pending_image_tower = None
        return super().__getattr__(name)

    def use_runtime(self, name: str | None = None) -> str:
        """Encode images and texts on `name` (``torch``, ``onnx`` or ``auto``; see lightclip_core.runtime)
        at inference time on the CPU; training (gradients on) always runs in PyTorch. Returns the choice."""

        self.image_runtime = self.text_encoder.use_runtime(name)
        self._runtime_auto = requested_runtime(name) == "auto"
        return self.image_runtime

    def image_onnx(self):
        """The image side (trunk, pooling, head, normalisation) as an ONNX Runtime function, exported and
        checked against PyTorch on first use and cached on disk by a hash of its weights."""

        if self._image_onnx is None:
            graph = _ImageGraph(self.backbone, self.head).eval()
            h, w = self.image_size
            example = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(0))
            self._image_onnx = OnnxFunction(graph, [example], ["images"], {"images": {0: "batch"}},
                                            key=f"image-{self.config.backbone}-{state_key(graph, self.image_size)}",
                                            what=f"the {self.config.backbone} image encoder")
        return self._image_onnx

    def text_head_onnx(self):
        """The text head and normalisation as an ONNX Runtime function (exported, checked and cached like
        the image side): pooled (B, D), token states (B, T, D), mask (B, T) as float -> (B, D)."""

        if self._text_head_onnx is None:
            graph = TextHeadGraph(self.text_head).eval()
            feats = self.text_encoder.encode_features(["a man in a grey jacket and black trousers", "a woman"])
            example = [feats.pooled.cpu(), feats.states.cpu(), feats.mask.float().cpu()]
            axes = {"pooled": {0: "batch"}, "states": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}}
            self._text_head_onnx = OnnxFunction(graph, example, ["pooled", "states", "mask"], axes,
                                                key=f"text-head-{self.config.text_head}-{state_key(graph)}",
                                                what=f"the {self.config.backbone} model's text head", threads=1)
        return self._text_head_onnx

    @property
    def needs_token_states(self) -> bool:
        """Whether the text head reads token states (so caches must keep them, not only pooled vectors)."""
        return self.text_head is not None and self.text_head.needs_states

    @property
    def image_size(self) -> tuple[int, int]:
        """The (H, W) input size the model expects."""
        return self.backbone.image_size

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    @property
    def image_mean(self) -> tuple[float, ...]:
        return self.backbone.mean

    @property
    def image_std(self) -> tuple[float, ...]:
        return self.backbone.std

    def encode_image(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W) -> (B, D)``, L2-normalised."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise LightCLIPError(
                f"encode_image takes a (B, 3, H, W) batch, got shape {tuple(images.shape)}."
            )
        if (self.image_runtime == "onnx" and not self.training and not torch.is_grad_enabled()
                and images.device.type == "cpu"):
            out = self.image_onnx().run_or_defer(self._runtime_auto, images.float().contiguous())
            if out is not None:  # None: auto, the graph is being exported; this batch runs on PyTorch
                return torch.from_numpy(out)
        features = self.backbone(images)  # (B, F)
        return F.normalize(self.head(features), dim=-1)  # (B, D)

    def encode_text(self, texts: Sequence[str]) -> Tensor:
        """``list[str] -> (B, D)``, L2-normalised, in the joint space: the frozen encoder's output
        (cached, shared by every model on that encoder) through this model's text head, if any."""
        if self.text_head is None:
            return self.text_encoder.encode(texts)
        if not isinstance(texts, str) and len(texts) > TEXT_HEAD_CHUNK:
            return self._encode_text_in_chunks(list(texts))
        if self.needs_token_states:
            feats = self.text_encoder.encode_features(texts)
        else:
            pooled = self.text_encoder.encode(texts)
            feats = TextFeatures(pooled, pooled.new_zeros(pooled.shape[0], 1, pooled.shape[1]),
                                 torch.ones(pooled.shape[0], 1, dtype=torch.bool, device=pooled.device))
        return self.project_text(feats.pooled, feats.states, feats.mask)

    def _encode_text_in_chunks(self, texts: list[str]) -> Tensor:
        """`encode_text` of many texts, TEXT_HEAD_CHUNK at a time in order of length: one batch of 4,000
        evaluation queries padded every text to the longest and held the head's (B, H, T, T) attention at
        once, and ONNX Runtime kept that memory, which slowed every later one-query call by ~1.5 ms."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = [self.encode_text([texts[i] for i in order[start : start + TEXT_HEAD_CHUNK]])
                 for start in range(0, len(order), TEXT_HEAD_CHUNK)]
        back = torch.tensor(order).argsort()  # the inverse permutation, as TokenHead's length buckets use
        return torch.cat(parts)[back.to(parts[0].device)]  # (B, D), in the order given

    def project_text(self, pooled: Tensor, states: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """The frozen encoder's output -> the joint space ``(B, D)``, L2-normalised (through the text head)."""
        if self.text_head is None:
            return F.normalize(pooled, dim=-1)
        if (self.image_runtime == "onnx" and not self.training and not torch.is_grad_enabled()
                and pooled.device.type == "cpu" and states is not None):
            out = self.text_head_onnx().run_or_defer(self._runtime_auto, pooled.float(), states.float(), mask.float())
            if out is not None:
                return torch.from_numpy(out)
        return F.normalize(self.text_head(pooled, states, mask), dim=-1)  # (B, D)

    def scale(self) -> Tensor:
        """The logit scale 1/τ, clamped at `max_logit_scale`."""
        return self.logit_scale.exp().clamp(max=self.config.max_logit_scale)

    def forward(
        self,
        images: Tensor,
        texts: Sequence[str] | None = None,
        text_features: Tensor | None = None,
        text_states: tuple[Tensor, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Encode a batch of image-caption pairs.

        Pass `texts`, or the frozen encoder's precomputed pooled `text_features` ``(B, D)`` (and, for
        a tokens head, `text_states` = (states (B, T, D), mask (B, T))): they go through the text head.
        Returns ``image_features``, ``text_features`` (if any), ``logit_scale``, and with an ID
        classifier ``image_logits`` / ``text_logits`` ``(B, num_classes)``.
        """
        if self.attribute_heads is not None:
            features = self.backbone(images)  # (B, F): band 0 (top) first when part-pooled
            out: dict[str, Tensor] = {"image_features": F.normalize(self.head(features), dim=-1),
                                      "attribute_logits": {k: h(features) for k, h in self.attribute_heads.items()}}
        else:
            out = {"image_features": self.encode_image(images)}
        out["logit_scale"] = self.scale()
        img = out["image_features"]
        if text_features is None and texts is not None:
            text_features = self.encode_text(texts)
        elif text_features is not None and self.text_head is not None:
            states, mask = text_states if text_states is not None else (None, None)
            text_features = self.project_text(text_features.to(img.device), states, mask)
        if text_features is not None:
            out["text_features"] = text_features.to(device=img.device, dtype=img.dtype)
        if self.classifier is not None:
            out["image_logits"] = self.classifier(out["image_features"])
            if text_features is not None:
                out["text_logits"] = self.classifier(out["text_features"])
        return out

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Everything but the frozen text encoder, whose weights come from its own package."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("text_encoder.")}


def create_model(
    backbone: str,
    text_encoder: str = "minilm-l6",
    pretrained: bool = False,
    image_size: tuple[int, int] | None = None,
    **config: Any,
) -> LightCLIP:
    """Build a LightCLIP model.

    `backbone` is a key of `list_backbones()` or ``timm:<name>``; `pretrained` loads the trunk's
    ImageNet weights (cache, or one download; offline without a cache it fails in one sentence).
    The text encoder is always pretrained and frozen. Extra keyword arguments set
    `LightCLIPConfig` fields (``head="linear"``, ``num_classes=11003``, ...).
    """
    cfg = LightCLIPConfig(
        backbone=backbone,
        text_encoder=text_encoder,
        image_size=tuple(image_size) if image_size is not None else None,
        **config,
    )
    return LightCLIP(cfg, pretrained_backbone=pretrained)


class _ImageGraph(nn.Module):
    """What `LightCLIP.encode_image` computes, as one module to export: ``(B, 3, H, W) -> (B, D)``."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, images: Tensor) -> Tensor:
        return F.normalize(self.head(self.backbone(images)), dim=-1)
