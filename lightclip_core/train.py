"""Training: a vision trunk + head against a frozen text encoder, contrastively (``fit(config)``).

- Caption embeddings are computed once per (text encoder, dataset) and cached on disk, so an epoch
  costs only the image side.
- Every epoch: train, evaluate on **val** (never test), write ``run_dir/last/`` atomically, and copy
  it to ``run_dir/best/`` when val mAP improves. ``resume=True`` continues from ``last/``: weights,
  optimizer, schedule and epoch; randomness is reseeded from (seed, epoch) at each epoch start, so a
  resumed run follows the same path as an uninterrupted one.
- Under ``torchrun --nproc_per_node N`` it trains with DistributedDataParallel (gloo on CPU, nccl on
  CUDA), gathers features across ranks for the contrastive losses (as open_clip does), and only
  rank 0 evaluates and writes.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .checkpoints import read_config, save_checkpoint
from .data import load_dataset
from .data.base import caption_offsets, load_image
from .data.transforms import train_transform
from .errors import LightCLIPError
from .evaluate import evaluate
from .fileio import atomic_write_bytes, atomic_write_json, check_writable_dir, log, read_json_or_none, replace_dir
from .losses import compute_losses
from .models.backbones import get_backbone_spec
from .models.lightclip import LightCLIP, LightCLIPConfig
from .outputs import OutputKind, check_output_dir, listed_files
from .text_cache import cached_text_features, cached_token_states, cached_token_states_exist
from .train_config import (
    PRESET_EPOCHS, PRESETS, TrainConfig, preset,
)

STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LightCLIPError("--device cuda was asked for, but torch sees no CUDA device.")
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class PairDataset(torch.utils.data.Dataset):
    """One item per training image: (augmented image, index of one of its captions, class label).

    Which caption an image gets is drawn from (seed, epoch, index), so it does not depend on the
    worker count, and a resumed epoch sees the same pairs. With `samples_per_epoch`, an epoch is the
    next `samples_per_epoch` images of an endless chain of permutations (seeded), so every image is
    seen once before any is seen twice, and short epochs give a fine-grained budget and curve.
    """

    def __init__(self, samples, caption_offsets: list[int], labels: list[int], transform, seed: int,
                 samples_per_epoch: int = 0) -> None:
        self.samples = samples
        self.offsets = caption_offsets
        self.labels = labels
        self.transform = transform
        self.seed = seed
        self.samples_per_epoch = samples_per_epoch
        self.epoch = 0
        self.index: np.ndarray | None = None
        self.views = 0  # > 0: distillation; items carry the image's stored view (see distill.py)
        self.view_transform = None
        self.aug = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.samples_per_epoch:
            self.index = epoch_indices(len(self.samples), self.samples_per_epoch, epoch, self.seed)

    def __len__(self) -> int:
        return len(self.index) if self.index is not None else len(self.samples)

    def image_index(self, j: int) -> int:
        return int(self.index[j]) if self.index is not None else j

    def __getitem__(self, j: int):
        i = self.image_index(j)
        s = self.samples[i]
        pick = np.random.default_rng((self.seed, self.epoch, i)).integers(len(s.captions))
        if self.views:
            from .distill import epoch_view, view_params

            v = epoch_view(self.seed, self.epoch, i, self.views)
            image = self.view_transform(load_image(s.img_path), view_params(self.aug, self.seed, v, i))
            return image, self.offsets[i] + int(pick), self.labels[i], i, v
        return self.transform(load_image(s.img_path)), self.offsets[i] + int(pick), self.labels[i], i


def epoch_indices(n: int, per_epoch: int, epoch: int, seed: int) -> np.ndarray:
    """Image indices of `epoch` when epochs are `per_epoch` images of a chain of permutations of `n`."""
    start = epoch * per_epoch
    out = []
    while len(out) < per_epoch:
        k, offset = divmod(start, n)
        perm = np.random.default_rng((seed, 0xE90C, k)).permutation(n)
        take = perm[offset : offset + per_epoch - len(out)]
        out.extend(take.tolist())
        start += len(take)
    return np.asarray(out, dtype=np.int64)


def lr_lambda(warmup_steps: int, total_steps: int, min_ratio: float):
    def fn(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return fn


def param_groups(model: nn.Module, weight_decay: float, lr: float, trunk_lr_scale: float = 1.0) -> list[dict]:
    """No weight decay on biases, norms and the temperature (as CLIP / timm); the trunk learns at
    ``lr * trunk_lr_scale``, everything else (heads, text head, temperature) at `lr`."""
    groups: dict[tuple[bool, bool], list] = {(t, d): [] for t in (False, True) for d in (True, False)}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decays = not (p.ndim < 2 or name.endswith("logit_scale"))
        groups[(name.startswith("backbone.trunk."), decays)].append(p)
    return [{"params": params, "weight_decay": weight_decay if decays else 0.0,
             "lr": lr * trunk_lr_scale if trunk else lr}
            for (trunk, decays), params in groups.items() if params]


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state into tensors (safetensors) and plain JSON (no pickle)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"opt.{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    for key, v in meta["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def gather_features(x: torch.Tensor, with_grad: bool) -> torch.Tensor:
    """Concatenate `x` from all ranks; with `with_grad` the local slice keeps its gradient."""
    world = dist.get_world_size()
    if with_grad:
        import torch.distributed.nn.functional as dist_fn

        return torch.cat(dist_fn.all_gather(x))
    parts = [torch.zeros_like(x) for _ in range(world)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


# --------------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """What :func:`setup_run` builds and the epoch functions share: one training run in progress."""

    cfg: TrainConfig
    run_dir: Path
    device: torch.device
    rank: int
    world: int
    dataset: Any
    train_samples: list
    train_ids: int
    model: LightCLIP
    train_model: nn.Module  # the model, or its DDP wrapper
    text_feats: torch.Tensor  # (captions + negatives, D) pooled, frozen
    text_states: Any  # text_cache.TokenStateStore of the same texts for a tokens head, else None
    negatives: torch.Tensor | None  # (captions, K) indices into text_feats (-1: none), with --negatives
    attribute_labels: torch.Tensor | None  # (train images, A) class indices, with --attributes
    ds: PairDataset
    store: Any  # distill.TeacherStore or None
    sampler: Any
    steps_per_epoch: int
    opt: torch.optim.Optimizer
    sched: Any
    scaler: Any
    use_cl: bool
    amp: torch.dtype | None
    start_epoch: int = 0
    best_map: float = -1.0
    history: list = field(default_factory=list)

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main_proc(self) -> bool:
        return self.rank == 0


def fit(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train as `cfg` says; returns the run directory (with ``best/`` and ``last/``)."""
    run = setup_run(cfg, resume)
    for epoch in range(run.start_epoch, cfg.epochs):
        record = train_one_epoch(run, epoch)
        if run.main_proc:
            evaluate_and_save(run, epoch, record)
        if run.distributed:
            dist.barrier()
    if run.distributed:
        dist.destroy_process_group()
    return run.run_dir


