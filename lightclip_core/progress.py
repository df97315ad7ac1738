"""The library's one progress callback: ``progress(stage, done, total)``.

`stage` says what is happening ("encoding the gallery", "video 1/3: …"), `done` of `total` units
(`total` 0 when unknown). Every long call of the library (gallery encoding, building a search engine,
footage and archive indexing) takes one; `as_progress` makes None a no-op.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Callable

Progress = Callable[[str, int, int], None]


def _silent(stage: str, done: int, total: int) -> None:
    return None


def _takes_two(fn: Callable) -> bool:
    """Whether `fn` takes exactly two positional arguments (the old ``(done, total)`` form)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: assume the current form
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    return len(positional) == 2


def as_progress(progress: Callable | None) -> Progress:
    """`progress` as a ``(stage, done, total)`` callable; None: one that does nothing. A callback of the
    earlier ``(done, total)`` form (the gallery encoders' in 0.1) still works, with a DeprecationWarning,
    for one release."""
    if progress is None:
        return _silent
    if _takes_two(progress):
        warnings.warn("a progress callback now takes (stage, done, total); (done, total) is deprecated",
                      DeprecationWarning, stacklevel=3)
        return lambda stage, done, total: progress(done, total)
    return progress
