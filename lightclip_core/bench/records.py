"""`bench`: accuracy and cost of every checkpoint and the side-by-side ratios, as one document.

``run_bench`` evaluates each checkpoint on the bundled gallery and profiles it, measures the three
ratios of the results table (warm vs naive query, batched vs single queries, throughput vs CLIP's
ViT-B/32 image tower) in the same run, and returns the `checkpoints/benchmarks.json` document;
``merge_bench`` keeps earlier rows. `lightclip_core.benchmarks` reads and writes that file, `tables.py` renders
its tables, `scale.py` is the index scaling study.
"""

from __future__ import annotations

import datetime as _dt
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ..benchmarks import machine_of, record_machine_label
from ..binding import BindingSet, binding_report
from ..checkpoints import bundled_checkpoints, read_config
from ..data import load_dataset
from ..errors import LightCLIPError
from ..evaluate import evaluate
from ..fileio import log
from ..gallery import Gallery, detect_gallery_dataset
from ..models.backbones import BACKBONES
from ..models.lightclip import create_model
from ..models.zero_shot import list_zero_shot, weights_cached
from ..profiling import (
    FLOPS_NOTE,
    TYPICAL_QUERY,
    cpu_peak_memory_mb,
    machine_info,
    profile,
    profile_model,
    timed,
)
from ..realcheck import real_check
from ..retrieval import encode_images, retrieval_metrics
from ..runtime import RUNTIMES, resolve_runtime
from ..search import SearchEngine
from ..train_config import CAMERA_FIELDS

REFERENCE = "vit_base_patch32_clip_224"


def _training_summary(ckpt: Path) -> dict[str, Any]:
    """The training config and curves stored beside a checkpoint (when it came from `train`)."""
    cfg = read_config(ckpt)
    train = cfg.get("train") or {}
    out: dict[str, Any] = {"training": train, "epochs_trained": cfg.get("epoch"), "synthetic": cfg.get("synthetic"),
                           "trained_on": train.get("dataset")}
    out.update(recipe_summary(cfg))
    curves = ckpt / "curves.json"
    if curves.is_file():
        out["curves"] = json.loads(curves.read_text())
    return out


def display_name(backbone: str | None) -> str:
    try:
        return BACKBONES.get(backbone).display_name
    except Exception:  # noqa: BLE001 - an unknown or missing name is shown as it is
        return str(backbone)


def recipe_summary(cfg: dict[str, Any]) -> dict[str, Any]:
    """Flat recipe fields of a checkpoint config (nested detail stays under ``recipe``): how the trunk
    started, which teachers it was distilled from, how much data and compute it saw."""
    train = cfg.get("train") or {}
    recipe = cfg.get("recipe") or {}
    teachers = recipe.get("teachers") or [{"path": t} for t in train.get("teachers", [])]
    out: dict[str, Any] = {
        "recipe": recipe or None,
        "init": "ImageNet" if train.get("pretrained") else ("scratch" if train else None),
        "distilled_from": [display_name(t.get("backbone")) if t.get("backbone") else t.get("path") for t in teachers],
        "train_images": recipe.get("train_images"),
        "train_ids": recipe.get("train_ids"),
        "train_steps": recipe.get("steps"),
        "images_seen": recipe.get("images_seen"),
        "train_minutes": recipe.get("train_minutes"),
        "train_cpu_minutes": recipe.get("train_cpu_minutes"),
        "train_device": recipe.get("device"),
        "stripes": (cfg.get("model") or {}).get("stripes") or train.get("stripes") or 0,
        "text_head": (cfg.get("model") or {}).get("text_head") or "none",
        "negatives": bool((train.get("losses") or {}).get("neg")),  # counterfactual hard negatives
        "attribute_supervision": bool((train.get("losses") or {}).get("attr")),
        "warm_start": bool(train.get("init")),
    }
    start = (out["init"] or "?") + (f", {out['stripes']} bands" if out["stripes"] else "")
    if out["warm_start"]:  # a fine-tune: what it started from is its own earlier model
        start = _base_of_fine_tune(out, recipe.get("init_from")) + "fine-tuned" + (
            f", {out['stripes']} bands" if out["stripes"] else "")
    aug = train.get("augment") or {}
    out["camera_augment"] = any(aug.get(k) for k in CAMERA_FIELDS)
    out["wise_alpha"] = cfg.get("wise_alpha")
    extras = [name for name, on in (("text head", out["text_head"] != "none"), ("negatives", out["negatives"]),
                                    ("attributes", out["attribute_supervision"]),
                                    ("camera augmentation", out["camera_augment"]),
                                    (f"WiSE α {out['wise_alpha']}", out["wise_alpha"] is not None)) if on]
    out["recipe_short"] = (start + (f" + KD ← {' + '.join(out['distilled_from'])}" if out["distilled_from"] else "")
                           + "".join(f" + {e}" for e in extras))
    return out


