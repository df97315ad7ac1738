"""LightCLIP: text-based person search with lightweight vision encoders inside CLIP."""

from .checkpoints import load_checkpoint
from .errors import LightCLIPError, OfflineError, UnknownNameError
from .models import LightCLIP, LightCLIPConfig, create_model, list_backbones, list_text_encoders

__version__ = "0.1.0"

__all__ = [
    "LightCLIP",
    "LightCLIPConfig",
    "LightCLIPError",
    "OfflineError",
    "UnknownNameError",
    "create_model",
    "list_backbones",
    "list_text_encoders",
    "load_checkpoint",
]
