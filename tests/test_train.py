"""Real training on tiny SynthPedes on CPU: learning, checkpoints, resume after a kill, DDP (gloo)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import REPO
from lightclip_core import LightCLIPError
from lightclip_core import run_state
from lightclip_core import train as train_mod
from lightclip_core.checkpoints import load_checkpoint, save_checkpoint
from lightclip_core.data import load_dataset
from lightclip_core.synthpedes.writer import SynthConfig, generate
from lightclip_core.train_config import AUGMENTATIONS
from lightclip_core.evaluate import evaluate
from lightclip_core.train import fit
from lightclip_core.train_config import TrainConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_synth")
    generate(root, SynthConfig(ids=120, images_per_id=2, size=(64, 32), val_ids=10, test_ids=10, seed=11), workers=1)
    return root


@pytest.fixture(autouse=True)
def text_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LIGHTCLIP_CACHE", str(tmp_path_factory.getbasetemp() / "lightclip_cache"))


def small_cfg(root: Path, out: Path, **kw) -> TrainConfig:
    base = TrainConfig(
        backbone="mobilenetv3_small_100", dataset="synthpedes", root=str(root), out=str(out),
        epochs=3, batch_size=20, lr=2e-3, warmup_epochs=0.3, image_size=(64, 32), num_workers=0,
        progress=False, deterministic=True, seed=5,
    )
    return replace(base, **kw)


@pytest.fixture(scope="module")
def micro(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("micro_synth")
    generate(root, SynthConfig(ids=16, images_per_id=2, size=(64, 32), val_ids=3, test_ids=3, seed=2), workers=1)
    return root


@pytest.mark.slow
def test_training_learns_its_pairs_and_writes_checkpoints(micro, tmp_path):
    """20 training images: the loss must fall far below chance and the model must rank each
    training caption's own person first far more often than chance (a caption/image mix-up or a
    broken gradient path fails this)."""
    cfg = small_cfg(micro, tmp_path / "run", epochs=25, batch_size=10, lr=3e-3, augment=AUGMENTATIONS["light"])
    run = fit(cfg)
    history = json.loads((run / "last" / "curves.json").read_text())
    assert len(history) == 25
    chance_loss = math.log(10)
    assert history[0]["train_loss"] > 0.8 * chance_loss
    assert history[-1]["train_loss"] < 0.5 * chance_loss, history[-1]
    for sub in ("best", "last"):
        assert (run / sub / "model.safetensors").is_file() and (run / sub / "config.json").is_file()
        recorded = (run / sub / "config.json").read_text()
        assert str(tmp_path) not in recorded, "a checkpoint records the trainer's paths by name, not absolute"
    best_epoch = json.loads((run / "best" / "metrics.json").read_text())["epoch"]
    assert history[best_epoch - 1]["val_map"] == max(h["val_map"] for h in history)  # picked on val
    model = load_checkpoint(run / "last", backbone="mobilenetv3_small_100")
    result = evaluate(model, load_dataset("synthpedes", micro), "train")
    assert result["r1"] >= 4 * 100 / 10, result  # 10 training ids: chance is 10 %
    assert result["n_queries"] == 40 and result["n_gallery"] == 20


def uninterrupted_weights(tiny: Path, out: Path) -> dict[str, torch.Tensor]:
    """The final weights of the small run trained without a break, trained by the test itself just
    before the run it is compared with (so both see the same caches and process state)."""
    full = fit(small_cfg(tiny, out))
    return load_file(str(full / "last" / "model.safetensors"))


def assert_same_weights(run: Path, want: dict[str, torch.Tensor]) -> None:
    got = load_file(str(run / "last" / "model.safetensors"))
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0, msg=k)


@pytest.mark.slow
def test_resume_after_a_kill_matches_an_uninterrupted_run(tiny, tmp_path, monkeypatch):
    want = uninterrupted_weights(tiny, tmp_path / "full")

    # Kill in the middle of the third epoch: the first two are saved, the third is lost.
    real_losses = train_mod.compute_losses
    calls = {"n": 0}

    def dying_losses(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2 * 10 + 3:  # 10 steps per epoch (200 training images / 20)
            raise KeyboardInterrupt("simulated kill")
        return real_losses(*args, **kwargs)

    monkeypatch.setattr(train_mod, "compute_losses", dying_losses)
    with pytest.raises(KeyboardInterrupt):
        fit(small_cfg(tiny, tmp_path / "killed"))
    monkeypatch.setattr(train_mod, "compute_losses", real_losses)
    state = json.loads((tmp_path / "killed" / "last" / "train_state.json").read_text())
    assert state["epoch"] == 1  # epochs 0 and 1 done

    with pytest.raises(LightCLIPError, match="--resume"):
        fit(small_cfg(tiny, tmp_path / "killed"))
    fit(small_cfg(tiny, tmp_path / "killed"), resume=True)
    assert_same_weights(tmp_path / "killed", want)
    curves = json.loads((tmp_path / "killed" / "last" / "curves.json").read_text())
    assert [h["epoch"] for h in curves] == [1, 2, 3]


@pytest.mark.parametrize("where", ["optimizer state", "swap of last"])
@pytest.mark.slow
def test_a_kill_inside_an_epochs_save_resumes_to_the_same_weights(tiny, tmp_path, monkeypatch, where):
    """Fault injection inside the second epoch's save: after its weights are written but before the
    optimizer state, or after best/ is swapped in but before last/. The run resumes from what is on
    disk and ends with the uninterrupted run's weights."""
    want = uninterrupted_weights(tiny, tmp_path / "full")
    saves = {"n": 0}
    real_write, real_replace = run_state.atomic_write_bytes, run_state.replace_dir

    def dying_write(path, data):
        if Path(path).name == run_state.STATE_TENSORS:
            saves["n"] += 1
            if saves["n"] == 2 and where == "optimizer state":
                raise KeyboardInterrupt("killed inside the save")
        return real_write(path, data)

    def dying_replace(src, dest):
        if Path(dest).name == "last" and saves["n"] == 2 and where == "swap of last":
            raise KeyboardInterrupt("killed between the swaps")
        return real_replace(src, dest)

    run = tmp_path / "torn"
    # its own context: monkeypatch.undo() would also drop the text_cache fixture's LIGHTCLIP_CACHE, and
    # the resumed run would read caption features another runtime wrote into the user's cache
    with monkeypatch.context() as faults, pytest.raises(KeyboardInterrupt):
        faults.setattr(run_state, "atomic_write_bytes", dying_write)
        faults.setattr(run_state, "replace_dir", dying_replace)
        fit(small_cfg(tiny, run))
    assert json.loads((run / "last" / "config.json").read_text())["epoch"] == 1  # the first epoch's folder, whole
    assert json.loads((run / "last" / "train_state.json").read_text())["epoch"] == 0
    fit(small_cfg(tiny, run), resume=True)
    assert_same_weights(run, want)