def _init_process(cfg: TrainConfig) -> tuple[torch.device, int, int]:
    """Device, rank and world size; joins the process group under torchrun."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = resolve_device(cfg.device)
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    if distributed:
        return device, dist.get_rank(), dist.get_world_size()
    return device, 0, 1


# Settings a resumed run may change: the planned epochs (the schedule is recomputed) and how it runs,
# not what it computes.
RESUME_MAY_CHANGE = ("epochs", "out", "num_workers", "threads", "progress", "eval_batch_size")


def run_files(run_dir: Path) -> set[str] | None:
    """The files a training run wrote in `run_dir` (its settings, ``last/``, ``best/`` and their
    half-swapped copies), or None when `run_dir` holds no ``train_config.json`` of a run."""
    record = read_json_or_none(run_dir / "train_config.json")
    if not (isinstance(record, dict) and "backbone" in record):
        return None
    own = ("last/", "best/", ".last.tmp/", ".best.tmp/", ".last.old-", ".best.old-")
    return {"train_config.json"} | {f for f in listed_files(run_dir) if f.startswith(own)}


RUN_OUTPUT = OutputKind("a training run (train_config.json, last/, best/)", run_files)


def _resume_point(cfg: TrainConfig, run_dir: Path, resume: bool) -> tuple[int, float, list, dict | None]:
    """(start epoch, best val mAP, history, saved state) — or a clear error when the directory disagrees."""
    check_output_dir(run_dir, RUN_OUTPUT, "--out", [cfg.root, cfg.init or None, *cfg.teachers])
    if not resume:
        if (run_dir / "last").exists():
            raise LightCLIPError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out.")
        return 0, -1.0, [], None
    if not (run_dir / "last" / STATE_JSON).is_file():
        raise LightCLIPError(f"Nothing to resume in {run_dir}: {run_dir / 'last' / STATE_JSON} is missing.")
    saved = read_run_config(run_dir)
    now, then = cfg.to_dict(), saved.to_dict()
    differs = [k for k in now if k not in RESUME_MAY_CHANGE and now[k] != then.get(k)]
    if differs:
        shown = ", ".join(f"{k}: {then.get(k)!r} -> {now[k]!r}" for k in differs[:4])
        raise LightCLIPError(f"--resume: {run_dir} was trained with other settings ({shown}); only --epochs may change "
                             "(and --workers, --threads); use the run's own settings or another --out.")
    state_meta = _read_state(run_dir / "last")
    if saved.epochs != cfg.epochs:  # allowed (extending a run), but its learning-rate schedule changes from here
        log(f"--resume: {run_dir} was started for {saved.epochs} epochs and now runs {cfg.epochs}: the learning-rate "
            f"schedule is recomputed for {cfg.epochs} from epoch {state_meta['epoch'] + 2} on (pass --epochs {saved.epochs} "
            "to finish it as planned).")
    return state_meta["epoch"] + 1, state_meta["best_map"], state_meta["history"], state_meta


def read_run_config(run_dir: Path) -> TrainConfig:
    """The TrainConfig a run directory was started with (its ``train_config.json``), or one sentence."""
    path = Path(run_dir) / "train_config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        return TrainConfig.from_dict(raw)
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise LightCLIPError(f"--resume: {path} is missing or damaged ({exc}); the run cannot be resumed.") from None


def _read_state(last: Path) -> dict[str, Any]:
    """The resume state of `last/`, checked against the weights beside it: both must come from the same
    epoch's save (a save is swapped in whole, but a folder written by hand or by an older version
    may pair new weights with old state)."""
    try:
        state = json.loads((last / STATE_JSON).read_text(encoding="utf-8"))
        weights_epoch = read_config(last)["epoch"]
        missing = {"epoch", "best_map", "history", "optimizer", "scheduler"} - set(state)
        if missing:
            raise KeyError(", ".join(sorted(missing)))
        state_epoch = state["epoch"]
    except (LightCLIPError, OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise LightCLIPError(f"--resume: the saved state in {last} is damaged ({type(exc).__name__}: {exc}); the run "
                             "cannot be resumed (start it again with another --out).") from None
    if weights_epoch != state_epoch + 1:
        raise LightCLIPError(f"--resume: {last} holds the weights of epoch {weights_epoch} but the optimizer state of "
                             f"epoch {state_epoch + 1} (a save was interrupted); it cannot resume exactly. Start "
                             "again with another --out.")
    return state


def _on_rank0_first(distributed: bool, main_proc: bool, make):
    """Rank 0 runs `make` (which encodes and writes a cache), the others wait, then run it to read that cache."""
    value = make(main_proc) if main_proc else None
    if distributed:
        dist.barrier()
    return make(False) if value is None else value


def setup_run(cfg: TrainConfig, resume: bool = False) -> Run:
    """Everything before the first step: data, model, caption features, teacher store, optimizer, resume state."""
    device, rank, world = _init_process(cfg)
    distributed, main_proc = world > 1, rank == 0
    run_dir = Path(cfg.out)
    start_epoch, best_map, history, state_meta = _resume_point(cfg, run_dir, resume)
    refuse_real_check(cfg.root)
    if main_proc:
        check_writable_dir(run_dir, "--out")  # before the data, the model and the caches
    use_cl = _check_recipe(cfg)
    seed_everything(cfg.seed)
    dataset = load_dataset(cfg.dataset, cfg.root)
    train_samples = dataset.split(cfg.train_split)
    pids_sorted = sorted({s.pid for s in train_samples})
    model = _build_model(cfg, len(pids_sorted), resume)
    text_feats, text_states, negatives, attribute_labels = _training_texts(cfg, model, train_samples, distributed,
                                                                          main_proc)
    model.to(device)
    if use_cl:
        model.backbone.to(memory_format=torch.channels_last)

    label_of = {pid: i for i, pid in enumerate(pids_sorted)}
    ds = PairDataset(train_samples, caption_offsets(train_samples), [label_of[s.pid] for s in train_samples],
                     train_transform(model, cfg.augment), cfg.seed, cfg.samples_per_epoch)
    store = _attach_teacher_store(cfg, ds, model, train_samples, device, distributed, main_proc)
    ds.set_epoch(start_epoch)
    sampler = torch.utils.data.distributed.DistributedSampler(ds, world, rank, shuffle=True, seed=cfg.seed, drop_last=True) if distributed else None
    steps_per_epoch = _steps_per_epoch(cfg, len(ds), world)

    train_model: nn.Module = model
    if distributed:
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay, cfg.lr, cfg.trunk_lr_scale), lr=cfg.lr)
    total_steps = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(int(cfg.warmup_epochs * steps_per_epoch), total_steps, cfg.min_lr_ratio))
    amp = autocast_dtype(cfg.precision, device)
    scaler = torch.amp.GradScaler(enabled=amp == torch.float16)
    if state_meta is not None:
        _load_resume_state(run_dir, model, opt, sched, state_meta, device)
        log(f"resuming {run_dir} at epoch {start_epoch + 1}/{cfg.epochs}")
    if main_proc:  # run_dir exists: check_writable_dir made it
        _write_run_record(cfg, run_dir, resume)
    return Run(cfg=cfg, run_dir=run_dir, device=device, rank=rank, world=world, dataset=dataset,
               train_samples=train_samples, train_ids=len(pids_sorted), model=model, train_model=train_model,
               text_feats=text_feats, text_states=text_states, negatives=negatives,
               attribute_labels=attribute_labels, ds=ds, store=store, sampler=sampler, steps_per_epoch=steps_per_epoch, opt=opt,
               sched=sched, scaler=scaler, use_cl=use_cl, amp=amp, start_epoch=start_epoch, best_map=best_map,
               history=history)


def refuse_real_check(root: str | Path) -> None:
    """A real-photo check (or the street video it was cut from) measures what drawings cannot; trained on,
    it would measure nothing. One sentence."""
    from .realcheck import measuring_only

    why = measuring_only(root)
    if why:
        raise LightCLIPError(f"--root {root} {why}: it is for measuring only; train on SynthPedes or another dataset.")


def _check_recipe(cfg: TrainConfig) -> bool:
    """Refuse settings that cannot work together (before any data is read); returns whether the
    backbone trains in channels_last."""
    if cfg.teachers:
        from .distill import check_teacher

        for teacher in cfg.teachers:
            check_teacher(teacher, cfg.text_encoder)
    elif cfg.losses.kd_kl or cfg.losses.kd_cos:
        raise LightCLIPError("Distillation loss weights are set but no teacher is given; pass --teacher CKPT_DIR.")
    # channels_last on CPU too: a training step (batch 64 at 128x96) ran 1.2-1.55x faster in it for
    # every CNN study backbone on two AVX2 cores (2026-11). Backbones whose spec says no stay NCHW.
    cl_allowed = get_backbone_spec(cfg.backbone).channels_last
    if cfg.channels_last == "on" and not cl_allowed:
        raise LightCLIPError(f"--channels-last on: {cfg.backbone} cannot train in channels_last (it crashes this torch's "
                             "CPU kernels); use --channels-last auto or off.")
    return cfg.channels_last != "off" and cl_allowed


def _build_model(cfg: TrainConfig, train_ids: int, resume: bool) -> LightCLIP:
    """The model `cfg` describes, warm-started from ``--init`` on a new run."""
    model_cfg = LightCLIPConfig(
        backbone=cfg.backbone,
        text_encoder=cfg.text_encoder,
        image_size=cfg.image_size,
        head=cfg.head,
        stripes=cfg.stripes,
        init_temperature=cfg.temperature,
        learn_temperature=cfg.learn_temperature,
        num_classes=train_ids if cfg.losses.id > 0 else 0,
        text_head=cfg.text_head,
        attribute_classes=_attribute_classes(cfg),
    )
    model = LightCLIP(model_cfg, pretrained_backbone=cfg.pretrained and not resume and not cfg.init)
    if cfg.init and not resume:
        warm_start(model, cfg.init)
    return model


def _attach_teacher_store(cfg: TrainConfig, ds: PairDataset, model: LightCLIP, train_samples: list, device,
                          distributed: bool, main_proc: bool):
    """With teachers: their stored embeddings of every training image (built by rank 0 first, then
    read by the others), and the dataset set to hand out the stored views; None without."""
    if not cfg.teachers:
        return None
    from .distill import ViewTransform, build_teacher_store

    store = _on_rank0_first(distributed, main_proc, lambda progress: build_teacher_store(
        cfg.teachers, train_samples, cfg.text_encoder, model.embed_dim, cfg.augment, cfg.teacher_views, cfg.seed,
        device, cfg.eval_batch_size, cfg.num_workers, cfg.progress and progress))
    if main_proc:
        log(f"teacher store {'reused from' if store.reused else 'written to'} {store.path}: "
            f"{len(cfg.teachers)} teacher(s), {store.views} views per image")
    ds.views, ds.aug = store.views, cfg.augment
    ds.view_transform = ViewTransform(model.image_size, model.image_mean, model.image_std)
    return store


def _steps_per_epoch(cfg: TrainConfig, images: int, world: int) -> int:
    steps = images // (cfg.batch_size * world)
    if steps == 0:
        raise LightCLIPError(f"{images} training images are fewer than one batch of {cfg.batch_size * world}; lower --batch-size.")
    return min(steps, cfg.max_steps_per_epoch) if cfg.max_steps_per_epoch else steps


def _load_resume_state(run_dir: Path, model: LightCLIP, opt, sched, state_meta: dict, device) -> None:
    """The weights, optimizer and scheduler state saved in ``run_dir/last``; one sentence if unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    last = run_dir / "last"
    try:
        state = load_file(str(last / "model.safetensors"))
        model.load_state_dict({k: v.to(device) for k, v in state.items()}, strict=False)
        optimizer_from_tensors(opt, load_file(str(last / STATE_TENSORS)), state_meta["optimizer"])
        sched.load_state_dict(state_meta["scheduler"])
    except (SafetensorError, OSError, RuntimeError, ValueError, KeyError) as exc:
        raise LightCLIPError(f"--resume: the saved weights or optimizer state in {last} cannot be read "
                             f"({type(exc).__name__}: {str(exc)[:200]}); start again with another --out.") from None


