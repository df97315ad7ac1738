"""Learned text heads: identity at the start, checkpoints with and without one, ONNX parity, the
frozen encoder's token states."""

from __future__ import annotations

import pytest
import torch

from lightclip_core import LightCLIPError, create_model, load_checkpoint
from lightclip_core.checkpoints import save_checkpoint
from lightclip_core.models.text_heads import create_text_head, masked_mean

TEXTS = ["a man in a grey jacket and black trousers", "a man in a black jacket and grey trousers", "a woman"]


def test_token_states_pool_to_the_sentence_vector():
    model = create_model("mobilenetv3_small_100", image_size=(64, 32))
    enc = model.text_encoder
    feats = enc.encode_features(TEXTS)
    assert feats.states.shape[:2] == feats.mask.shape and feats.states.shape[2] == enc.dim
    torch.testing.assert_close(feats.pooled, enc.encode(TEXTS), atol=1e-5, rtol=0)
    # slow and obvious: mean of each text's own token rows, then unit norm
    for i in range(len(TEXTS)):
        rows = feats.states[i][feats.mask[i]]
        torch.testing.assert_close(torch.nn.functional.normalize(rows.mean(0), dim=0), feats.pooled[i], atol=2e-3, rtol=0)
    assert not feats.states[feats.mask.logical_not()].any()  # padding is zero


@pytest.mark.parametrize("kind", ["tokens", "pooled"])
def test_a_new_head_starts_as_the_frozen_vector(kind):
    model = create_model("mobilenetv3_small_100", image_size=(64, 32), text_head=kind)
    torch.testing.assert_close(model.encode_text(TEXTS), model.text_encoder.encode(TEXTS), atol=1e-5, rtol=0)


def test_the_tokens_head_learns_from_word_order():
    """The frozen pooled vectors of a colour swap are 0.99 alike; a tokens head can pull them apart
    (it reads the token states, which know which garment each colour word stands beside)."""
    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32), text_head="tokens")
    feats = model.text_encoder.encode_features(TEXTS[:2])
    opt = torch.optim.Adam(model.text_head.parameters(), 1e-3)
    for _ in range(100):
        out = model.project_text(feats.pooled, feats.states, feats.mask)
        loss = out[0] @ out[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = model.project_text(feats.pooled, feats.states, feats.mask)
    assert (out[0] @ out[1]).item() < 0.5 and (feats.pooled[0] @ feats.pooled[1]).item() > 0.95


@pytest.mark.parametrize("kind", ["none", "tokens"])
def test_checkpoints_with_and_without_a_head_round_trip(tmp_path, kind):
    model = create_model("mobilenetv3_small_100", image_size=(64, 32), text_head=kind, stripes=2).eval()
    if model.text_head is not None:
        for p in model.text_head.parameters():
            torch.nn.init.normal_(p, std=0.05)
    save_checkpoint(model, tmp_path / "ckpt")
    again = load_checkpoint(tmp_path / "ckpt")
    assert again.config.text_head == kind
    images = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(again.encode_text(TEXTS), model.encode_text(TEXTS))
        torch.testing.assert_close(again.encode_image(images), model.encode_image(images))


def test_a_checkpoint_written_before_heads_existed_loads_without_one(tmp_path):
    import json

    model = create_model("mobilenetv3_small_100", image_size=(64, 32))
    save_checkpoint(model, tmp_path / "old")
    cfg = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in ("text_head", "text_head_width", "text_head_layers", "attribute_classes"):
        del cfg["model"][key]
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg))
    old = load_checkpoint(tmp_path / "old")
    assert old.text_head is None
    torch.testing.assert_close(old.encode_text(TEXTS), old.text_encoder.encode(TEXTS))


