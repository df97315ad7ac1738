"""Which runtime a text encoder's inference runs on (PyTorch or ONNX Runtime), and its ONNX functions.

A `TextEncoder` owns one `TextRuntime`: `use` records the choice, `function` builds each ONNX graph
once (export, check, disk cache: `lightclip_core.runtime.OnnxFunction`), and `run` answers a batch on
ONNX Runtime or None, which means "use PyTorch".
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import LightCLIPError
from ..fileio import log
from ..runtime import requested_runtime, resolve_runtime


class TextRuntime:
    """The runtime choice of one text encoder and the ONNX Runtime functions built for it."""

    def __init__(self) -> None:
        self.name = "torch"  # or "onnx": CPU inference through ONNX Runtime
        self.auto = False  # chosen by "auto": a missing graph is exported in the background
        self._functions: dict[str, Any] = {}

    def use(self, name: str | None = None) -> str:
        """Run on `name` (``torch``, ``onnx`` or ``auto``, see `lightclip_core.runtime`); returns the one
        chosen. No graph is built here: each is built on its first use."""

        self.name = resolve_runtime(name)
        self.auto = requested_runtime(name) == "auto"
        return self.name

    @contextmanager
    def switched(self, name: str) -> Iterator[None]:
        """Run on `name` inside the block; the previous choice afterwards, whatever happens."""
        before = self.name, self.auto
        self.use(name)
        try:
            yield
        finally:
            self.name, self.auto = before

    def function(self, kind: str, build: Callable[[], Any]) -> Any:
        """The ONNX Runtime function `kind` ("pooled", "states"), from `build()` on first use."""
        if kind not in self._functions:
            self._functions[kind] = build()
        return self._functions[kind]

    def run(self, function: Callable[[], Any], inputs: tuple, on_cpu: bool) -> np.ndarray | None:
        """`function()` on `inputs` when this encoder runs on ONNX Runtime; None means use PyTorch (the
        torch runtime; auto while the graph is still being exported; auto after an export failed, said
        once, after which the encoder stays on PyTorch)."""
        if not (self.name == "onnx" and on_cpu):
            return None
        try:
            return function().run_or_defer(self.auto, *inputs)  # arrays or CPU tensors
        except LightCLIPError as exc:
            if not self.auto:
                raise

            log(f"{exc} Encoding text with PyTorch instead.")
            self.name = "torch"  # chosen by auto: say so once, then stay on PyTorch
            return None
