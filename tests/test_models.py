"""The model zoo: every backbone x the offline text encoder, heads, config, name errors."""

from __future__ import annotations

import pytest
import torch

from lightclip_core import LightCLIPError, UnknownNameError, create_model, list_backbones, list_text_encoders
from lightclip_core.losses import compute_losses
from lightclip_core.models import LightCLIPConfig, get_backbone_spec
from lightclip_core.models.backbones import create_backbone

STUDY_BACKBONES = [
    "mobilenetv2_100",
    "mobilenetv3_small_100",
    "mobilenetv3_large_100",
    "efficientnet_b0",
    "efficientnet_b3",
    "inception_v3",
    "fastvit_t8",
    "coatnet_0_rw_224",
    "vit_base_patch32_clip_224",
]


def test_registry_holds_the_study_backbones_with_display_names():
    assert set(STUDY_BACKBONES) <= set(list_backbones())
    for key in STUDY_BACKBONES:
        spec = get_backbone_spec(key)
        assert spec.display_name and spec.display_name != key
    assert get_backbone_spec("coatnet_0_rw_224").fixed_size
    assert get_backbone_spec("vit_base_patch32_clip_224").fixed_size
    assert not get_backbone_spec("mobilenetv3_large_100").fixed_size
    assert get_backbone_spec("inception_v3").min_size == 75


def test_text_encoders_listed():
    assert list_text_encoders()[:2] == ["minilm-l6", "clip-vit-b-32"]


@pytest.mark.parametrize("backbone", [*list_backbones(), "timm:mobilenetv3_small_050"])
@pytest.mark.slow
def test_every_backbone_encodes_and_trains_only_the_image_side(backbone):
    torch.manual_seed(0)
    model = create_model(backbone, text_encoder="minilm-l6")
    h, w = model.image_size
    images = torch.randn(2, 3, h, w)
    texts = ["a man in a grey jacket and black trousers", "a woman with a red bag"]

    out = model(images, texts=texts)
    img, txt = out["image_features"], out["text_features"]
    assert img.shape == txt.shape == (2, model.embed_dim) == (2, 384)
    for feats in (img, txt):
        assert torch.isfinite(feats).all()
        torch.testing.assert_close(feats.norm(dim=-1), torch.ones(2), atol=1e-5, rtol=0)
    # The registry's stated feature width is the real pooled width.
    assert model.backbone.trunk(images).shape[-1] == model.backbone.num_features
    if get_backbone_spec(backbone).feature_dim is not None:
        assert model.backbone.num_features == get_backbone_spec(backbone).feature_dim

    compute_losses(out, torch.tensor([0, 1]))["loss"].backward()
    trunk_grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert trunk_grads and any(g.abs().sum() > 0 for g in trunk_grads)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.head.parameters())
    assert model.logit_scale.grad is not None
    for p in model.text_encoder.parameters():
        assert not p.requires_grad and p.grad is None


def test_text_encoder_stays_in_eval_mode_when_model_trains():
    model = create_model("mobilenetv3_small_100")
    model.train()
    assert model.backbone.training and model.head.training
    assert not model.text_encoder.training
    assert not any(m.training for m in model.text_encoder.modules())


def test_encode_image_is_deterministic_in_eval_and_unit_norm():
    model = create_model("mobilenetv3_small_100", image_size=(128, 64)).eval()
    x = torch.randn(3, 3, 128, 64)
    with torch.no_grad():
        a, b = model.encode_image(x), model.encode_image(x)
    torch.testing.assert_close(a, b)
    assert model.image_size == (128, 64)


def test_logit_scale_init_and_clamp():
    model = create_model("mobilenetv3_small_100")
    assert model.scale().item() == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)  # e^10 >> 100
    assert model.scale().item() == pytest.approx(100.0)


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_head_kinds(head):
    model = create_model("mobilenetv3_small_100", head=head, head_hidden_dim=64)
    layers = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)]
    assert len(layers) == (1 if head == "linear" else 2)
    assert layers[-1].out_features == 384


