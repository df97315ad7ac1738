"""Inference runtimes: eager PyTorch, or the same graphs exported to ONNX and run by ONNX Runtime.

`resolve_runtime(name)` picks one: the name given, else ``$LIGHTCLIP_RUNTIME``, else ``auto`` = ONNX
Runtime when the ``onnxruntime`` package imports (it is a dependency; `bench` measures both side by
side: ``ratios.onnx_vs_torch_query``), else PyTorch. Only CPU inference uses ONNX Runtime; CUDA and
training always run in PyTorch.

`OnnxFunction` turns a torch module into an ONNX Runtime session, on demand: the first use exports
it (opset 17, the TorchScript exporter), checks the export against the module on the example inputs
(cosine >= 0.999 per row, else it refuses), and keeps ``<cache>/onnx/<key>.onnx`` with a JSON sidecar
holding the file's SHA-256. Later uses load the file after checking that hash; a damaged, truncated or
mismatched file is rebuilt, never used. Offline always: nothing is downloaded.
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import json
import multiprocessing
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .errors import LightCLIPError
from .fileio import atomic_write_json, cache_root, log, sha256_file
from .registry import one_of
from .settings import get

RUNTIMES = ("torch", "onnx")
OPSET = 17
FORMAT = 2  # bump when the exported graphs change meaning: old files are then rebuilt


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def requested_runtime(name: str | None = None) -> str:
    """What was asked for, before resolving: `name`, else ``$LIGHTCLIP_RUNTIME``, else ``auto``."""

    return (name or get("LIGHTCLIP_RUNTIME")).strip().lower()


def resolve_runtime(name: str | None = None) -> str:
    """``torch`` or ``onnx``: `name`, else ``$LIGHTCLIP_RUNTIME``, else ``auto`` (ONNX Runtime when installed)."""
    name = requested_runtime(name)
    if name == "auto":
        return "onnx" if onnxruntime_available() else "torch"

    one_of("runtime", name, ("auto", *RUNTIMES), "runtimes")
    if name == "onnx" and not onnxruntime_available():
        raise LightCLIPError("The onnx runtime needs the onnxruntime package: pip install onnxruntime "
                             "(or choose --runtime torch).")
    return name


def set_torch_threads(n: int | None) -> int | None:
    """Set PyTorch's intra-op threads to `n` (None: leave them) and return what they were (None when
    left), for the caller to give back. Process-wide: what else runs in the process meanwhile uses `n`."""
    if n is None:
        return None
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    return before


def onnx_dir() -> Path:
    return cache_root() / "onnx"


def state_key(module: torch.nn.Module, *parts: Any) -> str:
    """A short hash of a module's weights (names, shapes, bytes) and `parts` (sizes, versions)."""
    h = hashlib.sha256(repr((FORMAT, OPSET, torch.__version__, parts)).encode())
    for name, t in module.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:24]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    b = b.reshape(b.shape[0], -1).astype(np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


class OnnxFunction:
    """`module(*inputs)` as an ONNX Runtime session, built on first call and cached on disk by `key`."""

    def __init__(self, module: torch.nn.Module, example: Sequence[torch.Tensor], input_names: Sequence[str],
                 dynamic_axes: dict[str, dict[int, str]], key: str, what: str, directory: Path | None = None,
                 threads: int | None = None, optimize=None, output_names: Sequence[str] = ("output",)) -> None:
        self.module = module  # returns one tensor, or a tuple of them (one per name in `output_names`)
        self.optimize = optimize  # optional: rewrites the exported file in place (fusions); parity is checked after
        self.example = tuple(example)
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.dynamic_axes = dynamic_axes
        self.key = key
        self.what = what
        self.directory = Path(directory) if directory else None
        self.threads = threads
        self._session = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return (self.directory or onnx_dir()) / f"{self.key}.onnx"

    def _export(self, say: bool = True) -> None:
        """Export to a temporary file, check it against the module, then move it (and its sidecar) into
        place; `say=False` logs nothing (a forked child, whose inherited stderr lock may be held)."""
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            module = copy.deepcopy(self.module).eval()  # never trace the module another thread runs
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's notes on opset details, not errors
                try:
                    torch.onnx.export(module, self.example, str(tmp), input_names=self.input_names,
                                      output_names=self.output_names,
                                      dynamic_axes={**self.dynamic_axes, **{n: {0: "batch"} for n in self.output_names}},
                                      opset_version=OPSET, dynamo=False)
                except Exception as exc:  # noqa: BLE001 - e.g. the onnx package missing
                    raise LightCLIPError(f"Exporting {self.what} to ONNX failed ({type(exc).__name__}: "
                                         f"{str(exc)[:200]}); install onnx and onnxruntime or use --runtime torch.") from None
                want = module(*self.example)
                want = [w.float().cpu().numpy() for w in (want if isinstance(want, tuple) else (want,))]
            if self.optimize:
                self.optimize(tmp)
            got = self._open(tmp).run(None, self._feeds(self.example))
            if len(got) != len(want):
                raise LightCLIPError(f"The ONNX export of {self.what} gives {len(got)} outputs, not {len(want)}; "
                                     "use --runtime torch.")
            cos = np.concatenate([_cosines(w, g) for w, g in zip(want, got)])
            if not np.all(cos >= 0.999):
                raise LightCLIPError(f"The ONNX export of {self.what} disagrees with PyTorch (cosine {cos.min():.4f} "
                                     "< 0.999); use --runtime torch.")
            os.replace(tmp, path)
            atomic_write_json(path.with_suffix(".json"), {"sha256": sha256_file(path), "what": self.what, "opset": OPSET,
                                                          "torch": torch.__version__, "parity_cosine_min": float(cos.min())})
            if say:
                log(f"onnx: exported {self.what} to {path} (parity cosine {cos.min():.6f})")
        finally:
            if tmp.exists():
                tmp.unlink()

    def _open(self, path: Path):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads or torch.get_num_threads()
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        # No busy-waiting after a run: spinning threads would steal the CPU from whatever runs next
        # (PyTorch in the same process, other requests) and cost more than they save on two cores.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def _verified(self) -> bool:
        """Whether the file on disk is the one its sidecar describes."""
        path, meta = self.path, self.path.with_suffix(".json")
        try:
            return path.is_file() and json.loads(meta.read_text()).get("sha256") == sha256_file(path)
        except (OSError, ValueError):
            return False

    def ready(self) -> bool:
        """Whether a call would run at once (the session is open, or a checked file waits on disk)."""
        return self._session is not None or self._verified()

    def build_in_background(self) -> None:
        """Export (or load) in a daemon thread, once, finished before the interpreter exits; calls made
        meanwhile should use PyTorch. A missing graph is exported in a forked child process where the
        platform has fork: the exporter is Python-heavy, and in a thread it held the GIL that the app's
        requests need (first searches waited seconds behind it)."""
        with self._lock:
            if getattr(self, "_building", False) or self._session is not None:
                return
            self._building = True

        def build() -> None:
            try:
                if not self._verified():
                    self._export_in_child()
                self.session()  # opens the child's file; exports here only if the child could not
            except LightCLIPError as exc:
                log(f"{exc} PyTorch keeps encoding.")

        thread = threading.Thread(target=build, name=f"onnx-{self.key}", daemon=True)
        _background_exports.append((thread, self.what))
        thread.start()

    def _export_in_child(self, timeout_s: float = 900) -> bool:
        """`_export` in a forked process (one thread, silent), waited for without holding the GIL;
        whether it left a checked file. False where there is no fork (then the caller exports here)."""

        if "fork" not in multiprocessing.get_all_start_methods():
            return False

        def child() -> None:
            try:
                torch.set_num_threads(1)  # the parent keeps serving on the other core
                self._export(say=False)
                os._exit(0)
            except BaseException:  # noqa: BLE001 - the parent sees the exit code and exports itself
                os._exit(1)

        t0 = time.perf_counter()
        proc = multiprocessing.get_context("fork").Process(target=child, name=f"onnx-export-{self.key}", daemon=True)
        proc.start()
        proc.join(timeout_s)
        if proc.is_alive():
            proc.kill()
            proc.join()
        if proc.exitcode == 0 and self._verified():
            log(f"onnx: exported {self.what} to {self.path} in {time.perf_counter() - t0:.1f} s (a child process)")
            return True
        log(f"onnx: exporting {self.what} in a child process failed (exit {proc.exitcode}); exporting here")
        return False

    def session(self):
        with self._lock:
            if self._session is None:
                if not self._verified():
                    self._export()
                try:
                    self._session = self._open(self.path)
                except Exception:  # noqa: BLE001 - a file ORT cannot read is rebuilt once
                    self._export()
                    try:
                        self._session = self._open(self.path)
                    except Exception as exc:  # noqa: BLE001
                        raise LightCLIPError(f"ONNX Runtime cannot load {self.path} ({type(exc).__name__}); "
                                             "use --runtime torch.") from None
            return self._session

    def _feeds(self, inputs: Sequence[Any]) -> dict[str, np.ndarray]:
        return {n: (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x))
                for n, x in zip(self.input_names, inputs)}

    def __call__(self, *inputs: Any) -> np.ndarray:
        """The first output (the only one of most graphs)."""
        return self.session().run(None, self._feeds(inputs))[0]

    def run_all(self, *inputs: Any) -> list[np.ndarray]:
        """Every output, in the order of `output_names`."""
        return self.session().run(None, self._feeds(inputs))

    def run_or_defer(self, auto: bool, *inputs: Any) -> np.ndarray | list[np.ndarray] | None:
        """The output on ONNX Runtime (a list of outputs for a graph with several); but under `auto` while the graph is not exported yet, start the
        export in the background and return None: the caller answers this call with PyTorch (exporting
        a large graph takes longer than the encode it would save). Errors are the caller's to handle."""
        if auto and not self.ready():
            self.build_in_background()
            return None
        return self(*inputs) if len(self.output_names) == 1 else self.run_all(*inputs)


