"""Training augmentations, the camera set included: every one keeps the size, dtype and range, does
what it says, and none runs at evaluation. The teacher-store views apply the same degradations,
deterministically."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from lightclip_core.data.transforms import RandomDownUp, RandomJPEG, SensorNoise, eval_transform, train_transform
from lightclip_core.distill import ViewTransform, default_views, view_params
from lightclip_core.train_config import AUGMENTATIONS, AugmentConfig

SIZE = (64, 32)


def model_stub():
    """What the transforms read of a model: its input size and normalisation (identity here, so the
    output is the picture in [0, 1] before erasing)."""
    return SimpleNamespace(image_size=SIZE, image_mean=(0.0, 0.0, 0.0), image_std=(1.0, 1.0, 1.0), letterbox=False)


def picture(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (90, 40, 3), dtype=np.uint8))


ONLY = {name: AugmentConfig(flip=0, pad=0, brightness=0, contrast=0, saturation=0, erase=0, **{name: value})
        for name, value in (("crop", 0.6), ("downsample", 1.0), ("blur", 1.0), ("jpeg", 1.0), ("greyscale", 1.0),
                            ("noise", 0.1))}


@pytest.mark.parametrize("aug", [AUGMENTATIONS["camera"], *ONLY.values()], ids=["camera", *ONLY])
def test_each_augmentation_keeps_size_dtype_and_range(aug):
    torch.manual_seed(0)
    tf = train_transform(model_stub(), replace(aug, erase=0))
    for seed in range(8):
        x = tf(picture(seed))
        assert x.shape == (3, *SIZE) and x.dtype == torch.float32
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_each_degradation_changes_the_picture_the_way_it_says():
    torch.manual_seed(0)
    img = picture().resize((SIZE[1], SIZE[0]))
    plain = np.asarray(img, dtype=np.float32)
    down = np.asarray(RandomDownUp(1.0)(img), dtype=np.float32)
    assert down.shape == plain.shape and np.abs(np.diff(down, axis=1)).mean() < np.abs(np.diff(plain, axis=1)).mean()
    jpeg = RandomJPEG(1.0)(img)
    assert jpeg.size == img.size and jpeg.mode == "RGB" and not np.array_equal(np.asarray(jpeg), plain)
    assert RandomDownUp(0.0)(img) is img and RandomJPEG(0.0)(img) is img
    grey = train_transform(model_stub(), ONLY["greyscale"])(img)
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    x = torch.full((3, 4, 4), 0.5)
    assert float(SensorNoise(0.2)(x.clone()).sub(0.5).abs().max()) > 0


def test_evaluation_runs_no_augmentation():
    """The eval transform is a resize and a normalise: the same picture gives the same tensor every time,
    equal to resizing it by hand, whatever augmentation the run trained with."""
    img = picture()
    tf = eval_transform(model_stub())
    a, b = tf(img), tf(img)
    assert torch.equal(a, b)
    ref = torch.from_numpy(np.asarray(img.resize((SIZE[1], SIZE[0]), Image.Resampling.BICUBIC), dtype=np.float32) / 255)
    torch.testing.assert_close(a, ref.permute(2, 0, 1), atol=1 / 255 + 1e-6, rtol=0)


def test_records_without_camera_fields_stay_as_they_were():
    """Old runs' configs and teacher-store keys are made from to_dict: the new fields appear only when on."""
    assert "jpeg" not in AUGMENTATIONS["standard"].to_dict() and not AUGMENTATIONS["standard"].camera
    assert AUGMENTATIONS["camera"].to_dict()["jpeg"] == AUGMENTATIONS["camera"].jpeg and AUGMENTATIONS["camera"].camera


def test_teacher_views_degrade_deterministically_and_leave_old_views_alone():
    aug = AUGMENTATIONS["camera"]
    assert default_views(aug) == 8
    assert view_params(aug, 3, 5, 7) == view_params(aug, 3, 5, 7)
    old = view_params(AUGMENTATIONS["standard"], 3, 5, 7)
    new = view_params(aug, 3, 5, 7)
    assert "jpeg" not in old and {"downsample", "blur", "jpeg", "grey", "noise"} <= set(new)
    t = ViewTransform(SIZE, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    for view in range(2, 8):
        p = view_params(replace(aug, erase=0), 0, view, 1)
        x = t(picture(), p)
        assert x.shape == (3, *SIZE) and float(x.min()) >= 0 and float(x.max()) <= 1
        assert torch.equal(x, t(picture(), p))  # the same view twice is the same tensor
