"""What a model costs: parameters, FLOPs, latency, throughput and peak memory -> `EfficiencyReport`.

- FLOPs are counted by torch's ``FlopCounterMode`` and reported as GFLOPs with FLOPs = 2 x MACs
  (one multiply-add counts as two), the convention of the study and of fvcore's "FLOPs" x 2.
- Latencies are medians and 90th percentiles over repeated runs after warm-up, with the torch thread
  count stated. Text-encoder caches are cleared before each timed query, so every query is cold.
- Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (weights included); on CPU the growth of
  the process's peak resident set (VmHWM) while running inference, measured in a fresh subprocess
  after the model is loaded, so the weights and the interpreter are *not* counted.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .checkpoints import load_checkpoint
from .errors import LightCLIPError
from .index import GalleryIndex
from .models.backbones import get_backbone_spec
from .models.lightclip import create_model
from .models.zero_shot import create_zero_shot, is_zero_shot, weights_cached

FLOPS_NOTE = "FLOPs = 2 x MACs (torch FlopCounterMode)"
TYPICAL_QUERY = "a young woman with long black hair wearing a red coat, blue jeans and white shoes, carrying a black backpack"
BATCH_QUERIES = (
    TYPICAL_QUERY,
    "a man in a grey hoodie and black trousers with a blue shoulder bag",
    "the person wears a white shirt, dark shorts and carries nothing",
    "an older man with short grey hair in a brown jacket and khaki pants",
    "a girl in a yellow dress with a pink handbag and sandals",
)


def params_m(module: nn.Module) -> float:
    """Parameter count in millions (trainable or not)."""
    return sum(p.numel() for p in module.parameters()) / 1e6


def gflops(module: nn.Module, *inputs: Any) -> float:
    """GFLOPs of one forward of `module` on `inputs`, FLOPs = 2 x MACs (torch's FlopCounterMode)."""
    was_training = module.training
    module.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(*inputs)
    module.train(was_training)
    return counter.get_total_flops() / 1e9


def text_gflops(text_encoder, text: str = TYPICAL_QUERY) -> float:
    """GFLOPs of encoding one query (tokenised outside the count), counted on the PyTorch graph
    whichever runtime the encoder runs on (ONNX Runtime computes the same graph)."""
    counter = FlopCounterMode(display=False)
    try:
        graph, tokens = text_encoder._graph(), text_encoder._tokens([text], tensors=True)
    except (AttributeError, NotImplementedError):  # an encoder without the shared graph API
        graph, tokens = None, None
    with torch.no_grad(), counter:
        if graph is not None:
            graph(*tokens)
        else:
            text_encoder._encode_batch([text])
    return counter.get_total_flops() / 1e9


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 3, sync: Callable[[], None] | None = None) -> list[float]:
    """Wall times in ms of `repeats` calls of `fn` after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def median_p90(times: list[float]) -> tuple[float, float]:
    return float(statistics.median(times)), float(np.percentile(times, 90))


def machine_info(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Where a measurement ran: CPU model, cores, torch threads, GPU name."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


@dataclass
class EfficiencyReport:
    """One model's costs. Field names carry their units."""

    backbone: str
    display_name: str
    text_encoder: str
    image_size: list[int]
    device: str
    threads: int
    params_m: float  # the image side: vision trunk + projection head (what the study compares)
    params_m_trunk: float
    params_m_head: float
    params_m_text: float
    params_m_total: float
    gflops: float  # one image at image_size, trunk + head
    gflops_text: float  # one typical query
    latency_ms: float  # one query end to end (text encode + top-10 search), median
    latency_ms_p90: float
    latency_ms_text: float  # text encode alone, median
    latency_ms_search: float  # top-10 index search alone, median
    latency_ms_batch5: float  # five queries as one batch, median
    latency_ms_image: float  # one image encode (batch 1), median
    latency_ms_image_p90: float
    images_per_s: float  # image-encode throughput at batch 32
    peak_mem_mb: float | None  # see module docstring; None when it could not be measured
    gallery_size: int
    flops_note: str = FLOPS_NOTE
    # the five queries' token positions (padded to the longest) over the typical query's: the text
    # encoder's share of a query grows with tokens, so batching shares only the per-call cost
    tokens_batch5_vs_single: float | None = None
    machine: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _query_index(model, engine, gallery_size: int):
    """The index timed queries search, and its size: `engine`'s, else an exact index of `gallery_size`
    random unit vectors of the model's width."""
    if engine is not None:
        return engine.index, len(engine.gallery)
    g = np.random.default_rng(0).standard_normal((gallery_size, model.embed_dim)).astype(np.float32)
    return GalleryIndex.build(g / np.linalg.norm(g, axis=1, keepdims=True)), gallery_size