def _base_of_fine_tune(out: dict[str, Any], init_from: dict[str, Any] | None) -> str:
    """How the model a fine-tune started from was first trained ("scratch + KD ← X, then "), following
    a chain of fine-tunes back to its first run, and every run's images and minutes added to the
    fine-tune's in `out`, so the totals are the whole model's."""
    base = (init_from or {}).get("recipe")
    if not isinstance(base, dict):
        return ""
    for key in ("images_seen", "train_minutes", "train_cpu_minutes"):
        mine, theirs = out.get(key), base.get(key)
        out[key] = round(mine + theirs, 2) if mine is not None and theirs is not None else None
    earlier = base.get("init_from")
    if isinstance(earlier, dict) and isinstance(earlier.get("recipe"), dict):  # the start was a fine-tune too
        return _base_of_fine_tune(out, earlier)
    teachers = [display_name(t.get("backbone")) if t.get("backbone") else t.get("path")
                for t in base.get("teachers") or [] if isinstance(t, dict)]
    start = "ImageNet" if init_from.get("pretrained") else "scratch"
    out["init"] = start  # how the trunk started is the first run's start
    return start + (f" + KD ← {' + '.join(teachers)}" if teachers else "") + ", then "


def backfill_recipe(rec: dict[str, Any]) -> dict[str, Any]:
    """Recipe fields for a record of a checkpoint trained or measured before recipes were recorded,
    from what the record holds (its training config; train minutes from its curves)."""
    if rec.get("zero_shot") or not rec.get("training"):
        return rec
    out = dict(rec)
    if not out.get("recipe_short"):
        out = {**recipe_summary({"train": rec["training"]}), **{k: v for k, v in rec.items() if v is not None}}
    if out.get("train_minutes") is None and rec.get("curves"):
        out["train_minutes"] = round(sum(c.get("train_seconds", 0) for c in rec["curves"]) / 60, 2)
    return out


QUALITY_CHECK_IMAGES = 400  # the first 400 gallery images (100 people of the bundled gallery)


@torch.no_grad()
def quality_check(model, gallery, image_features: torch.Tensor | None = None,
                  n_images: int = QUALITY_CHECK_IMAGES) -> dict[str, Any]:
    """R@1 and mAP on a fixed small subset of `gallery` (its first `n_images` images, their captions
    as queries). `bench` records it beside each checkpoint; the test suite recomputes it from the
    bundled weights and fails if it drops, which a broken int8 round trip would make it do.
    `image_features` ``(>= n_images, D)`` skips encoding when the gallery is already encoded."""

    n = min(n_images, len(gallery))
    if image_features is None:
        image_features = encode_images(model, gallery.paths[:n])
    img = torch.as_tensor(image_features[:n]).float()
    queries = [(c, pid) for caps, pid in zip(gallery.captions[:n], gallery.pids[:n]) for c in caps]
    if not queries:
        return {}
    txt = model.encode_text([q for q, _ in queries]).float().cpu()
    m = retrieval_metrics(txt @ img.t(), [p for _, p in queries], gallery.pids[:n])
    return {"images": n, "queries": len(queries), "r1": round(float(m["r1"]), 2), "map": round(float(m["map"]), 2)}