def test_the_heads_onnx_graph_equals_pytorch(tmp_path, monkeypatch):
    monkeypatch.setenv("LIGHTCLIP_CACHE", str(tmp_path))
    torch.manual_seed(1)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32), text_head="tokens").eval()
    for p in model.text_head.parameters():
        torch.nn.init.normal_(p, std=0.05)
    with torch.no_grad():
        want = model.encode_text(TEXTS + ["a much longer description of a woman with a red handbag and white shoes"])
        model.use_runtime("onnx")
        try:
            got = model.encode_text(TEXTS + ["a much longer description of a woman with a red handbag and white shoes"])
        finally:
            model.use_runtime("torch")  # the frozen encoder is shared: leave it as the other tests expect
    assert model.text_head_onnx().path.is_file()
    assert torch.nn.functional.cosine_similarity(want, got).min().item() >= 0.999


def test_bad_head_settings_are_one_sentence():
    with pytest.raises(LightCLIPError, match="Unknown text head"):
        create_text_head("lstm", 384)
    with pytest.raises(LightCLIPError, match="positive width"):
        create_text_head("tokens", 384, width=0)
    with pytest.raises(LightCLIPError, match="divide by its heads"):
        create_text_head("tokens", 384, width=190)


def test_masked_mean_ignores_padding():
    x = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(x, torch.tensor([[True, True, False]])).item() == 2.0


def test_models_on_one_encoder_share_its_work():
    """Two models with tokens heads on the shared MiniLM: the second encodes no text again."""
    a = create_model("mobilenetv3_small_100", image_size=(64, 32), text_head="tokens")
    b = create_model("mobilenetv3_large_100", image_size=(64, 32), text_head="tokens")
    assert a.text_encoder is b.text_encoder
    queries = ["a woman in a teal raincoat", "a man with a crimson scarf"]
    a.encode_text(queries)
    misses = a.text_encoder.cache_misses
    b.encode_text(queries)
    assert a.text_encoder.cache_misses == misses


def test_the_training_cache_of_token_states_gives_back_what_the_encoder_gives(tmp_path, monkeypatch):
    from lightclip_core.text_cache import cached_token_states

    monkeypatch.setenv("LIGHTCLIP_CACHE", str(tmp_path))
    enc = create_model("mobilenetv3_small_100", image_size=(64, 32)).text_encoder
    texts = TEXTS * 2 + ["x"]
    store = cached_token_states(enc, texts, "t", progress=False)
    again = cached_token_states(enc, texts, "t", progress=False)  # read back from disk
    want = enc.encode_features(texts)
    for s in (store, again):
        got = s.rows(torch.arange(len(texts)))
        torch.testing.assert_close(got.pooled, want.pooled, atol=1e-5, rtol=0)
        torch.testing.assert_close(got.states, want.states, atol=1e-2, rtol=0)  # fp16 on disk
        assert (got.mask == want.mask).all()


def test_length_buckets_give_the_rows_an_unbucketed_head_gives():
    from lightclip_core.models.text_heads import TokenHead

    torch.manual_seed(0)
    head = TokenHead(16, width=8, heads=2)
    torch.nn.init.normal_(head.up.weight, std=0.1)
    lengths = torch.randint(1, 12, (40,))
    mask = torch.arange(12)[None, :] < lengths[:, None]
    states, pooled = torch.randn(40, 12, 16) * mask[..., None], torch.randn(40, 16)
    head.train()
    bucketed = head(pooled, states, mask)
    head.eval()
    torch.testing.assert_close(bucketed, head(pooled, states, mask), atol=1e-5, rtol=0)


def test_many_texts_go_through_the_head_in_chunks_and_come_back_in_order(monkeypatch):
    """More texts than a chunk are encoded in length order, a chunk at a time (padding and the head's
    attention stay small); each row still equals that text encoded alone."""
    from lightclip_core.models import lightclip

    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32), text_head="tokens").eval()
    torch.nn.init.normal_(model.text_head.up.weight, std=0.2)  # not the identity: the head's output counts
    monkeypatch.setattr(lightclip, "TEXT_HEAD_CHUNK", 3)
    texts = [f"a {'very ' * (i * 7 % 5)}tall person number {i}" for i in range(8)] + [TEXTS[0], TEXTS[0]]
    with torch.no_grad():
        got = model.encode_text(texts)
        alone = torch.cat([model.encode_text([t]) for t in texts])
    torch.testing.assert_close(got, alone, atol=1e-5, rtol=0)
