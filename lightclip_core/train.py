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

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from .checkpoints import load_checkpoint
from .data import load_dataset
from .data.base import caption_offsets
from .data.supervision import attribute_classes, counterfactual_captions, has_counterfactuals
from .data.supervision import attribute_labels as read_labels
from .data.transforms import train_transform
from .distill import ViewTransform, build_teacher_store, check_teacher
from .errors import LightCLIPError
from .evaluate import evaluate
from .fileio import check_writable_dir, log
from .losses import compute_losses
from .models.backbones import get_backbone_spec
from .models.lightclip import LightCLIP, LightCLIPConfig
from .realcheck import measuring_only
from .run_state import load_resume_state, resume_point, save_epoch, teacher_record, write_run_record
from .text_cache import cached_text_features, cached_token_states, cached_token_states_exist
from .train_config import (
    PRESET_EPOCHS,
    PRESETS,
    TrainConfig,
    preset,
)
from .train_parts import (
    PairDataset,
    autocast_dtype,
    gather_features,
    lr_lambda,
    param_groups,
    resolve_device,
    seed_everything,
)


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
    start_epoch, best_map, history, state_meta = resume_point(cfg, run_dir, resume)
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
        load_resume_state(run_dir, model, opt, sched, state_meta, device)
        log(f"resuming {run_dir} at epoch {start_epoch + 1}/{cfg.epochs}")
    if main_proc:  # run_dir exists: check_writable_dir made it
        write_run_record(cfg, run_dir, resume)
    return Run(cfg=cfg, run_dir=run_dir, device=device, rank=rank, world=world, dataset=dataset,
               train_samples=train_samples, train_ids=len(pids_sorted), model=model, train_model=train_model,
               text_feats=text_feats, text_states=text_states, negatives=negatives,
               attribute_labels=attribute_labels, ds=ds, store=store, sampler=sampler, steps_per_epoch=steps_per_epoch, opt=opt,
               sched=sched, scaler=scaler, use_cl=use_cl, amp=amp, start_epoch=start_epoch, best_map=best_map,
               history=history)


def refuse_real_check(root: str | Path) -> None:
    """A real-photo check (or the street video it was cut from) measures what drawings cannot; trained on,
    it would measure nothing. One sentence."""
    why = measuring_only(root)
    if why:
        raise LightCLIPError(f"--root {root} {why}: it is for measuring only; train on SynthPedes or another dataset.")


def _check_recipe(cfg: TrainConfig) -> bool:
    """Refuse settings that cannot work together (before any data is read); returns whether the
    backbone trains in channels_last."""
    if cfg.teachers:
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


def _training_texts(cfg: TrainConfig, model: LightCLIP, train_samples: list, distributed: bool, main_proc: bool):
    """The frozen encoder's output for every training caption (and, with --negatives, every
    counterfactual after them), from the disk cache: (pooled (N, D), TokenStateStore for a tokens head or
    None, negatives (captions, K) or None, attribute labels (images, A) or None)."""
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
    return attribute_classes()


def warm_start(model: LightCLIP, init: str) -> None:
    """Copy the tensors of checkpoint `init` that fit `model` (same name and shape); the rest (a new
    text head, attribute heads, part-pooling layers) keep their fresh initialisation. Says what it did."""
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
        "teachers": [teacher_record(t) for t in cfg.teachers],
        "init_from": teacher_record(cfg.init) if cfg.init else None,  # a warm start: where, and its own recipe
        "epochs": epoch + 1,
        "steps": total_steps_done,
        "images_seen": total_steps_done * cfg.batch_size * run.world,
        "train_minutes": round(sum(r["train_seconds"] for r in run.history) / 60, 2),
        # None when an epoch was trained before CPU time was recorded (a run resumed across versions)
        "train_cpu_minutes": (round(sum(r["train_cpu_seconds"] for r in run.history) / 60, 2)
                              if all("train_cpu_seconds" in r for r in run.history) else None),
        "device": f"{run.device.type} x{run.world}" + (f" ({torch.get_num_threads()} threads)" if run.device.type == "cpu" else ""),
    }
    save_epoch(run.run_dir, run.model, run.opt, run.sched, cfg, epoch, run.best_map, run.history, improved, recipe)
    log(
        f"epoch {epoch + 1}/{cfg.epochs}  train loss {record['train_loss']:.4f}"
        + (f"  val loss {record['val_loss']:.4f}  val R@1 {record['val_r1']:.2f}  mAP {record['val_map']:.2f}" if has_val else "")
        + f"  {record['images_per_s']:.0f} img/s  {record['train_seconds']:.0f} s" + ("  *best*" if improved else "")
    )


__all__ = ["PRESETS", "PRESET_EPOCHS", "Run", "TrainConfig", "evaluate_and_save", "fit", "preset", "setup_run", "train_one_epoch"]
