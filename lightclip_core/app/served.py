"""Where the app serves its bundled galleries from: a symbolic link per gallery in a folder of its own,
so that result paths (which Gradio sends to every client as file paths and ``/gradio_api/file=`` URLs)
name that folder, not where the project is installed. Gradio resolves links before it checks a file
against the allowed paths, so the real folders stay the only ones served."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def served_galleries(galleries: dict[str, Path]) -> dict[str, Path]:
    """A link per gallery key (``<tmp>/lightclip-served-*/<key>`` -> its folder), removed at exit; a
    gallery whose link cannot be made (a system without symbolic links) is served from its own path."""
    folder = Path(tempfile.mkdtemp(prefix="lightclip-served-"))
    atexit.register(shutil.rmtree, folder, True)
    out = {}
    for key, path in galleries.items():
        link = folder / key
        try:
            link.symlink_to(Path(path).resolve(), target_is_directory=True)
            out[key] = link
        except OSError:
            out[key] = Path(path)
    return out