def bench_engine(engine, repeats: int = 20, naive: bool = True, memory: bool = True, bundled: bool = True,
                 checkpoint: Path | None = None, real_root: Path | None = None) -> dict[str, Any]:
    """One record: retrieval metrics on the engine's gallery (its dataset's test split) + costs, and the
    real-photo check's figures (``real_*``) when `real_root` names one."""

    t0 = time.perf_counter()
    model, gallery = engine.model, engine.gallery
    ds = load_dataset(gallery_dataset(gallery), gallery_root(gallery))
    metrics = evaluate(model, ds, "test", image_features=torch.from_numpy(engine.embeddings))
    key = model.config.backbone
    peak = (lambda: cpu_peak_memory_mb(key, str(checkpoint) if checkpoint else None, model.config.text_encoder,
                                       model.image_size)) if memory else None
    report = profile_model(model, engine=engine, repeats=repeats, peak_memory=peak)
    record: dict[str, Any] = {**report.to_dict()}
    record.pop("machine")
    record.update({k: metrics[k] for k in ("r1", "r5", "r10", "map", "minp", "val_loss")})
    record["n_queries"], record["n_gallery"] = metrics["n_queries"], metrics["n_gallery"]
    if "by_attribute" in metrics:
        record["by_attribute"] = metrics["by_attribute"]
    record["quality_check"] = quality_check(model, gallery, torch.from_numpy(engine.embeddings))
    record.update(binding_fields(model, gallery, torch.from_numpy(engine.embeddings)))
    if real_root is not None:
        record.update(real_check(model, real_root))
    record["bundled"] = bundled
    record["zero_shot"] = checkpoint is None
    record["runtime"] = getattr(engine, "runtime", "torch")  # how its queries were encoded (latency_ms)
    # which gallery embeddings the accuracy columns score: the shipped fp16 ones can break a near-tie the
    # other way (seen: one of 4,000 queries moved off rank 1)
    record["gallery_embeddings"] = getattr(engine, "embeddings_source", "encoded")
    if checkpoint is not None:
        record["checkpoint"] = str(checkpoint)
        record.update(_training_summary(checkpoint))
        record = backfill_recipe(record)
    record["batch5_vs_single"] = round(record["latency_ms_batch5"] / record["latency_ms"], 3)
    if naive:
        engine.search(TYPICAL_QUERY, 10)  # warm
        t_naive = timed(lambda: engine.naive_search(TYPICAL_QUERY, 10), repeats=1, warmup=0)
        record["latency_ms_naive"] = round(t_naive[0], 1)
        record["naive_vs_warm_query"] = round(t_naive[0] / record["latency_ms"], 1)
    record["bench_seconds"] = round(time.perf_counter() - t0, 1)
    return record


_binding_sets: dict[tuple[str, str], tuple] = {}  # (gallery, text encoder) -> (BindingSet, frozen features)


def binding_fields(model, gallery, image_features: torch.Tensor) -> dict[str, Any]:
    """The record's binding benchmark (`lightclip_core.binding`) and what its text side is: the frozen
    features are computed once per gallery and text encoder, and shared by every row of the run.
    Empty for a gallery without SynthPedes' attributes.json."""

    root = gallery_root(gallery)
    text_head = getattr(model.config, "text_head", "none") if hasattr(model, "config") else "none"
    out: dict[str, Any] = {"text_head": text_head}
    if not (root / "attributes.json").is_file() or not hasattr(model, "project_text"):
        return out
    key = (str(root), model.text_encoder.key)
    if key not in _binding_sets:
        log("bench: binding benchmark texts (encoded once for every row)")
        bset = BindingSet.build(root)
        _binding_sets[key] = (bset, bset.features(model.text_encoder, states=True))
    bset, features = _binding_sets[key]
    report = binding_report(model, bset, image_features, features)
    out.update(binding=report, binding_swap=report["swap"], binding_single=report["single"],
               composed_p5=report["composed_p5"])
    return out


def text_head_query_ms(engine, repeats: int = 20) -> dict[str, float] | None:
    """Median warm query with the model's text head and without it (the frozen vector), side by side in
    alternating blocks on the engine's runtime; None for a model without a head."""

    model = engine.model
    head = getattr(model, "text_head", None)
    if head is None:
        return None
    _fresh_query(engine)  # builds / loads the head's ONNX graph outside the clock
    times = _in_blocks(["with_head", "without_head"], lambda n: setattr(model, "text_head", head if n == "with_head" else None),
                       lambda: _fresh_query(engine), repeats)
    model.text_head = head
    out = {n: round(statistics.median(v), 3) for n, v in times.items()}
    out["delta_ms"] = round(out["with_head"] - out["without_head"], 3)
    # The difference of two ~6 ms medians carries both their noise (0.68-1.09 ms across runs with one
    # head); the head's own call on the typical query's encoder output, timed alone, does not.
    feats = model.text_encoder.encode_features([TYPICAL_QUERY])

    def head_call() -> None:
        with torch.no_grad():
            model.project_text(feats.pooled, feats.states, feats.mask)

    out["call_ms"] = round(statistics.median(timed(head_call, max(50, 5 * repeats), warmup=5)), 3)
    return out


