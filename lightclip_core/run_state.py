"""A training run's files: ``train_config.json``, ``last/`` (weights, curves, optimizer and schedule,
swapped in whole each epoch) and ``best/``; how a run checks and reads them to resume, and what a
checkpoint records about its recipe (paths made portable, teachers and warm starts)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from .checkpoints import read_config, save_checkpoint
from .errors import LightCLIPError
from .fileio import (atomic_write_bytes, atomic_write_json, log, portable_path, portable_record, read_json_or_none,
                     replace_dir)
from .models.lightclip import LightCLIP
from .outputs import OutputKind, check_output_dir, listed_files
from .train_config import TrainConfig


STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"


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


def resume_point(cfg: TrainConfig, run_dir: Path, resume: bool) -> tuple[int, float, list, dict | None]:
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


def load_resume_state(run_dir: Path, model: LightCLIP, opt, sched, state_meta: dict, device) -> None:
    """The weights, optimizer and scheduler state saved in ``run_dir/last``; one sentence if unreadable."""
    last = run_dir / "last"
    try:
        state = load_file(str(last / "model.safetensors"))
        model.load_state_dict({k: v.to(device) for k, v in state.items()}, strict=False)
        optimizer_from_tensors(opt, load_file(str(last / STATE_TENSORS)), state_meta["optimizer"])
        sched.load_state_dict(state_meta["scheduler"])
    except (SafetensorError, OSError, RuntimeError, ValueError, KeyError) as exc:
        raise LightCLIPError(f"--resume: the saved weights or optimizer state in {last} cannot be read "
                             f"({type(exc).__name__}: {str(exc)[:200]}); start again with another --out.") from None


def write_run_record(cfg: TrainConfig, run_dir: Path, resume: bool) -> None:
    """train_config.json: the run's settings; a resumed run keeps its own and records only a new epoch count."""
    record = cfg.to_dict()
    if resume:
        record = {**read_run_config(run_dir).to_dict(), "epochs": cfg.epochs}
    atomic_write_json(run_dir / "train_config.json", record)


def portable_config(train: dict[str, Any]) -> dict[str, Any]:
    """A run's config as a checkpoint records it: its paths relative or by name (`portable_path`);
    the run folder's own train_config.json, which resumes it on this machine, keeps them as given."""
    out = {k: portable_path(v) if k in ("root", "out", "init") else v for k, v in train.items()}
    out["teachers"] = [portable_path(t) for t in train.get("teachers") or []]
    return out


def teacher_record(path: str) -> dict[str, Any]:
    """What a student's records say about a teacher: where (`portable_path`), which backbone, and its
    own recipe."""
    try:
        cfg = portable_record(json.loads((Path(path) / "config.json").read_text()))
    except (OSError, json.JSONDecodeError):
        return {"path": portable_path(path)}
    return {"path": portable_path(path), "backbone": cfg.get("model", {}).get("backbone"),
            "pretrained": cfg.get("train", {}).get("pretrained"), "recipe": cfg.get("recipe")}


def save_epoch(run_dir: Path, model, opt, sched, cfg: TrainConfig, epoch: int, best_map: float, history: list,
                improved: bool, recipe: dict[str, Any] | None = None) -> None:
    """Write the epoch's weights, curves and resume state into a new folder and swap it in as ``last/``
    whole, so a kill leaves the previous epoch's folder or this one, never a mix. An improved epoch's
    ``best/`` is swapped in first: a kill between the two swaps resumes from the previous epoch and
    trains this one again to the same result."""
    last, tmp = run_dir / "last", run_dir / ".last.tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # what a kill inside an earlier save left
    extra = {"train": portable_config(cfg.to_dict()), "epoch": epoch + 1, "metrics": history[-1],
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
