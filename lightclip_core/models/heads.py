"""Projection heads: pooled vision features -> the frozen text encoder's embedding space."""

from __future__ import annotations

from torch import Tensor, nn

from ..registry import one_of

HEAD_KINDS = ("linear", "mlp")


class ProjectionHead(nn.Module):
    """``(B, in_dim) -> (B, out_dim)``; not normalised (LightCLIP normalises).

    ``linear``: one Linear, as CLIP's own image projection. ``mlp``: Linear -> GELU -> Dropout ->
    Linear, which lets a trunk trained on another task bend its features toward the text space.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        kind: str = "mlp",
        hidden_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        one_of("head kind", kind, HEAD_KINDS, "kinds")
        self.kind = kind
        if kind == "linear":
            self.net = nn.Linear(in_dim, out_dim)
        else:
            hidden_dim = hidden_dim or max(in_dim, out_dim)
            self.net = nn.Sequential(
                nn.Linear(in_dim, hidden_dim),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden_dim, out_dim),
            )

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)
