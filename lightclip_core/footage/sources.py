"""What to index (`Source`: a video, a photo, or a person crop) and the short names its files get."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..data.base import IMAGE_EXTENSIONS
from ..data.footage_file import FootageError
from ..fileio import safe_stem


@dataclass
class Source:
    path: str
    kind: str  # "video", "photo" (detect people in it) or "crop" (the whole image is one person)


def files_under(folder: Path, extensions: Sequence[str], what: str) -> list[Path]:
    """Every file under `folder` whose suffix is one of `extensions`, sorted; hidden ones left out.
    None at all is a FootageError that names `what` was looked for (e.g. "videos")."""
    found = sorted(q for q in folder.rglob("*") if q.is_file() and q.suffix.lower() in extensions
                   and not any(part.startswith(".") for part in q.relative_to(folder).parts))
    if not found:
        raise FootageError(f"No {what} ({', '.join(e[1:] for e in extensions)}) under {folder}.")
    return found


def sources_from(videos: Iterable[str | Path] = (), photos: Iterable[str | Path] = (),
                 crops: Iterable[str | Path] = ()) -> list[Source]:
    """Sources from paths; a folder given as a photo is every image under it (sorted)."""
    out = [Source(str(v), "video") for v in videos]
    for kind, items in (("photo", photos), ("crop", crops)):
        for p in items:
            p = Path(p)
            if p.is_dir():
                out += [Source(str(q), kind) for q in files_under(p, IMAGE_EXTENSIONS, "images")]
            else:
                out.append(Source(str(p), kind))
    return out


def short_names(sources: Sequence[Source]) -> list[str]:
    """A unique short name per source (file-name safe), in order: what crop and frame files start with."""
    names: list[str] = []
    for src in sources:
        short = safe_stem(Path(src.path).name, 40, "source")
        while short in names:
            short += "_"
        names.append(short)
    return names
