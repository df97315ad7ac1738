"""Reinforced (distilled) training: teacher store, views, losses, bad teachers, and a real tiny run."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from lightclip_core import LightCLIPError, create_model
from lightclip_core.checkpoints import save_checkpoint
from lightclip_core.data import load_dataset
from lightclip_core.synthpedes.writer import SynthConfig, generate
from lightclip_core.train_config import AUGMENTATIONS
from lightclip_core.distill import ViewTransform, build_teacher_store, load_teacher, view_params
from lightclip_core.losses import compute_losses, distill_cosine_loss, distill_kl_loss
from lightclip_core.train_config import LossConfig
from lightclip_core.train import fit
from lightclip_core.train_config import TrainConfig


@pytest.fixture(scope="module")
def micro(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kd_synth")
    generate(root, SynthConfig(ids=16, images_per_id=2, size=(64, 32), val_ids=3, test_ids=3, seed=2), workers=1)
    return root


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    """A teacher checkpoint (random weights are enough: the student must learn to match it)."""
    torch.manual_seed(1)
    model = create_model("mobilenetv3_small_100", image_size=(64, 48))
    return save_checkpoint(model, tmp_path_factory.mktemp("teacher") / "ckpt")


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LIGHTCLIP_CACHE", str(tmp_path_factory.getbasetemp() / "kd_cache"))


def student_cfg(root: Path, out: Path, teacher: Path, **kw) -> TrainConfig:
    base = TrainConfig(
        backbone="mobilenetv3_small_100", dataset="synthpedes", root=str(root), out=str(out), epochs=6,
        batch_size=10, lr=3e-3, warmup_epochs=0.3, image_size=(64, 32), num_workers=0, progress=False,
        deterministic=True, seed=5, augment=AUGMENTATIONS["light"], teachers=[str(teacher)],
        losses=LossConfig(itc=0.0, kd_kl=1.0, kd_cos=1.0),
    )
    return replace(base, **kw)


# ------------------------------------------------------------------------------------------- losses


def _slow_kl(img, txt, teachers, scale, t_scales):
    """Loop version of the ensemble KL: per row / column, mean of the teachers' softmaxes."""
    b = img.shape[0]
    total = 0.0
    for direction in ("i2t", "t2i"):
        for r in range(b):
            if direction == "i2t":
                s = scale * img[r] @ txt.t()
                ts = [F.softmax(k * t[r] @ txt.t(), dim=0) for k, t in zip(t_scales, teachers)]
            else:
                s = scale * txt[r] @ img.t()
                ts = [F.softmax(k * txt[r] @ t.t(), dim=0) for k, t in zip(t_scales, teachers)]
            target = torch.stack(ts).mean(0)
            total += float((target * (target.log() - F.log_softmax(s, dim=0))).sum()) / b
    return total / 2


def test_distillation_losses_match_a_slow_reference():
    torch.manual_seed(0)
    img, txt = F.normalize(torch.randn(6, 8), dim=1), F.normalize(torch.randn(6, 8), dim=1)
    teachers = F.normalize(torch.randn(2, 6, 8), dim=-1)
    scales = torch.tensor([12.0, 20.0])
    got = distill_kl_loss(img, txt, teachers, 15.0, scales)["kd_kl_loss"].item()
    assert got == pytest.approx(_slow_kl(img, txt, teachers, 15.0, scales), rel=1e-5)
    # A student equal to a single teacher (same scale) has zero KL and zero cosine loss.
    assert distill_kl_loss(img, txt, img[None], 15.0, torch.tensor([15.0]))["kd_kl_loss"].item() == pytest.approx(0, abs=1e-6)
    assert distill_cosine_loss(img, img[None])["kd_cos_loss"].item() == pytest.approx(0, abs=1e-6)
    cos = distill_cosine_loss(img, teachers)["kd_cos_loss"].item()
    assert cos == pytest.approx(float(np.mean([1 - float(img[b] @ teachers[t, b]) for t in range(2) for b in range(6)])), rel=1e-5)


def test_distillation_weights_without_a_teacher_are_an_error():
    out = {"image_features": torch.eye(2), "text_features": torch.eye(2), "logit_scale": torch.tensor(10.0)}
    with pytest.raises(LightCLIPError, match="need a teacher"):
        compute_losses(out, torch.arange(2), LossConfig(kd_kl=1.0))


# -------------------------------------------------------------------------------------------- views


