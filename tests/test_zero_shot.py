"""Pretrained CLIP-family models, zero-shot: same code path offline with random weights."""

from __future__ import annotations

import time

import pytest
import torch

from conftest import run_python, make_gallery
from lightclip_core import OfflineError, create_zero_shot, list_zero_shot
from lightclip_core.errors import LightCLIPError
from lightclip_core.data.transforms import eval_transform
from lightclip_core.app.pool import EnginePool
from lightclip_core.app import views


def test_registry_lists_clip_and_mobileclip():
    assert {"clip-vit-b-32", "mobileclip-s1", "mobileclip-s2", "mobileclip2-s0"} <= set(list_zero_shot())


@pytest.mark.parametrize("key", ["mobileclip-s1", "mobileclip2-s0", "clip-vit-b-32"])
@pytest.mark.slow
def test_random_weight_models_encode_both_sides(key):
    m = create_zero_shot(key, pretrained=False)
    h, w = m.image_size
    assert h == w  # square inputs: tall crops are letterboxed by eval_transform
    with torch.no_grad():
        img = m.encode_image(torch.randn(2, 3, h, w))
        txt = m.encode_text(["a man in a red coat", "a woman with a bag"])
    assert img.shape == txt.shape == (2, m.embed_dim)
    torch.testing.assert_close(img.norm(dim=-1), torch.ones(2), atol=1e-4, rtol=0)
    assert not any(p.requires_grad for p in m.parameters())
    assert m.text_encoder.num_params() < sum(p.numel() for p in m.parameters())


def test_letterbox_keeps_the_whole_person():
    from PIL import Image

    m = create_zero_shot("mobileclip2-s0", pretrained=False)
    img = Image.new("RGB", (64, 128), (255, 255, 255))  # a tall white crop
    x = eval_transform(m)(img)
    assert x.shape[1:] == m.image_size
    col = x[0, x.shape[1] // 2]  # middle row: black padding left and right, white in the middle
    assert col[0] < col[x.shape[2] // 2]


@pytest.mark.slow
def test_offline_fails_in_one_sentence_fast(offline_env):
    t0 = time.perf_counter()
    out = run_python(
        "from lightclip_core import create_zero_shot, OfflineError\n"
        "try:\n    create_zero_shot('mobileclip-s1')\nexcept OfflineError as e:\n    print('MSG', e)\n",
        env=offline_env,
    )
    assert time.perf_counter() - t0 < 30
    assert out.returncode == 0, out.stderr[-1500:]
    msg = out.stdout.split("MSG", 1)[1].strip()
    assert "MobileCLIP-S1" in msg and "bundled LightCLIP models" in msg
    assert msg.count(". ") == 0 and "Traceback" not in out.stderr


@pytest.mark.slow
def test_zero_shot_in_the_pool_and_views(tmp_path, no_hub):
    gallery = make_gallery(tmp_path / "g", people=6, seed=3)
    pool = EnginePool(tmp_path / "no_checkpoints", gallery, cache_dir=tmp_path / "cache")
    labels = dict((k, label) for label, k in views.model_choices(pool))
    assert "zero-shot, needs a one-time download" in labels["mobileclip-s1"]
    pool.zero_shot_pretrained = False  # random weights: the same code path with no download
    items, md, rows = views.search_view(pool, "a man in a red coat", "mobileclip2-s0", 5)
    assert len(items) == 5 and "MobileCLIP2-S0 (zero-shot)" in md and "synthetic-trained." not in md


def test_pool_reports_offline_models_in_the_page(tmp_path, no_hub):
    gallery = make_gallery(tmp_path / "g", people=3, seed=3)
    pool = EnginePool(tmp_path / "none", gallery, cache_dir=tmp_path / "cache")
    with pytest.raises(LightCLIPError, match="MobileCLIP-S2") as offline:
        views.search_view(pool, "a man", "mobileclip-s2", 3)
    t0 = time.perf_counter()
    with pytest.raises(LightCLIPError) as again:  # remembered, not probed again
        views.search_view(pool, "a man", "mobileclip-s2", 3)
    assert str(again.value) == str(offline.value) and time.perf_counter() - t0 < 0.5
    with pytest.raises(OfflineError):
        create_zero_shot("clip-vit-b-32")