def bench_checkpoint(ckpt: Path, gallery, repeats: int = 20, naive: bool = True, memory: bool = True,
                     bundled: bool = True, runtime: str | None = None, real_root: Path | None = None) -> dict[str, Any]:
    # a concrete runtime (not "auto", which may switch the image side to ONNX mid-measurement)
    engine = SearchEngine.from_checkpoint(ckpt, gallery, runtime=resolve_runtime(runtime))
    return bench_engine(engine, repeats, naive, memory, bundled, checkpoint=Path(ckpt), real_root=real_root)


def _in_blocks(names: list[str], select, call, repeats: int, block: int = 5) -> dict[str, list[float]]:
    """Milliseconds of `call()` per name, side by side: blocks of `block` calls per name, the names
    alternating block by block (so a busy machine slows each alike), the first call of each block
    discarded. Not call by call: PyTorch's and ONNX Runtime's thread pools each keep spinning a moment
    after a call, so strict alternation made each runtime pay for the other (measured on two cores:
    a MiniLM query on ONNX Runtime 9.2 ms alone, 11.5 ms alternating with PyTorch call by call)."""
    times: dict[str, list[float]] = {n: [] for n in names}
    rounds = max(1, -(-repeats // (block - 1)))
    for r in range(rounds + 1):  # round 0 is a warm-up, discarded
        for name in names:
            select(name)
            got = [timed(call, 1, warmup=0)[0] for _ in range(block)][1:]
            if r > 0:
                times[name] += got
    return times


def _fresh_query(engine) -> None:
    """One warm query as a new user's: text encode (caches emptied) and top-10 search."""
    engine.model.text_encoder.clear_cache()
    with torch.no_grad():
        engine.index.search(engine.model.encode_text([TYPICAL_QUERY]).float().cpu().numpy(), 10)


def query_ms_by_runtime(engine, repeats: int = 20) -> dict[str, float]:
    """Median warm query (text encode of a new query, text head included, + top-10 search) per
    runtime, measured side by side in alternating blocks (`_in_blocks`). The frozen encoder and the
    model's own text head switch together, as `LightCLIP.use_runtime` does."""

    model = engine.model
    enc = model.text_encoder
    before = (enc.runtime, enc.dispatch.auto, model.image_runtime, model._runtime_auto)

    def switch(name: str) -> None:
        enc.runtime = name
        model.image_runtime = name

    chosen = []
    for name in RUNTIMES:
        try:
            model.use_runtime(name)
            enc.clear_cache()
            model.encode_text([TYPICAL_QUERY])  # builds / loads the ONNX graphs outside the clock
            chosen.append(name)
        except LightCLIPError as exc:
            log(f"bench: runtime {name} skipped: {exc}")

    times = _in_blocks(chosen, switch, lambda: _fresh_query(engine), repeats)
    enc.runtime, enc.dispatch.auto, model.image_runtime, model._runtime_auto = before
    return {n: round(statistics.median(v), 3) for n, v in times.items()}


def images_per_s_by_runtime(model, repeats: int = 10, batch: int = 32) -> dict[str, float]:
    """Image-encode throughput at batch `batch` per runtime, in alternating blocks (`_in_blocks`)."""

    before = model.image_runtime
    h, w = model.image_size
    x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(0))
    chosen = []
    with torch.no_grad():
        for name in RUNTIMES:
            try:
                model.use_runtime(name)
                model.encode_image(x[:2])  # builds / loads the ONNX graph outside the clock
                chosen.append(name)
            except LightCLIPError as exc:
                log(f"bench: runtime {name} skipped: {exc}")
        times = _in_blocks(chosen, lambda name: setattr(model, "image_runtime", name),
                           lambda: model.encode_image(x), repeats)
    model.use_runtime(before)
    return {n: round(batch / (statistics.median(v) / 1e3), 1) for n, v in times.items()}


def gallery_root(gallery) -> Path:
    """Where `gallery` was loaded from (for one built in code: the folder above its images' folder)."""
    return Path(gallery.root) if gallery.root else Path(gallery.paths[0]).parent.parent


def gallery_dataset(gallery) -> str:
    return gallery.dataset or detect_gallery_dataset(gallery_root(gallery))


def _is_bundled_gallery(gallery_dir: str | Path, checkpoints_dir: str | Path) -> bool:
    """Whether `gallery_dir` is the gallery bundled with `checkpoints_dir` (``gallery/`` beside
    ``checkpoints/``, as in a checkout: the one `ship-embeddings` writes for)."""
    try:
        return Path(gallery_dir).resolve() == Path(checkpoints_dir).resolve().parent / "gallery"
    except OSError:
        return False


def ship_hint(record: dict[str, Any], ckpt: Path, checkpoints_dir: str | Path, gallery_dir: str | Path) -> str | None:
    """A line for a bundled checkpoint benched on the bundled gallery without current shipped embeddings:
    its row then scores a fresh encode, not what the app searches (and the app's first search encodes)."""
    if not record.get("bundled", True) or record.get("gallery_embeddings") == "shipped" \
            or not _is_bundled_gallery(gallery_dir, checkpoints_dir):
        return None
    return (f"bench: {ckpt} ships no current gallery embeddings, so its row scores a fresh float32 encode, not what "
            f"the app searches; run `python -m lightclip_core ship-embeddings --checkpoints {checkpoints_dir} "
            f"--backbones {record['backbone']}` before bench.")


def run_bench(
    checkpoints_dir: str | Path,
    gallery_dir: str | Path,
    extra: list[str | Path] = (),
    backbones: list[str] | None = None,
    repeats: int = 20,
    naive: bool = True,
    memory: bool = True,
    zero_shot: bool = True,
    runtime: str | None = None,
    real_root: str | Path | None = None,
) -> dict[str, Any]:
    """Benchmark every checkpoint under `checkpoints_dir` (bundled) and each of `extra` (not bundled),
    and the zero-shot CLIP-family models whose weights are cached (the others are listed as skipped).

    The ViT-B/32 reference row always gets a throughput measurement (random weights if it has no
    checkpoint), so the throughput ratio is measured in this run, at each model's input size.
    `runtime` (torch | onnx | auto; default $LIGHTCLIP_RUNTIME) is the one the rows are measured on.
    `real_root`: a real-photo check (`lightclip_core.realcheck`) every row is also scored on.
    """

    gallery = Gallery.load(gallery_dir)
    found = [(p, True) for p in bundled_checkpoints(checkpoints_dir).values()]
    found += [(Path(p), False) for p in extra]
    if backbones:
        found = [(p, b) for p, b in found if read_config(p)["model"]["backbone"] in backbones]
    if not found:
        raise LightCLIPError(f"No checkpoints to benchmark under {checkpoints_dir} (each is a directory with config.json).")
    records, skipped = [], []
    for ckpt, bundled in found:
        log(f"bench: {ckpt}")
        records.append(bench_checkpoint(ckpt, gallery, repeats, naive, memory, bundled, runtime=runtime,
                                        real_root=Path(real_root) if real_root else None))
        hint = ship_hint(records[-1], ckpt, checkpoints_dir, gallery_dir)
        if hint:
            log(hint)
    if zero_shot:
        skipped = _bench_zero_shot(records, gallery, backbones, repeats, naive, memory)
    runtime = next((r["runtime"] for r in records if r.get("runtime")), None)  # the same runtime on both sides
    vit_ips = _throughput_vs_vit(records, runtime, repeats)
    default = next((r for r in records if r["backbone"] == "mobilenetv3_large_100"), records[0])
    ratios = {"measured_on": default["backbone"], **_side_by_side(default, gallery, repeats),
              "runtime": runtime or "torch",
              "naive_vs_warm_query": default.get("naive_vs_warm_query"),
              "batch5_vs_single": default["batch5_vs_single"],
              "tokens_batch5_vs_single": default.get("tokens_batch5_vs_single"),
              "throughput_vs_vit_b32": {r["backbone"]: r["throughput_vs_vit_b32"] for r in records},
              "vit_b32_images_per_s": {f"{h}x{w}": v for (h, w), v in vit_ips.items()}}
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info("cpu"),
        "gallery": {"path": str(gallery_dir), "images": len(gallery), "queries": records[0]["n_queries"]},
        "flops_note": FLOPS_NOTE,
        "command": "python -m lightclip_core bench",
        "records": records,
        "skipped": skipped,
        "ratios": ratios,
    }


