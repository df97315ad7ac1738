"""Model zoo: vision trunks, frozen text encoders, projection heads and the LightCLIP model."""

from .backbones import BACKBONES, Backbone, BackboneSpec, create_backbone, get_backbone_spec, list_backbones
from .heads import ProjectionHead
from .lightclip import LightCLIP, LightCLIPConfig, create_model
from .text_encoders import TEXT_ENCODERS, TextEncoder, create_text_encoder, list_text_encoders

__all__ = [
    "BACKBONES",
    "TEXT_ENCODERS",
    "Backbone",
    "BackboneSpec",
    "LightCLIP",
    "LightCLIPConfig",
    "ProjectionHead",
    "TextEncoder",
    "create_backbone",
    "create_model",
    "create_text_encoder",
    "get_backbone_spec",
    "list_backbones",
    "list_text_encoders",
]