def _write_run_record(cfg: TrainConfig, run_dir: Path, resume: bool) -> None:
    """train_config.json: the run's settings; a resumed run keeps its own and records only a new epoch count."""
    record = cfg.to_dict()
    if resume:
        record = {**read_run_config(run_dir).to_dict(), "epochs": cfg.epochs}
    atomic_write_json(run_dir / "train_config.json", record)


def _training_texts(cfg: TrainConfig, model: LightCLIP, train_samples: list, distributed: bool, main_proc: bool):
    """The frozen encoder's output for every training caption (and, with --negatives, every
    counterfactual after them), from the disk cache: (pooled (N, D), TokenStateStore for a tokens head or
    None, negatives (captions, K) or None, attribute labels (images, A) or None)."""
    from .data.supervision import counterfactual_captions, has_counterfactuals

    texts = [c for s in train_samples for c in s.captions]
    negatives = attribute_labels = None
    # A dataset with counterfactuals caches them after its captions whether this run uses them or not,
    # so one cache file serves every run on it (encoding 240,000 texts took 39 minutes).
    name = f"{cfg.dataset}-{cfg.train_split}"
    if cfg.losses.neg or has_counterfactuals(cfg.root):
        cf_texts, negatives = counterfactual_captions(cfg.root, train_samples)
        negatives = torch.where(negatives >= 0, negatives + len(texts), negatives) if cfg.losses.neg else None
        texts += cf_texts
        name += "-negatives"
    if cfg.losses.attr:
        from .data.supervision import attribute_labels as read_labels

        attribute_labels = read_labels(cfg.root, train_samples)
    encoder = model.text_encoder
    if model.needs_token_states or cached_token_states_exist(encoder, texts, name):
        store = _on_rank0_first(distributed, main_proc, lambda progress: cached_token_states(
            encoder, texts, name, cfg.progress and progress))
        # its pooled vectors are the ones `cached_text_features` would encode
        return store.pooled, (store if model.needs_token_states else None), negatives, attribute_labels
    pooled = _on_rank0_first(distributed, main_proc, lambda progress: cached_text_features(
        encoder, texts, name, cfg.progress and progress))
    return pooled, None, negatives, attribute_labels


