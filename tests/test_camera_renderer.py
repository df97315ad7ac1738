"""SynthPedes' camera renderer: the same captions as the draw renderer, only the pictures differ;
deterministic for any worker count; the renderer registry and its errors."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lightclip_core.cli import main
from lightclip_core.synthpedes.renderers import RENDERERS
from lightclip_core.synthpedes.writer import SynthConfig, generate
from lightclip_core.errors import LightCLIPError

CFG = SynthConfig(ids=24, images_per_id=2, size=(96, 48), val_ids=4, test_ids=4, seed=5, renderer="camera")


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """The same small config written by both renderers (counterfactuals and varied phrasings on, so
    every stream of the picture's generator is exercised)."""
    root = tmp_path_factory.mktemp("renderers")
    cfg = SynthConfig(**{**CFG.__dict__, "phrasings": "varied", "counterfactuals": 2})
    generate(root / "camera", cfg, workers=1)
    generate(root / "draw", SynthConfig(**{**cfg.__dict__, "renderer": "draw"}), workers=1)
    generate(root / "mixed", SynthConfig(**{**cfg.__dict__, "renderer": "mixed"}), workers=2)
    return root / "camera", root / "draw"


def test_captions_facts_and_counterfactuals_equal_the_draw_renderers(pair):
    camera, draw = pair
    for name in ("data_captions.json", "counterfactuals.json"):
        assert (camera / name).read_bytes() == (draw / name).read_bytes(), name
    a = json.loads((camera / "attributes.json").read_text())
    b = json.loads((draw / "attributes.json").read_text())
    assert a["identities"] == b["identities"] and a["pictures"] == b["pictures"]
    assert a["config"].pop("renderer") == "camera" and "renderer" not in b["config"]  # the default is not written
    assert a["config"] == b["config"]
    # ... and the pictures do differ.
    names = sorted(p.name for p in (draw / "imgs").iterdir())
    assert names == sorted(p.name for p in (camera / "imgs").iterdir())
    assert all((camera / "imgs" / n).read_bytes() != (draw / "imgs" / n).read_bytes() for n in names)


def test_the_mixed_renderer_is_the_draw_set_with_every_odd_crc32_name_swapped_for_the_cameras(pair):
    camera, draw = pair
    mixed = camera.parent / "mixed"
    for name in ("data_captions.json", "counterfactuals.json"):
        assert (mixed / name).read_bytes() == (draw / name).read_bytes(), name
    swapped = 0
    for path in sorted((draw / "imgs").iterdir()):
        from_camera = zlib.crc32(path.name.encode()) % 2 == 1
        source = camera if from_camera else draw
        assert (mixed / "imgs" / path.name).read_bytes() == (source / "imgs" / path.name).read_bytes(), path.name
        swapped += from_camera
    assert 0 < swapped < len(list((draw / "imgs").iterdir()))


def test_camera_pictures_have_the_configured_size_and_are_rgb(pair):
    camera, _ = pair
    for path in sorted((camera / "imgs").iterdir())[:10]:
        with Image.open(path) as img:
            assert img.size == (48, 96) and img.mode == "RGB"
            arr = np.asarray(img, dtype=np.float32)
            assert arr.std() > 5  # a picture, not a blank frame


def test_camera_renderer_is_deterministic_for_any_worker_count(tmp_path):
    cfg = SynthConfig(**{**CFG.__dict__, "ids": 12, "images_per_id": 1, "size": (64, 32), "val_ids": 2, "test_ids": 2})
    generate(tmp_path / "one", cfg, workers=1)
    generate(tmp_path / "two", cfg, workers=2)
    assert _hashes(tmp_path / "one") == _hashes(tmp_path / "two")
    generate(tmp_path / "other", SynthConfig(**{**cfg.__dict__, "seed": 6}), workers=1)
    assert _hashes(tmp_path / "one")["imgs/00000_00.jpg"] != _hashes(tmp_path / "other")["imgs/00000_00.jpg"]


def test_an_unknown_renderer_fails_with_the_valid_names(tmp_path, capsys):
    assert RENDERERS.names() == ["draw", "camera", "mixed"]
    with pytest.raises(LightCLIPError) as err:
        SynthConfig(ids=10, val_ids=0, test_ids=0, renderer="paint").check()
    message = str(err.value)
    assert message == "Unknown renderer 'paint'; valid renderers are: draw, camera, mixed."
    with pytest.raises(SystemExit):  # argparse lists the registry's names as the choices
        main(["synth", "--out", str(tmp_path / "x"), "--renderer", "paint"])
    assert "draw" in capsys.readouterr().err


def test_cli_synth_renderer_camera(tmp_path, capsys):
    code = main(["synth", "--out", str(tmp_path / "c"), "--ids", "8", "--val-ids", "2", "--test-ids", "2",
                 "--images-per-id", "1", "--size", "64x32", "--workers", "1", "--renderer", "camera", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["images"] == 8
    config = json.loads((tmp_path / "c" / "attributes.json").read_text())["config"]
    assert config["renderer"] == "camera"


def test_contact_sheet_with_a_reference_row(tmp_path):
    from lightclip_core.synthpedes.writer import contact_sheet

    cfg = SynthConfig(ids=4, images_per_id=2, size=(64, 32), val_ids=0, test_ids=0, renderer="camera")
    real = [Image.new("RGB", (40, 90), (90, 90, 90))] * 3
    out = contact_sheet(tmp_path / "sheet.png", cfg, n_ids=2, caption_width=100, reference=real,
                        reference_label="real crops")
    with Image.open(out) as img:
        assert img.size == (3 * 32 + 100, 3 * 64)  # two identities and the reference row
        assert img.getpixel((5, 2 * 64 + 30)) == (90, 90, 90)


def test_a_toy_renderer_is_one_class_and_one_register_line(tmp_path):
    """What docs/ARCHITECTURE.md promises: a renderer paints `Renderer.plan`'s pictures its own way, is
    registered by name, and `synth --renderer NAME` then writes the same identities, captions and
    counterfactuals as the draw renderer, deterministically."""
    from PIL import Image

    from lightclip_core.synthpedes.drawing import Renderer
    from lightclip_core.synthpedes.vocabulary import COLOURS

    class Flat(Renderer):  # each picture one flat patch of the person's upper-garment colour
        def paint(self, ident, plan):
            h, w = self.size
            return Image.new("RGB", (w, h), COLOURS[ident.upper_colour])

    RENDERERS.register("flat", Flat)
    try:
        cfg = SynthConfig(ids=10, images_per_id=2, size=(64, 32), val_ids=2, test_ids=2, seed=4,
                          phrasings="varied", counterfactuals=1, renderer="flat")
        generate(tmp_path / "flat", cfg, workers=1)
        generate(tmp_path / "again", cfg, workers=1)
        generate(tmp_path / "draw", SynthConfig(**{**cfg.__dict__, "renderer": "draw"}), workers=1)
        assert _hashes(tmp_path / "flat") == _hashes(tmp_path / "again")
        for name in ("data_captions.json", "counterfactuals.json"):
            assert (tmp_path / "flat" / name).read_bytes() == (tmp_path / "draw" / name).read_bytes()
        with Image.open(next((tmp_path / "flat" / "imgs").iterdir())) as img:
            assert len(img.getcolors(64 * 32) or []) < 40  # a flat patch (JPEG adds a few shades), not a drawing
    finally:
        RENDERERS.unregister("flat")
    with pytest.raises(LightCLIPError, match="Unknown renderer 'flat'"):
        RENDERERS.get("flat")