def _bench_zero_shot(records: list, gallery, backbones, repeats: int, naive: bool, memory: bool) -> list[dict]:
    """Append a row per zero-shot CLIP-family model whose weights are cached; returns the skipped ones."""

    skipped = []
    for key in list_zero_shot():
        if backbones and key not in backbones:
            continue
        if not weights_cached(key):
            skipped.append({"model": key, "reason": "zero-shot weights not in the local Hub cache (one-time download)"})
            continue
        log(f"bench: zero-shot {key}")
        records.append(bench_engine(SearchEngine.from_zero_shot(key, gallery), repeats, naive, memory, bundled=False))
    return skipped


def _throughput_vs_vit(records: list, runtime: str | None, repeats: int) -> dict[tuple[int, int], float]:
    """Set each row's ``throughput_vs_vit_b32``: against CLIP's ViT-B/32 image tower at the row's input
    size, its own row's figure where benched, else measured now (random weights) on the same runtime."""
    vit_ips: dict[tuple[int, int], float] = {}
    for rec in records:
        if rec["backbone"] == REFERENCE:
            vit_ips.setdefault(tuple(rec["image_size"]), rec["images_per_s"])
    for size in sorted({tuple(r["image_size"]) for r in records} - set(vit_ips)):
        log(f"bench: ViT-B/32 image tower throughput at {size[0]}x{size[1]} (random weights, {runtime or 'torch'})")
        vit_ips[size] = profile(REFERENCE, image_size=size, repeats=max(5, repeats // 4), memory=False,
                                runtime=runtime).images_per_s
    for rec in records:
        rec["throughput_vs_vit_b32"] = round(rec["images_per_s"] / vit_ips[tuple(rec["image_size"])], 2)
    return vit_ips


def _side_by_side(default: dict[str, Any], gallery, repeats: int) -> dict[str, Any]:
    """The ratios measured on one model in alternating blocks: the warm query per runtime and with and
    without its text head, image throughput per runtime, and ViT-B/32's per runtime at the same input."""
    by_runtime: dict[str, float] = {}
    head_ms = None
    ips_by_runtime: dict[str, float] = {}
    vit_by_runtime: dict[str, float] = {}
    if default.get("checkpoint"):
        log(f"bench: warm query on each runtime, side by side ({default['backbone']})")
        engine = SearchEngine.from_checkpoint(default["checkpoint"], gallery)
        by_runtime = query_ms_by_runtime(engine, repeats)
        log(f"bench: warm query with and without the text head, side by side ({default['backbone']})")
        head_ms = text_head_query_ms(engine, repeats)
        log(f"bench: image throughput on each runtime, side by side ({default['backbone']})")
        ips_by_runtime = images_per_s_by_runtime(engine.model, max(5, repeats // 2))
        # CLIP's ViT-B/32 image tower (random weights, fixed seed: cost does not depend on them) on each
        # runtime at the same input, so the light-trunk advantage is compared runtime for runtime
        log(f"bench: ViT-B/32 image tower on each runtime at {default['image_size']} (random weights)")
        torch.manual_seed(0)
        vit = create_model(REFERENCE, default.get("text_encoder") or "minilm-l6", image_size=tuple(default["image_size"])).eval()
        vit_by_runtime = images_per_s_by_runtime(vit, max(5, repeats // 2))
        del vit
    both = {"torch", "onnx"}
    return {
        "query_ms_by_runtime": by_runtime,
        "onnx_vs_torch_query": round(by_runtime["torch"] / by_runtime["onnx"], 2) if both <= set(by_runtime) else None,
        "images_per_s_by_runtime": ips_by_runtime,
        "onnx_vs_torch_image": round(ips_by_runtime["onnx"] / ips_by_runtime["torch"], 2) if both <= set(ips_by_runtime) else None,
        "vit_b32_images_per_s_by_runtime": vit_by_runtime,
        "throughput_vs_vit_b32_by_runtime": {n: round(ips_by_runtime[n] / vit_by_runtime[n], 2)
                                             for n in ips_by_runtime if vit_by_runtime.get(n)},
        "text_head_query_ms": head_ms,  # {with_head, without_head, delta_ms, call_ms}: what the text head adds to a query
    }


def _record_key(rec: dict[str, Any]) -> tuple:
    return rec["backbone"], bool(rec.get("bundled", True)), bool(rec.get("zero_shot", False))


PER_RECORD_RATIOS = ("throughput_vs_vit_b32", "vit_b32_images_per_s")  # merged row by row, not from one model


def merge_bench(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new`'s records replace `old`'s records of the same model (backbone, bundled, zero-shot); the
    rest of `old` is kept as it was measured. Every record keeps the time of the run that measured it
    (``measured``), so a table from several runs says so. Ratios measured on a model follow its record."""
    for doc in (old, new):
        for rec in doc["records"]:
            rec.setdefault("measured", doc.get("created"))
            rec.setdefault("machine", machine_of(doc))  # a kept row may come from another machine than the new run
    fresh = {_record_key(r) for r in new["records"]}
    records = [backfill_recipe(r) for r in old["records"] if _record_key(r) not in fresh] + new["records"]
    ratios = dict(old.get("ratios", {}))
    ratios["throughput_vs_vit_b32"] = {r["backbone"]: r.get("throughput_vs_vit_b32") for r in records}
    ratios["vit_b32_images_per_s"] = {**old.get("ratios", {}).get("vit_b32_images_per_s", {}),
                                      **new["ratios"].get("vit_b32_images_per_s", {})}
    if new["ratios"].get("measured_on") == old.get("ratios", {}).get("measured_on") or not old.get("ratios"):
        # every figure measured on that one model (a list of names here dropped text_head_query_ms once)
        ratios.update({k: v for k, v in new["ratios"].items() if k not in PER_RECORD_RATIOS})
    merged = {**new, "records": records, "ratios": ratios,
              "skipped": [x for x in new.get("skipped", []) if x["model"] not in {r["backbone"] for r in records}]}
    merged["runs"] = sorted({r["measured"] for r in records if r.get("measured")})
    return merged


STALE_HOURS = 1.0  # kept rows timed longer ago than this on the new run's machine are worth re-timing


def _when(stamp: Any) -> _dt.datetime | None:
    """A record's `measured` time (zone-less stamps are UTC); None when it is not an ISO time."""
    try:
        t = _dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def _stale(doc: dict[str, Any], hours: float) -> list[tuple[dict[str, Any], float]]:
    """(record, hours before the newest run) for each record `stale_rows` returns."""
    timed = [(r, t) for r in doc.get("records", []) if (t := _when(r.get("measured"))) is not None]
    if not timed:
        return []
    newest = max(t for _, t in timed)
    fresh_machines = {record_machine_label(r, doc) for r, t in timed if t == newest}
    ages = [(r, (newest - t).total_seconds() / 3600) for r, t in timed if record_machine_label(r, doc) in fresh_machines]
    return [(r, age) for r, age in ages if age > hours]


def stale_rows(doc: dict[str, Any], hours: float = STALE_HOURS) -> list[dict[str, Any]]:
    """Records of a merged document timed on the newest run's machine more than `hours` before that run.
    Their accuracy stands, but timings drift on a shared VM (this project's 2-core Xeon ran the same
    weights and command about 1.4x slower one afternoon than that morning), so a chart that mixes such
    rows with fresh ones compares moments, not encoders. Rows from another machine are already named
    as such in the table and are left out here."""
    return [r for r, _ in _stale(doc, hours)]


def stale_warning(doc: dict[str, Any], hours: float = STALE_HOURS) -> str | None:
    """One sentence naming the rows `stale_rows` finds and the command that re-times them all together."""
    stale = _stale(doc, hours)
    if not stale:
        return None
    age = max(a for _, a in stale)
    names = ", ".join(r.get("display_name") or r["backbone"] for r, _ in stale)
    keys = ",".join(dict.fromkeys(r["backbone"] for r in doc["records"]
                                  if r.get("bundled", True) and not r.get("zero_shot")))
    extra = [r.get("display_name") or r["backbone"] for r, _ in stale  # trained runs outside checkpoints/
             if not r.get("bundled", True) and not r.get("zero_shot")]
    also = f" (and `--run CKPT_DIR` for {', '.join(extra)})" if extra else ""
    return (f"note: the table keeps {len(stale)} row(s) timed on this machine up to {age:.1f} h before this run "
            f"({names}); timings on one machine drift over hours, so to compare encoders re-time the rows "
            f"together: python -m lightclip_core bench --merge --backbones {keys}{also}")
