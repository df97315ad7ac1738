"""Each extension point is one registration, shown with a toy entry: a dataset loader that `eval` then
reads by name, and a backbone that `create_model` then builds (the detector, store, renderer and command
seams have theirs in test_detectors, test_stores, test_camera_renderer and test_cli)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lightclip_core import create_model
from lightclip_core.data import DATASETS, load_dataset
from lightclip_core.data.person_search import load_rstpreid
from lightclip_core.errors import LightCLIPError, UnknownNameError
from lightclip_core.models.backbones import BACKBONES, BackboneSpec

REALCHECK = Path(__file__).resolve().parents[1] / "realcheck" / "street"


@pytest.mark.slow
def test_a_dataset_loader_is_one_register_line(tmp_path, capsys):
    """A toy format: the RSTPReid layout under another annotation file name."""
    root = tmp_path / "toy"
    shutil.copytree(REALCHECK / "imgs", root / "imgs")
    (root / "people.json").write_text((REALCHECK / "data_captions.json").read_text())

    def load_toy(root, check_images: bool = True):
        staged = Path(root) / "data_captions.json"
        if not staged.exists():
            staged.write_text((Path(root) / "people.json").read_text())
        return load_rstpreid(root, check_images, name="toy")

    DATASETS.register("toy", load_toy)
    try:
        ds = load_dataset("toy", root)
        assert ds.name == "toy" and len(ds.split("test")) == len(json.loads((root / "people.json").read_text()))
        from lightclip_core.checkpoints import save_checkpoint
        from lightclip_core.cli import main

        ckpt = save_checkpoint(create_model("mobilenetv3_small_100", image_size=(64, 32)).eval(), tmp_path / "ckpt")
        assert main(["eval", "--checkpoint", str(ckpt), "--dataset", "toy", "--root", str(root), "--json"]) == 0
        assert "r1" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    finally:
        DATASETS.unregister("toy")
    with pytest.raises(UnknownNameError, match="Unknown dataset 'toy'"):
        load_dataset("toy", root)


def test_a_backbone_is_one_register_line():
    """A toy trunk: timm's smallest MobileNetV3 under a new key, with its own input rule."""
    spec = BackboneSpec("toy_mnv3", "Toy MobileNetV3", "mobilenetv3_small_050", None, size_multiple=32)
    BACKBONES.register(spec.key, spec)
    try:
        model = create_model("toy_mnv3", image_size=(64, 32)).eval()
        assert model.config.backbone == "toy_mnv3" and model.embed_dim > 0
        with pytest.raises(LightCLIPError, match="multiples of 32 px, got 60x32"):
            create_model("toy_mnv3", image_size=(60, 32))
    finally:
        BACKBONES.unregister("toy_mnv3")
    with pytest.raises(UnknownNameError, match="Unknown backbone 'toy_mnv3'"):
        create_model("toy_mnv3")
