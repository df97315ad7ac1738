"""LightCLIP: text-based person search with lightweight vision encoders inside CLIP."""

from .checkpoints import load_checkpoint
from .errors import LightCLIPError, OfflineError, UnknownNameError
from .models import LightCLIP, LightCLIPConfig, create_model, list_backbones, list_text_encoders
from .models.zero_shot import ZeroShotCLIP, create_zero_shot, list_zero_shot

__version__ = "0.1.0"

__all__ = [
    "LightCLIP",
    "LightCLIPConfig",
    "LightCLIPError",
    "OfflineError",
    "UnknownNameError",
    "ZeroShotCLIP",
    "create_model",
    "create_zero_shot",
    "list_backbones",
    "list_text_encoders",
    "list_zero_shot",
    "load_checkpoint",
]
