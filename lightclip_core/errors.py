"""Exceptions with one-sentence messages that the CLI and the app show as they are (no traceback)."""

from __future__ import annotations


class LightCLIPError(RuntimeError):
    """Base class: a problem the user can fix, described in one sentence."""


class UnknownNameError(LightCLIPError, KeyError):
    """A backbone, text encoder or other registry name that does not exist."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0]) if self.args else ""


class OfflineError(LightCLIPError):
    """Weights or data need the Hugging Face Hub, which cannot be reached and has no cached copy."""