def _attribute_classes(cfg: TrainConfig) -> dict[str, int]:
    if not cfg.losses.attr:
        return {}
    from .data.supervision import attribute_classes

    return attribute_classes()


def warm_start(model: LightCLIP, init: str) -> None:
    """Copy the tensors of checkpoint `init` that fit `model` (same name and shape); the rest (a new
    text head, attribute heads, part-pooling layers) keep their fresh initialisation. Says what it did."""
    from .checkpoints import load_checkpoint

    source = load_checkpoint(init)
    if source.config.backbone != model.config.backbone or source.config.text_encoder != model.config.text_encoder:
        raise LightCLIPError(f"--init {init} is a {source.config.backbone} / {source.config.text_encoder} checkpoint, "
                             f"not {model.config.backbone} / {model.config.text_encoder}.")
    have, want = source.trainable_state_dict(), model.trainable_state_dict()
    fits = {k: v for k, v in have.items() if k in want and want[k].shape == v.shape}
    model.load_state_dict(fits, strict=False)
    fresh = sorted({k.split(".")[0] for k in want if k not in fits})
    log(f"warm start from {init}: {len(fits)} of {len(want)} tensors copied"
        + (f"; new: {', '.join(fresh)}" if fresh else ""))


def _loader(run: Run, epoch: int) -> torch.utils.data.DataLoader:
    cfg = run.cfg
    run.ds.set_epoch(epoch)
    if run.sampler is not None:
        run.sampler.set_epoch(epoch)
    return torch.utils.data.DataLoader(
        run.ds,
        batch_size=cfg.batch_size,
        shuffle=run.sampler is None,
        sampler=run.sampler,
        drop_last=True,
        num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch),
        persistent_workers=False,
        pin_memory=run.device.type == "cuda",
    )