def _query_times(model, index, repeats: int, sync) -> dict[str, list[float]]:
    """Milliseconds of each timed call on the text side: a fresh query's text encode, a top-10 search,
    both together, and five fresh queries as one batch."""
    enc = model.text_encoder

    def encode(texts):
        enc.clear_cache()  # every timed query is a new one
        with torch.no_grad():
            return model.encode_text(list(texts)).float().cpu().numpy()

    q = encode([TYPICAL_QUERY])
    return {
        "text": timed(lambda: encode([TYPICAL_QUERY]), repeats, sync=sync),
        "search": timed(lambda: index.search(q, 10), repeats),
        "query": timed(lambda: index.search(encode([TYPICAL_QUERY]), 10), repeats, sync=sync),
        "batch5": timed(lambda: index.search(encode(BATCH_QUERIES), 10), max(5, repeats // 2), sync=sync),
    }


def _image_times(model, device: torch.device, repeats: int, sync) -> dict[str, list[float]]:
    """Milliseconds of one image's encode and of a batch of 32."""
    h, w = model.image_size
    one = torch.randn(1, 3, h, w, device=device)
    batch = torch.randn(32, 3, h, w, device=device)
    with torch.no_grad():
        return {"image": timed(lambda: model.encode_image(one), repeats, sync=sync),
                "batch32": timed(lambda: model.encode_image(batch), max(3, repeats // 5), warmup=1, sync=sync)}


def _tokens_ratio(enc) -> float | None:
    """The five queries' token positions (padded) over the typical query's; None for an encoder that
    does not tokenise itself (a stand-in)."""
    try:
        return round(enc.batch_tokens(BATCH_QUERIES) / enc.batch_tokens([TYPICAL_QUERY]), 2)
    except NotImplementedError:
        return None


def profile_model(
    model,
    engine=None,
    gallery_size: int = 2000,
    repeats: int = 20,
    device: str | torch.device = "cpu",
    peak_memory: Callable[[], float | None] | None = None,
) -> EfficiencyReport:
    """Measure `model` (a LightCLIP). Queries search `engine`'s index when given (the bundled
    gallery, already indexed), else an exact index of `gallery_size` random unit vectors of the
    model's width (flat search cost does not depend on the values)."""

    device = torch.device(device)
    model = model.to(device).eval()
    h, w = model.image_size
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    index, n_gallery = _query_index(model, engine, gallery_size)
    t = _query_times(model, index, repeats, sync)
    t.update(_image_times(model, device, repeats, sync))
    enc = model.text_encoder
    img_gflops = gflops(nn.Sequential(model.backbone, model.head), torch.randn(1, 3, h, w, device=device))
    try:
        txt_gflops = text_gflops(enc)
    except Exception:  # an encoder whose forward the counter cannot trace: report nothing, not a guess
        txt_gflops = float("nan")

    query_med, query_p90 = median_p90(t["query"])
    image_med, image_p90 = median_p90(t["image"])
    display = getattr(getattr(model, "spec", None), "display_name", None) or get_backbone_spec(model.config.backbone).display_name
    trunk, head, text = params_m(model.backbone), params_m(model.head), enc.num_params() / 1e6
    return EfficiencyReport(
        backbone=model.config.backbone,
        display_name=display,
        text_encoder=model.config.text_encoder,
        image_size=[h, w],
        device=str(device),
        threads=torch.get_num_threads(),
        params_m=round(trunk + head, 3),
        params_m_trunk=round(trunk, 3),
        params_m_head=round(head, 3),
        params_m_text=round(text, 3),
        params_m_total=round(params_m(model), 3),
        gflops=round(img_gflops, 4),
        gflops_text=round(txt_gflops, 4),
        latency_ms=round(query_med, 3),
        latency_ms_p90=round(query_p90, 3),
        latency_ms_text=round(statistics.median(t["text"]), 3),
        latency_ms_search=round(statistics.median(t["search"]), 4),
        latency_ms_batch5=round(statistics.median(t["batch5"]), 3),
        tokens_batch5_vs_single=_tokens_ratio(enc),
        latency_ms_image=round(image_med, 3),
        latency_ms_image_p90=round(image_p90, 3),
        images_per_s=round(32 / (statistics.median(t["batch32"]) / 1e3), 2),
        peak_mem_mb=peak_memory() if peak_memory else None,
        gallery_size=n_gallery,
        machine=machine_info(device),
    )


# --------------------------------------------------------------------------------------------------
# Peak memory of inference
# --------------------------------------------------------------------------------------------------

_PEAK_SCRIPT = r"""
import json, resource, sys, torch
spec = json.loads(sys.argv[1])
torch.set_num_threads(spec["threads"])
from lightclip_core import create_model, load_checkpoint

def vm(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB -> MB
    return None

if spec["checkpoint"]:
    model = load_checkpoint(spec["checkpoint"])
elif spec["zero_shot"]:
    from lightclip_core.models.zero_shot import create_zero_shot, weights_cached
    model = create_zero_shot(spec["backbone"], pretrained=weights_cached(spec["backbone"]))
else:
    model = create_model(spec["backbone"], spec["text_encoder"], image_size=spec["image_size"])
model.eval()
h, w = model.image_size
images = torch.randn(spec["batch"], 3, h, w)
base = vm("VmRSS")
try:  # reset the high-water mark so loading the model does not count
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    reset = True
except OSError:
    reset = False
with torch.no_grad():
    model.encode_image(images)
    model.encode_text([spec["query"]])
peak = vm("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"base_mb": base, "peak_mb": peak, "growth_mb": peak - base, "hwm_reset": reset}))
"""


def cpu_peak_memory_mb(
    backbone: str,
    checkpoint: str | None = None,
    text_encoder: str = "minilm-l6",
    image_size: tuple[int, int] | None = None,
    batch: int = 32,
    threads: int | None = None,
    timeout: float = 300,
) -> float | None:
    """Peak RSS growth (MB) of encoding `batch` images and one query, in a fresh interpreter.

    Returns None where /proc is missing (not Linux) or the subprocess fails.
    """
    if not os.path.exists("/proc/self/status"):
        return None
    spec = {
        "backbone": backbone, "checkpoint": checkpoint, "text_encoder": text_encoder,
        "image_size": list(image_size) if image_size else None, "batch": batch,
        "threads": threads or torch.get_num_threads(), "query": TYPICAL_QUERY,
        "zero_shot": is_zero_shot(backbone),
    }
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    try:
        out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, json.dumps(spec)], capture_output=True, text=True,
                             timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    return round(json.loads(out.stdout.strip().splitlines()[-1])["growth_mb"], 1)


def cuda_peak_memory_mb(model, batch: int = 32) -> float:
    """``max_memory_allocated`` (MB) while encoding `batch` images and one query on CUDA."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    h, w = model.image_size
    with torch.no_grad():
        model.encode_image(torch.randn(batch, 3, h, w, device=model.device))
        model.encode_text([TYPICAL_QUERY])
    torch.cuda.synchronize()
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def profile(
    backbone: str | None = None,
    checkpoint: str | None = None,
    text_encoder: str = "minilm-l6",
    image_size: tuple[int, int] | None = None,
    device: str = "cpu",
    engine=None,
    repeats: int = 20,
    memory: bool = True,
    runtime: str | None = None,
) -> EfficiencyReport:
    """Profile a checkpoint, or a backbone with random weights (same costs, no training needed);
    latency and throughput on `runtime` (torch | onnx | auto) when given, else eager PyTorch."""
    if checkpoint:
        model = load_checkpoint(checkpoint, backbone=backbone)
    elif backbone and is_zero_shot(backbone):
        # the architecture's costs do not depend on the weights: random ones when none are cached
        model = create_zero_shot(backbone, pretrained=weights_cached(backbone))
    elif backbone:
        model = create_model(backbone, text_encoder, image_size=image_size)
    else:
        raise LightCLIPError("profile needs a backbone or a checkpoint.")
    if runtime and hasattr(model, "use_runtime"):
        model.use_runtime(runtime)
    dev = torch.device(device)
    if memory and dev.type == "cuda":
        peak = lambda: cuda_peak_memory_mb(model)  # noqa: E731
    elif memory:
        peak = lambda: cpu_peak_memory_mb(  # noqa: E731
            model.config.backbone, checkpoint, model.config.text_encoder, model.image_size
        )
    else:
        peak = None
    return profile_model(model, engine=engine, repeats=repeats, device=dev, peak_memory=peak)
