"""Publish checkpoints to, and fetch them from, a Hugging Face model repository.

Layout of the repository: one folder per backbone, holding exactly what `checkpoints/<backbone>/`
holds (``model.safetensors``, ``config.json`` and, when present, ``metrics.json``/``curves.json``).
A Space (or a user) can then ship only the small models and fetch the large ones on first use.

Both directions validate: `push_checkpoints` loads each checkpoint before uploading it, so a broken
one is never published; `pull_checkpoint` loads the downloaded files (safetensors, never pickle) before
moving them into place, so a corrupt or foreign download never replaces a working checkpoint.
Offline, every entry point fails at once with one sentence (`OfflineError`), after the short probe
in `hub.hub_unreachable_reason`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .checkpoints import CONFIG_FILE, MODEL_FILE, load_checkpoint, read_config
from .errors import LightCLIPError, OfflineError
from .fileio import _UMASK, replace_dir
from .hub import cached_hub_file, error_summary, hub_unreachable_reason
from .models.backbones import get_backbone_spec

REQUIRED_FILES = (MODEL_FILE, CONFIG_FILE)
OPTIONAL_FILES = ("metrics.json", "curves.json")
OFFLINE_ALTERNATIVE = "use the bundled checkpoints under checkpoints/ or train one with `python -m lightclip_core train`"


def _require_hub(what: str) -> None:
    reason = hub_unreachable_reason()
    if reason is not None:
        raise OfflineError(f"{what} needs the Hugging Face Hub, which cannot be reached ({reason}); "
                           f"{OFFLINE_ALTERNATIVE}.")


def _check_repo_id(repo_id: str) -> str:
    repo_id = (repo_id or "").strip()
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or any(c.isspace() for c in repo_id):
        raise LightCLIPError(f"{repo_id!r} is not a Hugging Face model repository id (expected owner/name).")
    return repo_id


def push_checkpoints(repo_id: str, checkpoints: list[str | Path], *, private: bool = False,
                     token: str | None = None, revision: str | None = None) -> list[dict[str, Any]]:
    """Upload each checkpoint directory to ``<repo_id>/<backbone>/``; returns one record per upload.

    Every checkpoint is loaded first (any problem raises before anything is uploaded); the repository
    is created when it does not exist.
    """
    repo_id = _check_repo_id(repo_id)
    if not checkpoints:
        raise LightCLIPError("No checkpoints to publish.")
    backbones: dict[str, Path] = {}
    for path in map(Path, checkpoints):
        load_checkpoint(path)  # raises a one-sentence error for a broken or foreign checkpoint
        backbone = read_config(path)["model"]["backbone"]
        if backbone in backbones:
            raise LightCLIPError(f"{path} and {backbones[backbone]} are both {backbone} checkpoints; publish one.")
        backbones[backbone] = path
    _require_hub(f"Publishing checkpoints to {repo_id}")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    except Exception as exc:  # noqa: BLE001 - auth, permissions, name: one sentence for the user
        raise LightCLIPError(f"Cannot create or open the model repository {repo_id} ({error_summary(exc)}); "
                             f"log in with `hf auth login` or pass a token with write access.") from None
    out = []
    for backbone, path in backbones.items():
        files = [f for f in REQUIRED_FILES + OPTIONAL_FILES if (path / f).is_file()]
        try:
            info = api.upload_folder(repo_id=repo_id, folder_path=str(path), path_in_repo=backbone,
                                     repo_type="model", revision=revision, allow_patterns=files,
                                     commit_message=f"Upload {backbone} checkpoint (LightCLIP)")
        except Exception as exc:  # noqa: BLE001
            raise LightCLIPError(f"Uploading {path} to {repo_id}/{backbone} failed ({error_summary(exc)}).") from None
        out.append({"backbone": backbone, "checkpoint": str(path), "repo": repo_id, "path_in_repo": backbone,
                    "files": files, "commit": getattr(info, "oid", None)})
    return out


def remote_backbones(repo_id: str, revision: str | None = None, token: str | None = None) -> list[str]:
    """Backbones that have a complete checkpoint (weights + config) in `repo_id`."""
    repo_id = _check_repo_id(repo_id)
    _require_hub(f"Listing the checkpoints in {repo_id}")
    from huggingface_hub import HfApi

    try:
        files = set(HfApi(token=token).list_repo_files(repo_id, repo_type="model", revision=revision))
    except Exception as exc:  # noqa: BLE001
        raise LightCLIPError(f"Cannot list the model repository {repo_id} ({error_summary(exc)}).") from None
    folders = {f.split("/", 1)[0] for f in files if "/" in f}
    return sorted(b for b in folders if all(f"{b}/{name}" in files for name in REQUIRED_FILES))


def _fetch(repo_id: str, backbone: str, revision: str | None, token: str | None) -> dict[str, str]:
    """Local paths of the backbone's files: the Hub cache first, then (online) a download."""
    paths: dict[str, str] = {}
    missing = []
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        cached = cached_hub_file(repo_id, [f"{backbone}/{name}"], revision)
        if cached is not None:
            paths[name] = cached
        else:
            missing.append(name)
    if all(name in paths for name in REQUIRED_FILES):
        return paths  # complete in the cache: no network needed (optional files are only extras)
    _require_hub(f"Downloading the {backbone} checkpoint from {repo_id}")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    for name in missing:
        try:
            paths[name] = hf_hub_download(repo_id, name, subfolder=backbone, revision=revision, token=token)
        except RemoteEntryNotFoundError:
            if name in REQUIRED_FILES:
                raise LightCLIPError(f"{repo_id} has no {backbone}/{name}: it holds no {backbone} checkpoint.") from None
        except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
            raise LightCLIPError(f"The model repository {repo_id} cannot be read ({error_summary(exc)}).") from None
        except Exception as exc:  # noqa: BLE001
            raise LightCLIPError(f"Downloading {backbone}/{name} from {repo_id} failed ({error_summary(exc)}).") from None
    return paths


def pull_checkpoint(repo_id: str, backbone: str, out_dir: str | Path, *, force: bool = False,
                    revision: str | None = None, token: str | None = None) -> Path:
    """Fetch ``<repo_id>/<backbone>/`` into ``out_dir/<backbone>`` and return that directory.

    The files are checked (config for this backbone, weights that load) in a temporary directory
    beside the destination and only then moved into place; an existing checkpoint is replaced only
    with ``force=True``.
    """

    repo_id = _check_repo_id(repo_id)
    get_backbone_spec(backbone)  # an unknown name raises with the list of valid ones
    dest = Path(out_dir) / backbone
    if dest.exists() and not force:
        raise LightCLIPError(f"{dest} already exists; pass --force to replace it with the copy from {repo_id}.")
    paths = _fetch(repo_id, backbone, revision, token)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{backbone}.", suffix=".tmp"))
    try:
        for name, src in paths.items():
            shutil.copyfile(src, tmp / name)
        try:
            load_checkpoint(tmp, backbone=backbone)
        except LightCLIPError as exc:
            raise LightCLIPError(f"The {backbone} checkpoint in {repo_id} is not usable: {exc}") from None
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700
        replace_dir(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