def _batch_outputs(run: Run, batch) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Forward one batch; under DDP gather what the contrastive losses compare across ranks. Returns (outputs, pids)."""
    images, cap_idx, labels = batch[:3]
    images = images.to(run.device, non_blocking=True)
    if run.use_cl:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = labels.to(run.device)
    txt, states = _texts(run, cap_idx)
    with torch.autocast(run.device.type, dtype=run.amp, enabled=run.amp is not None):
        out = run.train_model(images, text_features=txt, text_states=states)
        if run.negatives is not None:
            neg_idx = run.negatives[cap_idx]  # (B, K)
            neg, neg_states = _texts(run, neg_idx.clamp(min=0).reshape(-1))
            out["negative_features"] = run.model.project_text(neg, *(neg_states or (None, None))).reshape(
                *neg_idx.shape, -1)  # (B, K, D)
            out["negative_valid"] = (neg_idx >= 0).to(run.device)
    attribute_logits = out.pop("attribute_logits", None)
    out = {k: (v if v.dtype == torch.bool else v.float()) for k, v in out.items()}
    if attribute_logits is not None:
        out["attribute_logits"] = {k: v.float() for k, v in attribute_logits.items()}
        out["attribute_labels"] = run.attribute_labels[batch[3]].to(run.device)  # batch[3]: the images' indices
    if run.store is not None:
        out["teacher_features"] = run.store.rows(batch[3], batch[4]).to(run.device)  # (T, B, D)
        out["teacher_logit_scale"] = run.store.scales.to(run.device)
    if not run.distributed:
        return out, labels
    out["local_image_features"], out["local_text_features"] = out["image_features"], out["text_features"]
    out["image_features"] = gather_features(out["image_features"], with_grad=True)
    out["text_features"] = gather_features(out["text_features"], with_grad=False)
    if run.store is not None:  # (T, B, D): gather along the batch
        out["teacher_features"] = gather_features(out["teacher_features"].transpose(0, 1).contiguous(),
                                                  with_grad=False).transpose(0, 1)
    if "image_logits" in out:
        out["image_logits"] = gather_features(out["image_logits"], with_grad=True)
        out["text_logits"] = gather_features(out["text_logits"], with_grad=True)
    return out, gather_features(labels, with_grad=False)


def _texts(run: Run, idx: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """The frozen encoder's output for cached texts `idx`: pooled (n, D) and, for a tokens head, (states, mask)."""
    if run.text_states is None:
        return run.text_feats[idx].to(run.device), None
    feats = run.text_states.rows(idx)
    return feats.pooled.to(run.device), (feats.states.to(run.device), feats.mask.to(run.device))


