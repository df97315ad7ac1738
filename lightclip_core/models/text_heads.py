"""Learned text heads: between the frozen text encoder and the joint space.

The frozen sentence vector barely records which garment has which colour (cosine 0.986 between "a grey
jacket and black trousers" and "a black jacket and grey trousers"), but the encoder's token states do:
each colour word's state knows the garment beside it. A head reads them and writes the joint-space
vector; both heads start as the identity (their last layer is zero), so a model trained without a head
keeps its behaviour when one is added, and learning moves it from there.

    pooled (B, D), states (B, T, D), mask (B, T) -> head -> (B, D)   (LightCLIP L2-normalises)

- ``tokens``: one small pre-norm transformer layer over the token states (width 192, 4 heads), their
  masked mean, projected back to D and added to the pooled vector. Measured on 8,000 SynthPedes
  captions, predicting the upper and lower garments' colours (14 each): 95 / 97 % on held-out captions
  and 85 / 79 % on templates phrased unlike them, against 53 / 30 % and 55 / 58 % for an MLP on the
  pooled vector (the same data and steps).
- ``pooled``: a residual MLP on the pooled vector (cheap; no token states needed).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import LightCLIPError
from ..registry import one_of

TEXT_HEADS = ("none", "pooled", "tokens")


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """``(B, T, C)``, ``(B, T)`` -> ``(B, C)``: the mean over the positions where `mask` is set."""
    m = mask.to(x.dtype).unsqueeze(-1)  # (B, T, 1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class SelfAttentionLayer(nn.Module):
    """A pre-norm transformer layer written with plain ops (exports to ONNX, no fused fast path)."""

    def __init__(self, width: int, heads: int, ff: int) -> None:
        super().__init__()
        if width % heads:
            raise LightCLIPError(f"The text head's width ({width}) must divide by its heads ({heads}).")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ff = nn.Sequential(nn.Linear(width, ff), nn.GELU(), nn.Linear(ff, width))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)  # (B, H, T, T)
        att = att.masked_fill(~mask[:, None, None, :], -1e4).softmax(-1)  # padding is never attended to
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, c))
        return x + self.ff(self.norm2(x))


class TokenHead(nn.Module):
    """Token states -> one attention layer -> masked mean -> back to D, added to the pooled vector."""

    needs_states = True

    def __init__(self, dim: int, width: int = 192, heads: int = 4, layers: int = 1) -> None:
        super().__init__()
        self.down = nn.Linear(dim, width)
        self.layers = nn.ModuleList(SelfAttentionLayer(width, heads, 2 * width) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, dim)
        nn.init.zeros_(self.up.weight)  # starts as the identity on the pooled vector
        nn.init.zeros_(self.up.bias)

    buckets = 4  # training batches run in this many groups of similar length (less padding to compute)

    def forward(self, pooled: Tensor, states: Tensor | None, mask: Tensor | None) -> Tensor:
        if states is None or mask is None:
            raise LightCLIPError("The tokens text head needs the text encoder's token states.")
        if self.training and pooled.shape[0] >= 8 * self.buckets:
            # Captions run from 4 to ~80 tokens; padding all to the longest doubled a step's cost. Each
            # group is padded to its own longest; the rows come back in their order.
            lengths = mask.sum(1)
            order = lengths.argsort()
            parts = [self._forward(pooled[i], states[i, : int(lengths[i].max())], mask[i, : int(lengths[i].max())])
                     for i in order.chunk(self.buckets)]
            return torch.cat(parts)[order.argsort()]
        return self._forward(pooled, states, mask)

    def _forward(self, pooled: Tensor, states: Tensor, mask: Tensor) -> Tensor:
        h = self.down(states.to(pooled.dtype))  # (B, T, W)
        for layer in self.layers:
            h = layer(h, mask)
        return pooled + self.up(self.norm(masked_mean(h, mask)))  # (B, D)


class PooledHead(nn.Module):
    """A residual MLP on the pooled sentence vector."""

    needs_states = False

    def __init__(self, dim: int, width: int = 384) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, width), nn.GELU(), nn.Linear(width, dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, pooled: Tensor, states: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return pooled + self.net(pooled)


def create_text_head(kind: str, dim: int, width: int | None = None, layers: int = 1) -> nn.Module | None:
    """The head `kind` (``none`` gives None) for a `dim`-wide text encoder."""
    one_of("text head", kind, TEXT_HEADS, "heads")
    if width is not None and width < 1 or layers < 1:
        raise LightCLIPError(f"The text head needs a positive width and layer count, got {width} and {layers}.")
    if kind == "tokens":
        return TokenHead(dim, width or 192, layers=layers)
    if kind == "pooled":
        return PooledHead(dim, width or dim)
    return None


class TextHeadGraph(nn.Module):
    """What `LightCLIP.project_text` computes, as one module to export: head, then L2 normalisation."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, pooled: Tensor, states: Tensor, mask: Tensor) -> Tensor:
        return F.normalize(self.head(pooled, states, mask > 0.5), dim=-1)
