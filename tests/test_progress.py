"""One progress signature across the library: progress(stage, done, total)."""

import warnings

import pytest
import torch

from lightclip_core import create_model
from lightclip_core.synthpedes.writer import SynthConfig, generate
from lightclip_core.gallery import Gallery
from lightclip_core.gallery_embeddings import encode_gallery
from lightclip_core.progress import as_progress


def test_as_progress_passes_the_current_form_and_wraps_the_old_one():
    calls = []
    as_progress(None)("stage", 1, 2)  # a no-op
    current = lambda stage, done, total: calls.append((stage, done, total))  # noqa: E731
    assert as_progress(current) is current
    with pytest.warns(DeprecationWarning, match="stage, done, total"):
        old = as_progress(lambda done, total: calls.append((done, total)))
    old("encoding", 3, 4)
    assert calls == [(3, 4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the current form, with extra keyword defaults, warns about nothing
        as_progress(lambda stage, done, total, extra=None: None)
        as_progress(print)


def test_gallery_encoding_reports_stage_done_and_total(tmp_path):
    generate(tmp_path, SynthConfig(ids=5, images_per_id=2, size=(64, 32), val_ids=1, test_ids=1, seed=2), workers=1)
    gallery = Gallery.load(tmp_path)
    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32)).eval()
    seen = []
    emb = encode_gallery(model, gallery, batch_size=4, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert emb.shape[0] == len(gallery)
    assert {s for s, _, _ in seen} == {"encoding the gallery"}
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen) and seen[-1][1:] == (len(gallery), len(gallery))