def test_resume_refuses_a_torn_or_damaged_last_folder(tiny, tmp_path):
    run = tmp_path / "r"
    fit(small_cfg(tiny, run, epochs=1, max_steps_per_epoch=1))
    last = run / "last"
    cfg_text = (last / "config.json").read_text()
    (last / "config.json").write_text(cfg_text.replace('"epoch": 1', '"epoch": 2'))  # weights of another epoch
    with pytest.raises(LightCLIPError, match="holds the weights of epoch 2 but the optimizer state of epoch 1"):
        fit(small_cfg(tiny, run, epochs=2, max_steps_per_epoch=1), resume=True)
    (last / "config.json").write_text(cfg_text)
    state = (last / run_state.STATE_TENSORS).read_bytes()
    (last / run_state.STATE_TENSORS).write_bytes(state[: len(state) // 2])  # truncated
    with pytest.raises(LightCLIPError, match="cannot be read"):
        fit(small_cfg(tiny, run, epochs=2, max_steps_per_epoch=1), resume=True)
    (last / run_state.STATE_TENSORS).write_bytes(state)
    (last / run_state.STATE_JSON).write_text('{"epoch": 0')
    with pytest.raises(LightCLIPError, match="saved state in .* is damaged"):
        fit(small_cfg(tiny, run, epochs=2, max_steps_per_epoch=1), resume=True)


def test_resume_refuses_other_settings_and_missing_runs(tiny, tmp_path, capsys):
    with pytest.raises(LightCLIPError, match="Nothing to resume"):
        fit(small_cfg(tiny, tmp_path / "none"), resume=True)
    fit(small_cfg(tiny, tmp_path / "r", epochs=1, max_steps_per_epoch=1))
    with pytest.raises(LightCLIPError, match="other settings.*backbone"):
        fit(small_cfg(tiny, tmp_path / "r", backbone="mobilenetv2_100"), resume=True)
    # Extending a run to more epochs is allowed, and says that its learning-rate schedule changes.
    capsys.readouterr()
    record = (tmp_path / "r" / "train_config.json").read_text()
    with pytest.raises(LightCLIPError, match=r"other settings \(lr: 0.002 -> 0.01, seed: 5 -> 6\)"):
        fit(small_cfg(tiny, tmp_path / "r", epochs=1, max_steps_per_epoch=1, lr=1e-2, seed=6), resume=True)
    assert (tmp_path / "r" / "train_config.json").read_text() == record  # the run's record is not rewritten
    fit(small_cfg(tiny, tmp_path / "r", epochs=2, max_steps_per_epoch=1), resume=True)
    assert "was started for 1 epochs and now runs 2" in capsys.readouterr().err
    assert json.loads((tmp_path / "r" / "train_config.json").read_text())["epochs"] == 2


def test_cli_resume_takes_the_runs_own_settings(tiny, tmp_path, capsys):
    from lightclip_core.cli import main

    run = tmp_path / "r"
    fit(small_cfg(tiny, run, epochs=1, max_steps_per_epoch=1))
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--no-progress"]) == 0
    assert [h["epoch"] for h in json.loads((run / "last" / "curves.json").read_text())] == [1, 2]
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--lr", "0.5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "only --epochs may change" in err and len(err.strip().splitlines()) == 1


def test_checkpoint_errors(tiny, tmp_path):
    run = fit(small_cfg(tiny, tmp_path / "c", epochs=1, max_steps_per_epoch=1))
    ckpt = run / "last"
    with pytest.raises(LightCLIPError, match="trained with backbone 'mobilenetv3_small_100', not 'efficientnet_b0'"):
        load_checkpoint(ckpt, backbone="efficientnet_b0")
    with pytest.raises(LightCLIPError, match="text encoder 'minilm-l6', not 'clip-vit-b-32'"):
        load_checkpoint(ckpt, text_encoder="clip-vit-b-32")
    broken = tmp_path / "broken"
    shutil.copytree(ckpt, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(LightCLIPError, match="truncated"):
        load_checkpoint(broken)
    other = tmp_path / "other"
    shutil.copytree(ckpt, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["model"]["backbone"] = "mobilenetv2_100"
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(LightCLIPError, match="does not fit a mobilenetv2_100 model"):
        load_checkpoint(other)
    with pytest.raises(LightCLIPError, match="not a directory"):
        load_checkpoint(tmp_path / "nowhere")


def test_checkpoint_round_trip_in_fp16_keeps_outputs_close(tmp_path):
    from lightclip_core import create_model

    model = create_model("mobilenetv3_small_100", image_size=(64, 32)).eval()
    save_checkpoint(model, tmp_path / "ck", dtype=torch.float16)
    again = load_checkpoint(tmp_path / "ck")
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(again.encode_image(x), model.encode_image(x), atol=2e-2, rtol=0)


def test_int8_storage_quarters_the_file_and_keeps_embeddings(tmp_path):
    from lightclip_core import create_model
    from lightclip_core.checkpoints import dequantize_int8, export_checkpoint, quantize_int8

    w = torch.randn(64, 32, 3, 3)
    q = quantize_int8({"w": w, "b": torch.randn(64), "n": torch.tensor(3)})
    assert q["w"].dtype == torch.int8 and q["b"].dtype == torch.float16 and q["n"].dtype == torch.int64
    back = dequantize_int8(q)["w"]
    scale = w.abs().amax(dim=(1, 2, 3), keepdim=True) / 127
    assert ((back - w).abs() <= scale / 2 + 1e-6).all()  # round-to-nearest error bound, per channel

    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32)).eval()
    save_checkpoint(model, tmp_path / "fp32")
    export_checkpoint(tmp_path / "fp32", tmp_path / "int8", "int8")
    size = lambda d: (tmp_path / d / "model.safetensors").stat().st_size  # noqa: E731
    assert size("int8") < 0.3 * size("fp32")
    again = load_checkpoint(tmp_path / "int8")
    x = torch.randn(4, 3, 64, 32)
    with torch.no_grad():
        cos = (again.encode_image(x) * model.encode_image(x)).sum(-1)
    assert cos.min() > 0.99, cos


@pytest.mark.slow
def test_two_process_gloo_run(tiny, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "ddp"
    cmd = [
        str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "lightclip_core", "train",
        "--backbone", "mobilenetv3_small_100", "--dataset", "synthpedes", "--root", str(tiny),
        "--epochs", "2", "--batch-size", "10", "--image-size", "64x32", "--workers", "0",
        "--threads", "1", "--out", str(out), "--no-progress", "--sdm", "0.5",
    ]
    env = {**os.environ, "LIGHTCLIP_CACHE": str(tmp_path / "cache")}  # an empty caption cache: it is built here
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Rank 0 alone encodes and writes the caption cache (the other waits, then reads it), and the
    # run summary is printed once.
    assert proc.stderr.count("captions encoded in") == 1, proc.stderr[-3000:]
    assert len(list((tmp_path / "cache" / "text_features").glob("*.safetensors"))) == 1
    assert [json.loads(line)["run_dir"] for line in proc.stdout.splitlines() if line.startswith("{")] == [str(out)]
    history = json.loads((out / "last" / "curves.json").read_text())
    assert len(history) == 2 and all(h["train_loss"] == h["train_loss"] for h in history)  # not NaN
    assert history[0]["images_per_s"] > 0
    assert proc.stderr.count("epoch 1/2") == 1  # only rank 0 logs and writes
    assert load_checkpoint(out / "best").config.backbone == "mobilenetv3_small_100"


def _fixture(kind: str, root: Path) -> None:
    """A few ids in `kind`'s published format, with train / val (if any) / test splits."""
    from PIL import Image

    rows = []
    colours = [(200, 30, 30), (30, 30, 200), (30, 160, 30), (220, 220, 40), (120, 60, 20), (240, 240, 240)]
    for pid in range(12):
        split = "train" if pid < 8 else ("val" if pid < 10 and kind != "icfgpedes" else "test")
        for k in range(2):
            rel = f"{pid:04d}_{k}.jpg"
            (root / "imgs").mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 64), colours[pid % len(colours)]).save(root / "imgs" / rel)
            rows.append({"id": pid + (1 if kind == "cuhkpedes" else 0), "split": split, "captions": [f"a person in colour {pid % 6}"],
                         ("img_path" if kind == "rstpreid" else "file_path"): rel})
    if kind == "flickr30k":  # parquet with embedded images, each image its own id
        import datasets

        table = datasets.Dataset.from_dict({
            "image": [{"bytes": (root / "imgs" / r["file_path"]).read_bytes(), "path": r["file_path"]} for r in rows],
            "caption": [r["captions"] for r in rows],
            "split": [r["split"] for r in rows],
        }).cast_column("image", datasets.Image())
        shutil.rmtree(root / "imgs")
        table.to_parquet(str(root / "flickr.parquet"))
        return
    name = {"cuhkpedes": "reid_raw.json", "icfgpedes": "ICFG-PEDES.json", "rstpreid": "data_captions.json"}[kind]
    (root / name).write_text(json.dumps(rows))


@pytest.mark.parametrize("kind", ["cuhkpedes", "icfgpedes", "rstpreid", "flickr30k"])
@pytest.mark.slow
def test_train_and_eval_on_each_published_format(kind, tmp_path, capsys):
    from lightclip_core.cli import main

    _fixture(kind, tmp_path / "data")
    run = fit(small_cfg(tmp_path / "data", tmp_path / "run", dataset=kind, epochs=1, batch_size=4,
                        max_steps_per_epoch=2))
    assert (run / "best" / "model.safetensors").is_file()
    assert main(["eval", "--checkpoint", str(run / "best"), "--dataset", kind, "--root", str(tmp_path / "data"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_gallery"] == {"icfgpedes": 8, "flickr30k": 4}.get(kind, 4)
    assert {"r1", "r5", "r10", "map", "minp", "val_loss", "n_queries", "n_gallery", "seconds"} <= result.keys()


def test_cpu_preset_fits_every_study_backbone():
    from lightclip_core.models.backbones import STUDY_BACKBONES, get_backbone_spec
    from lightclip_core.train_config import preset

    with pytest.raises(LightCLIPError, match="valid presets are: cpu-synth"):
        preset("gpu-huge")
    for key in STUDY_BACKBONES:
        fields = preset("cpu-synth", key)
        get_backbone_spec(key).check_image_size(fields["image_size"])  # raises if the size does not fit
        assert 3 <= fields["epochs"] <= 5
    assert preset("cpu-synth", "coatnet_0_rw_224")["epochs"] == 3
    assert preset("cpu-synth", "mobilenetv3_large_100")["epochs"] == 5


def test_gpu_preset_fits_all_nine_and_stops_in_one_sentence_without_cuda(micro, tmp_path, capsys):
    from lightclip_core.cli import main
    from lightclip_core.models.backbones import STUDY_BACKBONES, get_backbone_spec
    from lightclip_core.train_config import preset

    for key in (*STUDY_BACKBONES, "vit_base_patch32_clip_224"):
        fields = preset("gpu-synth", key)
        get_backbone_spec(key).check_image_size(fields["image_size"])
        assert fields["epochs"] == 30 and fields["precision"] == "bf16" and fields["image_size"] == (256, 128)
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the no-GPU path is what CI checks")
    code = main(["train", "--preset", "gpu-synth", "--backbone", "mobilenetv3_small_100", "--root", str(micro),
                 "--out", str(tmp_path / "gpu"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "error: --device cuda was asked for, but torch sees no CUDA device."
    assert not (tmp_path / "gpu").exists()


def test_samples_per_epoch_walks_permutations_without_repeats():
    from lightclip_core.train_parts import epoch_indices

    seen = np.concatenate([epoch_indices(10, 4, e, seed=3) for e in range(5)])  # 20 = two passes over 10
    assert sorted(seen[:10].tolist()) == list(range(10)) and sorted(seen[10:].tolist()) == list(range(10))
    assert np.array_equal(epoch_indices(10, 4, 2, seed=3), epoch_indices(10, 4, 2, seed=3))
    assert not np.array_equal(epoch_indices(10, 4, 0, seed=3), epoch_indices(10, 4, 0, seed=4))


def test_kd_preset_gives_every_backbone_the_same_images_at_a_size_it_accepts():
    from lightclip_core.models.backbones import STUDY_BACKBONES, get_backbone_spec
    from lightclip_core.train_config import preset

    ref = preset("cpu-synth-kd", "mobilenetv3_small_100")
    assert ref["epochs"] * ref["samples_per_epoch"] == 132_000 and ref["stripes"] == 4
    for key in (*STUDY_BACKBONES, "vit_base_patch32_clip_224"):
        fields = preset("cpu-synth-kd", key)
        get_backbone_spec(key).check_image_size(fields["image_size"])
        assert fields == ref, key


def test_channels_last_is_the_default_where_the_backbone_allows_and_computes_the_same(tiny, tmp_path):
    """`auto` trains in channels_last on CPU (faster with oneDNN) except for backbones whose spec says
    no; a step in channels_last gives the same embeddings and gradients as the plain NCHW step."""
    from lightclip_core.models.backbones import get_backbone_spec
    from lightclip_core.models.lightclip import LightCLIP, LightCLIPConfig

    run = train_mod.setup_run(small_cfg(tiny, tmp_path / "auto"))
    assert run.use_cl and run.model.backbone.spec.channels_last
    conv = next(m for m in run.model.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not train_mod.setup_run(small_cfg(tiny, tmp_path / "off", channels_last="off")).use_cl
    assert not get_backbone_spec("fastvit_t8").channels_last  # segfaults in CPU training in channels_last
    with pytest.raises(LightCLIPError, match="fastvit_t8 cannot train in channels_last"):
        train_mod.setup_run(small_cfg(tiny, tmp_path / "fv", backbone="fastvit_t8", channels_last="on"))

    torch.manual_seed(0)
    plain = LightCLIP(LightCLIPConfig(backbone="mobilenetv3_small_100", image_size=(64, 32), stripes=4))
    fast = LightCLIP(LightCLIPConfig(backbone="mobilenetv3_small_100", image_size=(64, 32), stripes=4),
                     text_encoder=plain.text_encoder)
    fast.load_state_dict(plain.state_dict())
    fast.backbone.to(memory_format=torch.channels_last)
    images = torch.randn(6, 3, 64, 32)
    outs = []
    for model, x in ((plain, images), (fast, images.contiguous(memory_format=torch.channels_last))):
        model.train()
        emb = model.encode_image(x)
        emb.square().sum().backward()
        outs.append((emb.detach(), {n: p.grad for n, p in model.backbone.named_parameters() if p.grad is not None}))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-4, atol=1e-5)
    assert outs[0][1].keys() == outs[1][1].keys() and outs[0][1]
    for name, grad in outs[0][1].items():
        torch.testing.assert_close(outs[1][1][name], grad, rtol=1e-3, atol=1e-4, msg=name)


def test_the_trunk_learns_at_its_own_share_of_the_learning_rate():
    """--trunk-lr-scale: the trunk's parameters go in groups at lr * scale, everything else at lr; every
    trainable parameter is in exactly one group, and decay stays off biases, norms and the temperature."""
    from lightclip_core import create_model

    model = create_model("mobilenetv3_small_100", image_size=(64, 48), text_head="pooled")
    groups = train_mod.param_groups(model, 0.05, 1e-3, trunk_lr_scale=0.1)
    names = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    seen = [names[id(p)] for g in groups for p in g["params"]]
    assert sorted(seen) == sorted(names.values())
    for g in groups:
        trunk = {names[id(p)].startswith("backbone.trunk.") for p in g["params"]}
        assert len(trunk) == 1
        assert g["lr"] == pytest.approx(1e-4 if trunk.pop() else 1e-3)
        if g["weight_decay"]:
            assert all(p.ndim >= 2 for p in g["params"])
    assert all("logit_scale" not in names[id(p)] for g in groups if g["weight_decay"] for p in g["params"])
    opt = torch.optim.AdamW(groups, lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)
    assert sorted(set(sched.get_last_lr())) == pytest.approx([5e-5, 5e-4])  # the schedule scales both alike