def train_one_epoch(run: Run, epoch: int) -> dict[str, Any]:
    """One pass of ``steps_per_epoch`` optimizer steps; returns the epoch's training record."""
    cfg = run.cfg
    # Reseed from (seed, epoch): a resumed run repeats exactly what an uninterrupted one does.
    seed_everything(cfg.seed * 1000 + epoch * run.world + run.rank)
    loader = _loader(run, epoch)
    run.train_model.train()
    t0, cpu0 = time.perf_counter(), time.process_time()
    seen, loss_sum, steps = 0, 0.0, 0
    term_sums: dict[str, float] = {}
    bar = None
    if cfg.progress and run.main_proc:
        from tqdm import tqdm

        bar = tqdm(total=run.steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", file=sys.stderr, leave=False)
    for batch in loader:
        if steps >= run.steps_per_epoch:
            break
        out, pids = _batch_outputs(run, batch)
        terms = compute_losses(out, pids, cfg.losses)
        # Each rank holds the loss of the global batch but gradients only for its own slice;
        # DDP averages over ranks, so scale by the world size to get the global gradient.
        loss = terms["loss"] * run.world
        run.opt.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.opt)
        run.scaler.update()
        run.sched.step()
        steps += 1
        seen += batch[0].shape[0] * run.world
        loss_sum += terms["loss"].item()
        for name, value in terms.items():
            if name.endswith("_loss"):
                term_sums[name] = term_sums.get(name, 0.0) + value.item()
        if bar:
            bar.set_postfix(loss=f"{loss_sum / steps:.3f}", img_s=f"{seen / (time.perf_counter() - t0):.0f}")
            bar.update(1)
    if bar:
        bar.close()
    train_seconds = time.perf_counter() - t0
    # CPU seconds of this process (all its threads; loader workers are other processes): unlike the
    # wall time, they do not grow while the run is paused or waits for a CPU another job holds.
    cpu_seconds = time.process_time() - cpu0
    record: dict[str, Any] = {
        "epoch": epoch + 1,
        "train_loss": loss_sum / max(1, steps),
        "lr": run.sched.get_last_lr()[0],
        "images_per_s": seen / max(train_seconds, 1e-9),
        "train_seconds": train_seconds,
        "train_cpu_seconds": cpu_seconds,
        "logit_scale": run.model.scale().item(),
        "steps": steps,
    }
    if len(term_sums) > 1 or run.store is not None:  # each weighted term, to see what falls
        record.update({f"train_{k}": v / max(1, steps) for k, v in term_sums.items()})
    return record


