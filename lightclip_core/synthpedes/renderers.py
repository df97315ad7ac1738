"""SynthPedes renderers by name (`RENDERERS`): ``draw`` (drawing.py), ``camera`` and ``mixed``
(camera.py). A new renderer is a module and one register line here."""

from __future__ import annotations

from typing import Callable

from ..registry import Registry
from .camera import CameraRenderer, MixedRenderer
from .drawing import Renderer


def _camera_renderer(size: tuple[int, int], seed: int) -> Renderer:
    return CameraRenderer(size, seed)


def _mixed_renderer(size: tuple[int, int], seed: int) -> Renderer:
    return MixedRenderer(size, seed)


# Renderers by name: `factory(size, seed)` gives an object with `render(ident, rng, view)`. Every renderer
# makes the same draws from the picture's generator (`Renderer.plan`), so only the pictures differ.
RENDERERS: Registry[Callable[[tuple[int, int], int], Renderer]] = Registry("renderer", plural="renderers")
RENDERERS.register("draw", Renderer)  # flat PIL figures on procedural scenes (the bundled gallery's)
RENDERERS.register("camera", _camera_renderer)  # shaded people on photos, through a surveillance camera
RENDERERS.register("mixed", _mixed_renderer)  # half of each, fixed per picture name (the students' training set)
