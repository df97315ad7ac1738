"""What a training run is made of: `TrainConfig`, its loss weights and augmentations, and the presets.

Each field that `train` takes from the command line is declared with `option(...)`: its default and
its help live here, once, and the CLI builds its flags from these fields (`add_options`). No torch
here, so ``python -m lightclip_core --help`` stays fast.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .configs import config_kwargs
from .registry import one_of

OPTION = "lightclip_option"
_TYPES = {"int": int, "float": float, "str": str}


def option(default: Any, help: str, flag: str | None = None, **argparse_kw: Any) -> Any:
    """A dataclass field that is also a command-line flag (``--name-with-dashes`` unless `flag`)."""
    return field(default=default, metadata={OPTION: {"help": help, "flag": flag, **argparse_kw}})


def option_fields(cls: type) -> list:
    """The fields of dataclass `cls` declared with `option`."""
    return [f for f in fields(cls) if OPTION in f.metadata]


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per `option` field of `cls`, dest = the field's name, default None (unset flags leave
    the value to --preset or the field's default, which the help states)."""
    for f in option_fields(cls):
        kw = dict(f.metadata[OPTION])
        flag = kw.pop("flag") or "--" + f.name.replace("_", "-")
        help_text = kw.pop("help")
        if "default" not in help_text and f.default not in ("", None):
            help_text += f" (default {f.default})"
        if "choices" not in kw:
            kw.setdefault("type", _TYPES.get(str(f.type)))
            kw.setdefault("metavar", flag[2:].upper().replace("-", "_"))
        parser.add_argument(flag, dest=f.name, default=None, help=help_text, **kw)