_background_exports: list[tuple[threading.Thread, str]] = []  # (thread, what it exports)


@atexit.register
def _finish_background_exports() -> None:
    """Let an export still running finish before the interpreter exits: a daemon thread stopped inside
    the exporter aborted the process ("terminate called without an active exception", exit 134) after
    a one-shot command such as `search` had already answered, and the graph was never kept."""
    for thread, what in _background_exports:
        if thread.is_alive():
            log(f"onnx: finishing the export of {what} before exit (kept for the next run)")
            thread.join()


def fuse_bert(hidden_size: int, num_heads: int):
    """An `OnnxFunction(optimize=...)` step for BERT-style encoders: ONNX Runtime's transformer optimizer
    (fused LayerNorm + residual, bias + GELU; ~20% faster for MiniLM on two cores). Skipped, with the
    plain graph kept, when the optimizer is unavailable or fails."""

    def run(path: Path) -> None:
        try:
            from onnxruntime.transformers import optimizer

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = optimizer.optimize_model(str(path), model_type="bert", num_heads=num_heads,
                                                 hidden_size=hidden_size, opt_level=1)
            model.save_model_to_file(str(path))
        except Exception as exc:  # noqa: BLE001 - an optimisation, never a requirement
            log(f"onnx: transformer fusions skipped ({type(exc).__name__}); the plain graph is used")

    return run


__all__ = ["OnnxFunction", "fuse_bert", "requested_runtime", "RUNTIMES", "onnx_dir", "onnxruntime_available", "resolve_runtime", "set_torch_threads", "state_key"]