def evaluate_and_save(run: Run, epoch: int, record: dict[str, Any]) -> None:
    """Rank 0 after an epoch: validate (if the dataset has val), append to the history, write last/ and best/, log."""
    cfg = run.cfg
    has_val = cfg.val_split in run.dataset.splits()
    if has_val:
        val = evaluate(run.model, run.dataset, cfg.val_split, cfg.eval_batch_size, cfg.num_workers, cfg.losses,
                       by_attribute=False)
        record.update({f"val_{k}": val[k] for k in ("r1", "r5", "r10", "map", "minp", "val_loss")})
        record["val_loss"] = record.pop("val_val_loss")
        score = val["map"]
    else:
        score = -record["train_loss"]
    run.history.append(record)
    improved = score > run.best_map
    run.best_map = max(run.best_map, score)
    total_steps_done = sum(r.get("steps", run.steps_per_epoch) for r in run.history)
    recipe = {
        "dataset": cfg.dataset,
        "train_images": len(run.train_samples),
        "train_ids": run.train_ids,
        "teachers": [_teacher_record(t) for t in cfg.teachers],
        "init_from": _teacher_record(cfg.init) if cfg.init else None,  # a warm start: where, and its own recipe
        "epochs": epoch + 1,
        "steps": total_steps_done,
        "images_seen": total_steps_done * cfg.batch_size * run.world,
        "train_minutes": round(sum(r["train_seconds"] for r in run.history) / 60, 2),
        # None when an epoch was trained before CPU time was recorded (a run resumed across versions)
        "train_cpu_minutes": (round(sum(r["train_cpu_seconds"] for r in run.history) / 60, 2)
                              if all("train_cpu_seconds" in r for r in run.history) else None),
        "device": f"{run.device.type} x{run.world}" + (f" ({torch.get_num_threads()} threads)" if run.device.type == "cpu" else ""),
    }
    _save_epoch(run.run_dir, run.model, run.opt, run.sched, cfg, epoch, run.best_map, run.history, improved, recipe)
    log(
        f"epoch {epoch + 1}/{cfg.epochs}  train loss {record['train_loss']:.4f}"
        + (f"  val loss {record['val_loss']:.4f}  val R@1 {record['val_r1']:.2f}  mAP {record['val_map']:.2f}" if has_val else "")
        + f"  {record['images_per_s']:.0f} img/s  {record['train_seconds']:.0f} s" + ("  *best*" if improved else "")
    )