def test_views_are_deterministic_and_the_same_augmentation_at_any_size():
    aug = AUGMENTATIONS["standard"]
    assert view_params(aug, 3, 5, 7) == view_params(aug, 3, 5, 7)
    assert view_params(aug, 3, 5, 7) != view_params(aug, 3, 5, 8)
    assert view_params(aug, 0, 0, 1)["flip"] is False and view_params(aug, 0, 1, 1)["flip"] is True
    # A picture with a bright left half: view 1 (mirrored) is bright on the right at both sizes.
    arr = np.zeros((64, 32, 3), np.uint8)
    arr[:, :16] = 255
    img = Image.fromarray(arr)
    for size in ((64, 32), (128, 96)):
        t = ViewTransform(size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
        plain, mirrored = t(img, view_params(aug, 0, 0, 0)), t(img, view_params(aug, 0, 1, 0))
        w = size[1]
        assert plain[:, :, : w // 4].mean() > 0.9 and plain[:, :, -w // 4 :].mean() < 0.1
        assert torch.allclose(mirrored, plain.flip(-1), atol=1e-6)


# --------------------------------------------------------------------------------------- bad teachers


def test_bad_teachers_give_one_sentence(teacher_dir, tmp_path):
    with pytest.raises(LightCLIPError, match="does not exist"):
        load_teacher(tmp_path / "nope", "minilm-l6", 384)
    other = tmp_path / "other_text"
    shutil.copytree(teacher_dir, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["model"]["text_encoder"] = "clip-vit-b-32"
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(LightCLIPError, match="text encoder 'clip-vit-b-32'.*same text space") as err:
        load_teacher(other, "minilm-l6", 384)
    assert "\n" not in str(err.value)
    with pytest.raises(LightCLIPError, match="embeds into 384 dimensions, the student into 512"):
        load_teacher(teacher_dir, "minilm-l6", 512)
    no_weights = tmp_path / "no_weights"
    shutil.copytree(teacher_dir, no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(LightCLIPError, match="lacks model.safetensors"):
        load_teacher(no_weights, "minilm-l6", 384)


def test_cli_bad_teacher_is_one_line(micro, tmp_path, capsys):
    from lightclip_core.cli import main

    code = main(["train", "--backbone", "mobilenetv3_small_100", "--root", str(micro), "--out", str(tmp_path / "r"),
                 "--epochs", "1", "--batch-size", "8", "--image-size", "64x32", "--workers", "0", "--no-progress",
                 "--teacher", str(tmp_path / "missing")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.count("\n") == 0 and "does not exist" in err


# ------------------------------------------------------------------------------------ a real tiny run


def test_store_is_built_once_and_reused(micro, teacher_dir, tmp_path):
    samples = load_dataset("synthpedes", micro).split("train")
    aug = AUGMENTATIONS["light"]
    first = build_teacher_store([teacher_dir], samples, "minilm-l6", 384, aug, cache_dir=tmp_path)
    assert not first.reused and first.features.shape == (1, len(samples), 2, 384)
    mtime = first.path.stat().st_mtime_ns
    again = build_teacher_store([teacher_dir], samples, "minilm-l6", 384, aug, cache_dir=tmp_path)
    assert again.reused and again.path == first.path and again.path.stat().st_mtime_ns == mtime
    assert torch.equal(again.features, first.features)
    # The stored rows are the teacher's own embeddings of those views.
    teacher = load_teacher(teacher_dir, "minilm-l6", 384)
    t = ViewTransform(teacher.image_size, teacher.image_mean, teacher.image_std)
    from lightclip_core.data.base import load_image

    with torch.no_grad():
        x = torch.stack([t(load_image(samples[3].img_path), view_params(aug, 0, v, 3)) for v in (0, 1)])
        want = teacher.encode_image(x)
    assert torch.allclose(first.features[0, 3].float(), want, atol=2e-3)
    # An ensemble is another store; a damaged file is rebuilt.
    both = build_teacher_store([teacher_dir, teacher_dir], samples, "minilm-l6", 384, aug, cache_dir=tmp_path)
    assert both.features.shape[0] == 2 and both.path != first.path
    first.path.write_bytes(b"broken")
    rebuilt = build_teacher_store([teacher_dir], samples, "minilm-l6", 384, aug, cache_dir=tmp_path)
    assert not rebuilt.reused and torch.equal(rebuilt.features, first.features)


@pytest.mark.slow
def test_tiny_distillation_run_lowers_the_kd_loss_and_reuses_the_store(micro, teacher_dir, tmp_path, capsys):
    run = fit(student_cfg(micro, tmp_path / "student", teacher_dir))
    history = json.loads((run / "last" / "curves.json").read_text())
    kl = [h["train_kd_kl_loss"] for h in history]
    cos = [h["train_kd_cos_loss"] for h in history]
    assert kl[-1] < 0.7 * kl[0], kl
    assert cos[-1] < 0.7 * cos[0], cos
    assert "written to" in capsys.readouterr().err
    config = json.loads((run / "best" / "config.json").read_text())
    recipe = config["recipe"]
    # recorded by name (it lies outside the working directory), never as this machine's absolute path
    assert recipe["teachers"][0]["path"] == teacher_dir.name and recipe["teachers"][0]["backbone"] == "mobilenetv3_small_100"
    assert recipe["train_images"] == 20 and recipe["train_ids"] == 10 and recipe["steps"] == 2 * recipe["epochs"]
    # CPU minutes beside the wall minutes, from each epoch's process CPU seconds (up to the best epoch)
    assert all(h["train_cpu_seconds"] > 0 for h in history)
    cpu_seconds = sum(h["train_cpu_seconds"] for h in history[: recipe["epochs"]])
    assert recipe["train_cpu_minutes"] == round(cpu_seconds / 60, 2)
    # A second student on the same teacher and data runs no teacher forward: the store is read.
    fit(student_cfg(micro, tmp_path / "student2", teacher_dir, epochs=1))
    assert "reused from" in capsys.readouterr().err


def test_teacher_store_command_writes_the_store_train_reads(micro, teacher_dir, tmp_path, capsys):
    from lightclip_core.cli import main

    args = ["teacher-store", "--teacher", str(teacher_dir), "--root", str(micro), "--augment", "light",
            "--seed", "7", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["reused"] is False and first["shape"] == [1, 20, 2, 384] and Path(first["store"]).is_file()
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["reused"] is True
    fit(student_cfg(micro, tmp_path / "student", teacher_dir, epochs=1, seed=7))
    assert f"reused from {first['store']}" in capsys.readouterr().err