def given_options(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The `option` fields of `cls` whose flag was given on the command line."""
    return {f.name: getattr(args, f.name) for f in option_fields(cls) if getattr(args, f.name, None) is not None}


def image_size_arg(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (e.g. ``256x128``) or a single side ``224``."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        sides = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 256x128, got {text!r}") from None
    if len(sides) == 1:
        sides *= 2
    if len(sides) != 2 or min(sides) <= 0:
        raise argparse.ArgumentTypeError(f"expected HxW such as 256x128, got {text!r}")
    return sides[0], sides[1]


@dataclass
class AugmentConfig:
    """Training augmentations; each can be switched off (0)."""

    flip: float = 0.5  # horizontal flip probability (captions say nothing about left and right)
    pad: float = 0.08  # pad then random-crop back to size, as a share of the width (IRRA: 10 px at 128)
    brightness: float = 0.15
    contrast: float = 0.15
    saturation: float = 0.1
    erase: float = 0.3  # random erasing probability
    erase_scale: tuple[float, float] = (0.02, 0.12)
    # What a street camera does to a person (data/transforms.py): each a probability, 0 = off.
    crop: float = 0.0  # > 0: random resized crop keeping at least this share of the picture's area
    downsample: float = 0.0  # shrink to 30-80 % and back (a far, low-resolution camera)
    blur: float = 0.0  # Gaussian blur, sigma 0.3-1.2 px at the model's input size (defocus, motion)
    jpeg: float = 0.0  # re-encode as JPEG, quality 25-85 (compression blocks and ringing)
    greyscale: float = 0.0  # drop colour (night cameras; captions keep their colour words, so keep it rare)
    noise: float = 0.0  # sensor noise: Gaussian, sigma up to this (in 0..1 pixel units), on every picture

    def to_dict(self) -> dict:
        d = asdict(self)
        d["erase_scale"] = list(d["erase_scale"])
        for name in CAMERA_FIELDS:  # omitted when off: records (and the teacher-store keys made from them)
            if not d[name]:  # written before these existed stay the same
                del d[name]
        return d

    @property
    def camera(self) -> bool:
        """Whether any camera degradation is on."""
        return any(getattr(self, name) for name in CAMERA_FIELDS)


CAMERA_FIELDS = ("crop", "downsample", "blur", "jpeg", "greyscale", "noise")


AUGMENTATIONS: dict[str, AugmentConfig] = {
    # The person-search set (IRRA), for long runs where regularisation pays.
    "standard": AugmentConfig(),
    # Flip only: short CPU runs from scratch underfit, and pad-and-crop and light jitter were measured
    # to slow early learning several-fold (tiny SynthPedes, MobileNetV3-Small, 64x32).
    "light": AugmentConfig(pad=0.0, brightness=0.0, contrast=0.0, saturation=0.0, erase=0.0),
    "none": AugmentConfig(flip=0.0, pad=0.0, brightness=0.0, contrast=0.0, saturation=0.0, erase=0.0),
    # The person-search set plus a street camera's degradations and stronger light changes: for pictures
    # that must transfer from SynthPedes to real footage (docs/REAL.md).
    "camera": AugmentConfig(brightness=0.3, contrast=0.3, saturation=0.25, crop=0.75, downsample=0.4, blur=0.3,
                            jpeg=0.3, greyscale=0.02, noise=0.03),
}

# Distillation weights used with --teacher unless given (see docs/TRAINING.md's distillation A/B).
DEFAULT_KD = {"kd_kl": 1.0, "kd_cos": 1.0}


@dataclass
class LossConfig:
    """Loss weights (0 turns a loss off) and SDM options."""

    itc: float = option(1.0, "ITC loss weight")
    sdm: float = option(0.0, "SDM loss weight")
    id: float = option(0.0, "ID loss weight")
    sdm_kl: str = "pred-label"
    sdm_epsilon: float = 1e-8
    kd_kl: float = option(0.0, f"distillation: KL of similarity distributions (MobileCLIP), weight "
                          f"(default 0, with --teacher {DEFAULT_KD['kd_kl']:g})")
    kd_cos: float = option(0.0, f"distillation: 1 - cosine to the teacher's image embedding, weight "
                           f"(default 0, with --teacher {DEFAULT_KD['kd_cos']:g})")
    neg: float = option(0.0, "weight of the counterfactual hard-negative loss (needs synth --counterfactuals)",
                        flag="--negatives", metavar="W")
    attr: float = option(0.0, "weight of the attribute supervision loss (SynthPedes' attributes.json)",
                         flag="--attributes", metavar="W")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainConfig:
    """Everything a run needs; saved, fully resolved, as ``run_dir/train_config.json``."""

    backbone: str = option("mobilenetv3_large_100", "vision trunk (see `backbones`)")
    text_encoder: str = option("minilm-l6", "frozen text encoder")
    dataset: str = option("synthpedes", "synthpedes, rstpreid, cuhkpedes, icfgpedes, flickr30k, folder")
    root: str = option("data/synthpedes", "directory with the dataset's annotation file")
    out: str = option("runs/latest", "run directory")
    epochs: int = option(30, "epochs")
    batch_size: int = option(64, "images per step")
    lr: float = option(3e-4, "peak learning rate (AdamW)")
    trunk_lr_scale: float = option(1.0, "the trunk's learning rate as a share of --lr (heads take --lr): below 1 "
                                   "keeps more of what pretraining taught")
    weight_decay: float = option(0.05, "AdamW weight decay")
    warmup_epochs: float = option(2.0, "linear warm-up, in epochs")
    min_lr_ratio: float = 0.01  # cosine decays to lr * min_lr_ratio
    image_size: tuple[int, int] | None = option(None, "HxW (default: the backbone's own)", type=image_size_arg)
    pretrained: bool = False
    head: str = option("mlp", "projection head", choices=["linear", "mlp"])
    stripes: int = option(0, "pool N horizontal bands of the feature map (part pooling) instead of the whole "
                          "map; 0: global average", metavar="N")  # LightCLIPConfig.stripes
    text_head: str = option("none", "a learned head over the frozen text encoder: tokens (an attention layer over "
                            "its token states; keeps which word belongs to which garment), pooled (an MLP on the "
                            "sentence vector) or none (default: the frozen vector is the joint space)",
                            choices=["none", "pooled", "tokens"])
    init: str = option("", "warm-start from this checkpoint (same backbone and text encoder): its tensors that fit "
                       "are copied, new parts (a text head, attribute heads) start fresh", metavar="CKPT_DIR")
    temperature: float = option(0.07, "initial softmax temperature τ (logit scale 1/τ)")
    learn_temperature: bool = True
    losses: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int = option(2, "data loader processes", flag="--workers")
    device: str = option("auto", "where to train", choices=["auto", "cpu", "cuda", "mps"])
    precision: str = option("auto", "auto: bf16 on CUDA, fp32 elsewhere", choices=["auto", "fp32", "bf16", "fp16"])
    channels_last: str = option("auto", "channels_last memory format (default auto: whenever the backbone allows "
                                "it; faster on CPU and CUDA)", choices=["auto", "on", "off"])
    threads: int = option(0, "torch CPU threads (default: all cores)")
    seed: int = option(0, "seed of every random draw")
    deterministic: bool = False
    train_split: str = "train"
    val_split: str = "val"
    max_steps_per_epoch: int = option(0, "cap steps per epoch (smoke tests; default 0: the whole epoch)")
    samples_per_epoch: int = option(0, "images per epoch, drawn without repeats from the training split "
                                    "(default: all of it)")
    teachers: list[str] = field(default_factory=list)  # checkpoint dirs to distil from (several: an ensemble)
    teacher_views: int = option(0, "augmented views per image in the teacher store (default: 2 with "
                                "flip-only augmentation, else 8)")
    eval_batch_size: int = option(128, "images per evaluation batch")
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["losses"] = self.losses.to_dict()
        d["augment"] = self.augment.to_dict()
        if self.image_size is not None:
            d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = config_kwargs(cls, d, "training")
        d["losses"] = LossConfig(**d.get("losses", {}))
        aug = dict(d.get("augment", {}))
        if "erase_scale" in aug:
            aug["erase_scale"] = tuple(aug["erase_scale"])
        d["augment"] = AugmentConfig(**aug)
        return cls(**d)


# Named presets: sizes measured on the 2-core CPU machine (see the README's training section).
PRESETS: dict[str, dict[str, Any]] = {
    # 128x96 is the smallest input every study backbone accepts (InceptionV3 needs >= 75 px a side,
    # CoAtNet-0 multiples of 32). Short from-scratch runs underfit, so augmentation is light.
    # A/B on MobileNetV3-Large, 2 epochs, val mAP: this preset 3.08; standard augmentation 2.61;
    # lr 5e-3 2.44; SDM instead of ITC 2.47; fixed tau 0.02 2.53; + ID loss 3.02.
    "cpu-synth": {
        "dataset": "synthpedes",
        "image_size": (128, 96),
        "epochs": 5,
        "batch_size": 64,
        "lr": 2e-3,
        "warmup_epochs": 0.5,
        "num_workers": 1,
        "augment": AUGMENTATIONS["light"],
    },
    # The bundled recipe on CPU: the large SynthPedes (`synth --extra-train-ids 8750`, 10,000 people),
    # 33 epochs of 4,000 images (132,000 images, about three passes) for every backbone, part pooling
    # over 4 horizontal bands (MobileNetV3-Small, ITC, 15,000 images: val mAP 5.06 against 3.82 with
    # global pooling), distilled from the flagship with `--teacher` (a preset cannot name a checkpoint).
    # The same images for all, not the same minutes: at an equal CPU time (12 min) the trunks slower
    # than MobileNetV3-Small saw 8,000-16,000 images and ended below the earlier 25,000-image models
    # (README), so heavy trunks take longer. 33 epochs, not the first 11: MobileNetV3-Small reached
    # bundled-gallery test R@1 28.55 after 132,000 images against 7.40 after 44,000 (README).
    "cpu-synth-kd": {
        "dataset": "synthpedes",
        "image_size": (128, 96),
        "epochs": 33,
        "batch_size": 64,
        "lr": 2e-3,
        "warmup_epochs": 0.5,
        "num_workers": 1,
        "samples_per_epoch": 4000,
        "stripes": 4,
        "augment": AUGMENTATIONS["light"],
    },
    # One GPU trains all nine backbones alike: IRRA-like 256x128 input, 30 epochs, bf16 autocast,
    # the full person-search augmentation (long runs overfit without it). Needs CUDA: on a machine
    # without it the run stops at once with one sentence. Use it on the large SynthPedes
    # (`synth --extra-train-ids ...`), optionally with --teacher.
    "gpu-synth": {
        "dataset": "synthpedes",
        "image_size": (256, 128),
        "epochs": 30,
        "batch_size": 256,
        "lr": 1e-3,
        "warmup_epochs": 1.0,
        "num_workers": 8,
        "device": "cuda",
        "precision": "bf16",
        "stripes": 4,
        "augment": AUGMENTATIONS["standard"],
        "eval_batch_size": 512,
    },
}

# cpu-synth's per-backbone epoch counts where its default 5 would overrun its CPU budget (light
# backbones <= 15 min, the heaviest <= 40 min on 2 cores; an epoch is 5,000 images). Measured
# throughput of one training step (forward, backward, AdamW) at 128x96, batch 64, random tensors,
# 2 threads (images/s): mobilenetv3_small 138, mobilenetv3_large 50, mobilenetv2 38, efficientnet_b0
# 29, fastvit_t8 29, inception_v3 21, ViT-B/32 15, efficientnet_b3 13, coatnet_0 8.4.
PRESET_EPOCHS: dict[str, dict[str, int]] = {
    "cpu-synth": {"efficientnet_b3": 4, "coatnet_0_rw_224": 3},
}


def preset(name: str, backbone: str | None = None) -> dict[str, Any]:
    """The TrainConfig fields of preset `name`, with its epoch count for `backbone`."""
    one_of("preset", name, PRESETS, "presets")
    chosen = dict(PRESETS[name])
    if backbone in PRESET_EPOCHS.get(name, {}):
        chosen["epochs"] = PRESET_EPOCHS[name][backbone]
    return chosen