def test_id_classifier_outputs_logits_for_both_modalities():
    model = create_model("mobilenetv3_small_100", num_classes=7, image_size=(128, 64))
    out = model(torch.randn(2, 3, 128, 64), texts=["a", "b"])
    assert out["image_logits"].shape == out["text_logits"].shape == (2, 7)


def test_trainable_state_dict_leaves_out_the_frozen_text_encoder():
    model = create_model("mobilenetv3_small_100")
    keys = model.trainable_state_dict().keys()
    assert keys and not any(k.startswith("text_encoder.") for k in keys)
    assert any(k.startswith("backbone.") for k in keys) and "logit_scale" in keys


def test_config_round_trip_and_unknown_keys():
    cfg = LightCLIPConfig(backbone="efficientnet_b0", image_size=(192, 96), head="linear")
    assert LightCLIPConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(LightCLIPError, match="bogus"):
        LightCLIPConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(UnknownNameError) as info:
        create_model("resnet9000")
    msg = str(info.value)
    assert "resnet9000" in msg
    for key in STUDY_BACKBONES:
        assert key in msg
    assert "timm:<name>" in msg


def test_unknown_timm_model_and_text_encoder():
    with pytest.raises(UnknownNameError, match="timm.list_models"):
        create_model("timm:not_a_model_at_all")
    with pytest.raises(UnknownNameError) as info:
        create_model("mobilenetv3_small_100", text_encoder="bert-huge")
    assert "minilm-l6" in str(info.value) and "clip-vit-b-32" in str(info.value)


def test_input_size_rules_give_clear_errors():
    with pytest.raises(LightCLIPError, match="at least 75 px"):
        create_backbone("inception_v3", image_size=(64, 64))
    with pytest.raises(LightCLIPError, match="multiples of 32"):
        create_backbone("coatnet_0_rw_224", image_size=(250, 120))
    vit = create_backbone("vit_base_patch32_clip_224", image_size=(128, 64))
    with pytest.raises(LightCLIPError, match="built for 128x64"):
        vit(torch.randn(1, 3, 256, 128))
    model = create_model("mobilenetv3_small_100")
    with pytest.raises(LightCLIPError, match=r"\(B, 3, H, W\)"):
        model.encode_image(torch.randn(3, 64, 32))


def test_non_fixed_backbones_accept_other_sizes():
    trunk = create_backbone("efficientnet_b0").eval()
    with torch.no_grad():
        assert trunk(torch.randn(1, 3, 160, 96)).shape == (1, 1280)



def _stripes_loop_reference(backbone, images):
    """Part pooling the slow, obvious way: per band, average its rows of the feature map, run the
    trunk's head on that 1x1 map, reduce, and concatenate top to bottom."""
    f = backbone.trunk.forward_features(images)
    tokens = f.ndim == 3
    if tokens:
        gh, gw = backbone.trunk.patch_embed.grid_size
        f = f[:, backbone.trunk.num_prefix_tokens:].transpose(1, 2).reshape(f.shape[0], -1, gh, gw)
    h, k = f.shape[2], backbone.stripes
    bands = []
    for i in range(k):
        start, end = (i * h) // k, -((-(i + 1) * h) // k)  # adaptive pooling's band bounds
        band = f[:, :, start:end, :].mean(dim=(2, 3))
        if tokens:
            band = backbone.trunk.fc_norm(band)
        else:
            band = backbone.trunk.forward_head(band[:, :, None, None], pre_logits=True)
        bands.append(backbone.stripe_reduce(band))
    return torch.cat(bands, dim=1)


@pytest.mark.parametrize("key,size", [("mobilenetv3_small_100", (128, 96)), ("efficientnet_b0", (160, 64)),
                                      ("vit_base_patch32_clip_224", None)])