def _portable(train: dict[str, Any]) -> dict[str, Any]:
    """A run's config as a checkpoint records it: its paths relative or by name (`portable_path`);
    the run folder's own train_config.json, which resumes it on this machine, keeps them as given."""
    from .fileio import portable_path

    out = {k: portable_path(v) if k in ("root", "out", "init") else v for k, v in train.items()}
    out["teachers"] = [portable_path(t) for t in train.get("teachers") or []]
    return out


def _teacher_record(path: str) -> dict[str, Any]:
    """What a student's records say about a teacher: where (`portable_path`), which backbone, and its
    own recipe."""
    from .fileio import portable_path, portable_record

    try:
        cfg = portable_record(json.loads((Path(path) / "config.json").read_text()))
    except (OSError, json.JSONDecodeError):
        return {"path": portable_path(path)}
    return {"path": portable_path(path), "backbone": cfg.get("model", {}).get("backbone"),
            "pretrained": cfg.get("train", {}).get("pretrained"), "recipe": cfg.get("recipe")}


def _save_epoch(run_dir: Path, model, opt, sched, cfg: TrainConfig, epoch: int, best_map: float, history: list,
                improved: bool, recipe: dict[str, Any] | None = None) -> None:
    """Write the epoch's weights, curves and resume state into a new folder and swap it in as ``last/``
    whole, so a kill leaves the previous epoch's folder or this one, never a mix. An improved epoch's
    ``best/`` is swapped in first: a kill between the two swaps resumes from the previous epoch and
    trains this one again to the same result."""
    from safetensors.torch import save

    last, tmp = run_dir / "last", run_dir / ".last.tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # what a kill inside an earlier save left
    extra = {"train": _portable(cfg.to_dict()), "epoch": epoch + 1, "metrics": history[-1],
             "synthetic": cfg.dataset == "synthpedes"}
    if recipe is not None:
        extra["recipe"] = recipe
    save_checkpoint(model, tmp, extra)
    atomic_write_json(tmp / "curves.json", history)
    atomic_write_json(tmp / "metrics.json", history[-1])
    tensors, meta = optimizer_to_tensors(opt)
    atomic_write_bytes(tmp / STATE_TENSORS, save(tensors))
    atomic_write_json(tmp / STATE_JSON, {"epoch": epoch, "best_map": best_map, "history": history,
                                         "optimizer": meta, "scheduler": sched.state_dict()})
    if improved:
        best_tmp = run_dir / ".best.tmp"
        shutil.rmtree(best_tmp, ignore_errors=True)
        best_tmp.mkdir()
        for name in ("model.safetensors", "config.json", "curves.json", "metrics.json"):
            shutil.copy2(tmp / name, best_tmp / name)
        replace_dir(best_tmp, run_dir / "best")
    elif (run_dir / "best").exists():
        atomic_write_json(run_dir / "best" / "curves.json", history)  # the best's curves run on
    replace_dir(tmp, last)


__all__ = ["PRESETS", "PRESET_EPOCHS", "Run", "TrainConfig", "evaluate_and_save", "fit", "preset", "setup_run", "train_one_epoch"]
