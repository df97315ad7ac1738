"""Weight-space ensembling (`wise`): the ends are exact, the middle is the straight line, only the trunk
moves, and the checkpoint says what was done and loads."""

from __future__ import annotations

import json

import pytest
import torch

from lightclip_core import create_model, load_checkpoint
from lightclip_core.checkpoints import save_checkpoint
from lightclip_core.cli import main
from lightclip_core.errors import LightCLIPError
from lightclip_core.weight_ensemble import interpolate_trunk, pretrained_trunk_state, wise_checkpoint

SIZE = (64, 48)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A Lite0 model 'fine-tuned' away from its ImageNet start (every float tensor moved), with a text
    head as the bundled models have, saved as a checkpoint."""
    torch.manual_seed(0)
    model = create_model("efficientnet_lite0", pretrained=True, image_size=SIZE, stripes=2, text_head="pooled")
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.add_(torch.randn_like(t) * 0.01)
    path = tmp_path_factory.mktemp("ckpt") / "tuned"
    save_checkpoint(model, path, {"metrics": {"val_map": 12.5}, "recipe": {"note": "test"}})
    return path


def trunk(model) -> dict[str, torch.Tensor]:
    return model.backbone.trunk.state_dict()


@pytest.mark.parametrize("alpha", [1.0, 0.0])
def test_the_ends_are_the_fine_tuned_and_the_pretrained_trunk_bit_for_bit(tuned, tmp_path, alpha):
    out = wise_checkpoint(tuned, tmp_path / "w", alpha)
    mixed, source = load_checkpoint(out), load_checkpoint(tuned)
    want = trunk(source) if alpha == 1.0 else pretrained_trunk_state(source)
    for name, w in trunk(mixed).items():
        assert torch.equal(w, want[name]), name
    # nothing but the trunk moved: heads, pooling layer, text head and temperature stay fine-tuned
    rest = {k: v for k, v in source.trainable_state_dict().items() if not k.startswith("backbone.trunk.")}
    assert rest and all(torch.equal(mixed.trainable_state_dict()[k], v) for k, v in rest.items())


def test_the_middle_is_the_straight_line_and_is_recorded(tuned, tmp_path):
    out = wise_checkpoint(tuned, tmp_path / "w", 0.7)
    mixed, source = load_checkpoint(out), load_checkpoint(tuned)
    start = pretrained_trunk_state(source)
    for name, w in trunk(source).items():
        if w.is_floating_point():  # the slow, obvious formula
            torch.testing.assert_close(trunk(mixed)[name], 0.7 * w + 0.3 * start[name], rtol=1e-6, atol=1e-7)
        else:
            assert torch.equal(trunk(mixed)[name], w)  # BatchNorm's step counter stays as fine-tuned
    config = json.loads((out / "config.json").read_text())
    assert config["wise_alpha"] == 0.7 and config["wise"]["alpha"] == 0.7
    assert config["wise"]["toward"].startswith("pretrained")
    assert config["wise"]["source_metrics"] == {"val_map": 12.5} and "metrics" not in config  # not its own
    assert config["recipe"] == {"note": "test"}
    assert mixed.encode_image(torch.rand(1, 3, *SIZE)).shape == (1, 384)


def test_toward_another_checkpoint_and_refusals(tuned, tmp_path):
    other = create_model("efficientnet_lite0", image_size=SIZE, stripes=2, text_head="pooled")
    save_checkpoint(other, tmp_path / "other")
    out = wise_checkpoint(tuned, tmp_path / "w", 0.0, toward=str(tmp_path / "other"))
    assert all(torch.equal(w, trunk(other)[k]) for k, w in trunk(load_checkpoint(out)).items())

    save_checkpoint(create_model("mobilenetv3_small_100", image_size=SIZE), tmp_path / "foreign")
    with pytest.raises(LightCLIPError, match="mobilenetv3_small_100"):
        wise_checkpoint(tuned, tmp_path / "w2", 0.5, toward=str(tmp_path / "foreign"))
    with pytest.raises(LightCLIPError, match="alpha"):
        interpolate_trunk(load_checkpoint(tuned), pretrained_trunk_state(load_checkpoint(tuned)), 1.5)
    with pytest.raises(LightCLIPError, match="is the input"):
        wise_checkpoint(tuned, tuned, 0.5)


def test_cli_writes_a_checkpoint_and_refuses_to_write_over_other_files(tuned, tmp_path, capsys):
    assert main(["wise", "--checkpoint", str(tuned), "--alpha", "0.5", "--out", str(tmp_path / "w")]) == 0
    assert json.loads(capsys.readouterr().out)["alpha"] == 0.5
    assert load_checkpoint(tmp_path / "w").checkpoint_info["wise_alpha"] == 0.5
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["wise", "--checkpoint", str(tuned), "--alpha", "0.5", "--out", str(mine)]) == 2
    assert "notes.txt" in capsys.readouterr().err and (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(SystemExit):
        main(["wise", "--checkpoint", str(tuned), "--alpha", "1.5", "--out", str(tmp_path / "x")])
