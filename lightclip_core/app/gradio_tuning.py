"""Two per-request costs of Gradio (pinned: 6.31) that the app removes, measured with py-spy.

Under 20 concurrent `/search` clients the app is bound by the one Python thread that holds the GIL
(its CPU per request times its requests per second is about one core). Sampling that thread
(`py-spy record --gil` on the app, `bench-app` load) showed:

* **37 % in `gradio.utils.is_static_file`**. Every result image passes through it on every response:
  for a file path it calls `Path.exists()` and then, for each registered static path (Gradio's own
  icons first, then our gallery), `Path.resolve()` on both paths, a `realpath` with an `lstat` per path
  component, in Python. The bundled gallery is registered with `gr.set_static_paths`, which by Gradio's
  own definition means its files do not change while the app runs, so the answer for a file found
  static once is remembered (`memoise_static_checks`). Only positive answers are remembered (a file
  that is not static, such as an upload, still gets Gradio's full check each time), and at most
  `MAX_REMEMBERED` of them.
* **5-7 % in the queue's analytics summary**, a pandas DataFrame of up to 10,000 past events grouped by
  function, rebuilt after every event by default. Gradio reads how often from the environment
  (`GRADIO_ANALYTICS_CACHE_FREQUENCY`); `tune_environment` makes it every 200 events unless the user set
  it. The summary only feeds Gradio's monitoring page.

`LIGHTCLIP_GRADIO_TUNING=0` turns both off (`bench-app --baseline` measures the app with and without
them in one run). Both are checked by tests/test_gradio_tuning.py against Gradio's own functions, and
the memo is installed only if Gradio still routes its file checks through `gradio.utils.is_static_file`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..settings import get

MAX_REMEMBERED = 200_000  # file paths; about 30 MB of strings at most
ANALYTICS_EVERY = "200"


def enabled() -> bool:
    return get("LIGHTCLIP_GRADIO_TUNING")


def tune_environment() -> None:
    """Set Gradio's analytics refresh interval (only if unset). Call before Gradio builds its queue."""
    if enabled():
        os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", ANALYTICS_EVERY)


def memoise_static_checks() -> bool:
    """Replace `gradio.utils.is_static_file` by a version that remembers the files it found static.

    Returns True when installed (or already installed), False when turned off or when this Gradio
    does not have the function (then nothing changes)."""
    if not enabled():
        return False
    from gradio import utils as gutils
    from gradio.data_classes import FileData

    original = getattr(gutils, "is_static_file", None)
    if original is None:
        return False
    if getattr(original, "lightclip_memo", None) is not None:
        return True
    known: set[str] = set()

    def is_static_file(file_path: Any) -> bool:
        path = file_path.path if isinstance(file_path, FileData) else file_path
        key = os.fspath(path) if isinstance(path, (str, Path)) else None
        if key is not None and key in known:
            return True
        answer = original(file_path)
        if answer and key is not None and len(known) < MAX_REMEMBERED:
            known.add(key)
        return answer

    is_static_file.lightclip_memo = known  # type: ignore[attr-defined]
    is_static_file.original = original  # type: ignore[attr-defined]
    gutils.is_static_file = is_static_file
    return True
