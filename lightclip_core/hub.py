"""Hugging Face Hub access that fails fast and clearly when the Hub cannot be reached.

Everything in LightCLIP that can download (timm ImageNet weights, open_clip CLIP weights) goes through
`resolve_hub_file`: a cached copy is used without touching the network; otherwise one short TCP probe
(a few seconds at most, never huggingface_hub's minute of retries) decides between downloading and an
`OfflineError` whose one-sentence message names the offline alternative.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlparse

from . import settings
from .errors import OfflineError

# Seconds the reachability probe may take in all (DNS + TCP connect); env override for slow links.
PROBE_TIMEOUT_S = settings.get("LIGHTCLIP_HUB_TIMEOUT_S")
_PROBE_TTL_S = 60.0
_probe_cache: dict[str, tuple[float, str | None]] = {}


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_unreachable_reason(timeout_s: float | None = None) -> str | None:
    """Return None when the Hub endpoint accepts a TCP connection, else a short reason.

    The answer is cached for a minute so that loading several models probes once.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    endpoint = _endpoint()
    now = time.monotonic()
    cached = _probe_cache.get(endpoint)
    if cached is not None and now - cached[0] < _PROBE_TTL_S:
        return cached[1]

    url = urlparse(endpoint)
    host = url.hostname or endpoint
    port = url.port or (443 if url.scheme == "https" else 80)
    timeout_s = PROBE_TIMEOUT_S if timeout_s is None else timeout_s
    result: list[str | None] = []

    def probe() -> None:
        # getaddrinfo has no timeout of its own, hence the thread and join(timeout) below.
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                result.append(None)
        except OSError as exc:
            result.append(f"{host}: {exc.strerror or type(exc).__name__}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    reason = result[0] if result else f"{host}: no answer within {timeout_s:g} s"
    _probe_cache[endpoint] = (now, reason)
    return reason


def cached_hub_file(repo_id: str, filenames: list[str], revision: str | None = None) -> str | None:
    """Path of the first of `filenames` already in the local Hub cache, without network access."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        path = try_to_load_from_cache(repo_id, filename, revision=revision)
        if isinstance(path, str) and os.path.isfile(path):
            return path
    return None


def resolve_hub_file(
    repo_id: str,
    filenames: list[str],
    *,
    what: str,
    alternative: str,
    revision: str | None = None,
) -> str:
    """Local path of the first available of `filenames` in `repo_id`: cache first, then download.

    `what` names the weights in the error ("ImageNet weights for efficientnet_b0"); `alternative`
    completes the sentence with what works offline ("use pretrained=False ...").
    """
    path = cached_hub_file(repo_id, filenames, revision)
    if path is not None:
        return path
    reason = hub_unreachable_reason()
    if reason is not None:
        raise OfflineError(
            f"{what} must be downloaded once from the Hugging Face Hub, which cannot be reached "
            f"({reason}), and no cached copy was found; {alternative}."
        )
    from huggingface_hub import hf_hub_download

    last_error: Exception | None = None
    for filename in filenames:
        try:
            return hf_hub_download(repo_id, filename, revision=revision)
        except Exception as exc:  # noqa: BLE001 - try the next candidate, report the last failure
            last_error = exc
    raise OfflineError(
        f"{what} must be downloaded once from the Hugging Face Hub ({repo_id}), and the download "
        f"failed ({error_summary(last_error)}); {alternative}."
    )


def error_summary(exc: BaseException | None) -> str:
    """``Type: first clause`` of a library's exception, so that our message stays one sentence."""
    first_line = str(exc).splitlines()[0].split(". ")[0] if exc and str(exc) else ""
    return f"{type(exc).__name__}{': ' + first_line[:160] if first_line else ''}"