@pytest.mark.slow
def test_stripe_pooling_matches_a_loop_and_keeps_the_width(key, size):
    torch.manual_seed(0)
    plain = create_backbone(key, image_size=size)
    striped = create_backbone(key, image_size=size, stripes=4).eval()
    assert striped.num_features == plain.num_features  # same head input width as global pooling
    images = torch.randn(2, 3, *striped.image_size)
    with torch.no_grad():
        out = striped(images)
        ref = _stripes_loop_reference(striped, images)
    assert out.shape == (2, striped.num_features)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    # Where on the body matters: light above dark is not dark above light (global pooling of a
    # random trunk hardly tells them apart; the bands come in another order).
    top_light = torch.zeros(1, 3, *striped.image_size)
    top_light[:, :, : striped.image_size[0] // 2] = 2.0
    with torch.no_grad():
        a, b = striped(top_light), striped(top_light.flip(2))
    assert (a - b).abs().max() > 1e-3 * a.abs().max()


def test_stripes_travel_with_the_config_and_checkpoint(tmp_path):
    from lightclip_core.checkpoints import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(128, 96), stripes=4).eval()
    assert LightCLIPConfig.from_dict(model.config.to_dict()).stripes == 4
    legacy = {k: v for k, v in model.config.to_dict().items() if k != "stripes"}
    assert LightCLIPConfig.from_dict(legacy).stripes == 0  # checkpoints from before stripes existed
    save_checkpoint(model, tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt")
    loaded = loaded[0] if isinstance(loaded, tuple) else loaded
    images = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(images), model.encode_image(images))
    with pytest.raises(LightCLIPError, match="stripes"):
        create_backbone("mobilenetv3_small_100", stripes=-1)


def test_band_pool_equals_adaptive_pooling_for_every_height():
    """The export-friendly band pooling (fixed slices) is adaptive pooling, for every height."""
    import torch.nn.functional as F

    from lightclip_core.models.backbones import band_pool

    for h in range(1, 10):
        f = torch.randn(2, 3, h, 5, generator=torch.Generator().manual_seed(h))
        assert torch.allclose(band_pool(f, 4), F.adaptive_avg_pool2d(f, (4, 1)), atol=1e-6), h


def test_a_deferred_image_side_is_built_on_first_use_and_equals_the_eager_load(tmp_path):
    """`load_checkpoint(defer_image=True)`: text queries without a trunk; the first image read builds the
    trunk, heads and attribute heads from the file, equal to the model loaded at once."""
    from lightclip_core.checkpoints import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32), text_head="tokens",
                         attribute_classes={"upper": 3}).eval()
    save_checkpoint(model, tmp_path / "ckpt")
    eager, lazy = load_checkpoint(tmp_path / "ckpt"), load_checkpoint(tmp_path / "ckpt", defer_image=True)
    texts = ["a man in a red coat", "a woman with a black bag"]
    with torch.no_grad():
        torch.testing.assert_close(lazy.encode_text(texts), eager.encode_text(texts))
    assert not lazy.image_tower_built
    images = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(lazy.encode_image(images), eager.encode_image(images))
    assert lazy.image_tower_built and not lazy.training and not lazy.backbone.training
    assert lazy.state_dict().keys() == eager.state_dict().keys()
    for k, v in eager.state_dict().items():
        torch.testing.assert_close(lazy.state_dict()[k], v)


def test_a_deferred_image_side_that_does_not_fit_fails_on_first_use_and_again_after(tmp_path):
    from safetensors.torch import load_file, save_file

    from lightclip_core.checkpoints import load_checkpoint, save_checkpoint

    save_checkpoint(create_model("mobilenetv3_small_100", image_size=(64, 32)), tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    lazy = load_checkpoint(tmp_path / "ckpt", defer_image=True)  # the text side is all it reads now
    state = load_file(str(weights))
    save_file({k: v for k, v in state.items() if not k.startswith("head.")}, str(weights))
    for _ in range(2):
        with pytest.raises(LightCLIPError, match="does not fit a mobilenetv3_small_100 model"):
            lazy.encode_image(torch.randn(1, 3, 64, 32))
    with pytest.raises(LightCLIPError, match="does not fit"):
        load_checkpoint(tmp_path / "ckpt")  # the eager load says the same at once
