"""gradio_tuning: the memoised static-file check answers as Gradio's own, and Gradio really uses it."""

from __future__ import annotations

import pytest

gr = pytest.importorskip("gradio")

from gradio import processing_utils  # noqa: E402
from gradio import utils as gutils  # noqa: E402
from gradio.data_classes import FileData, _StaticFiles  # noqa: E402
from PIL import Image  # noqa: E402

from lightclip_core.app import gradio_tuning  # noqa: E402


@pytest.fixture
def static_dir(tmp_path, monkeypatch):
    """A static folder with two images, a non-static file, and Gradio's globals restored afterwards."""
    monkeypatch.setattr(gutils, "is_static_file", gutils.is_static_file)  # restored at teardown
    monkeypatch.setattr(_StaticFiles, "all_paths", list(_StaticFiles.all_paths))
    monkeypatch.delenv("LIGHTCLIP_GRADIO_TUNING", raising=False)
    root = tmp_path / "gallery"
    (root / "imgs").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (8, 16), (200, 10, 10)).save(root / "imgs" / name)
    other = tmp_path / "elsewhere.jpg"
    Image.new("RGB", (8, 16)).save(other)
    gr.set_static_paths([str(root)])
    return root, other


def test_memo_answers_like_gradio(static_dir):
    root, other = static_dir
    original = gutils.is_static_file
    assert gradio_tuning.memoise_static_checks()
    memo = gutils.is_static_file
    assert memo is not original and memo.original is original
    a, b = root / "imgs" / "a.jpg", root / "imgs" / "b.jpg"
    cases = [str(a), str(a), a, FileData(path=str(b)), str(b), str(other), str(other), other,
             str(root / "imgs" / "missing.jpg"), str(root / "imgs" / "missing.jpg"), 42, None,
             FileData(path=str(other))]
    for case in cases:
        assert memo(case) == original(case), case
    # Only static answers are remembered; a file outside the static folders is checked every time.
    assert memo.lightclip_memo == {str(a), str(b)}
    assert gradio_tuning.memoise_static_checks()  # a second call keeps the one memo
    assert gutils.is_static_file is memo


def test_gradio_postprocessing_goes_through_the_memo(static_dir, monkeypatch):
    """If Gradio stopped looking the check up on `gradio.utils` (e.g. `from .utils import ...`), the
    memo would be dead code: count the real checks made while Gradio post-processes results twice."""
    root, other = static_dir
    calls: list = []
    real = gutils.is_static_file

    def counting(file_path):
        calls.append(file_path)
        return real(file_path)

    monkeypatch.setattr(gutils, "is_static_file", counting)
    assert gradio_tuning.memoise_static_checks()
    gallery = gr.Gallery()
    value = [(str(root / "imgs" / "a.jpg"), "a"), (str(root / "imgs" / "b.jpg"), "b")]
    urls = []
    for _ in range(3):
        data = gallery.postprocess(value).model_dump()
        out = processing_utils.move_files_to_cache(data, gallery, postprocess=True)
        urls.append([item["image"]["url"] for item in out])
    assert len(calls) == 2  # one real check per file, not one per file per response
    assert urls[0] == urls[1] == urls[2]
    assert all(u.endswith(("a.jpg", "b.jpg")) and "/file=" in u for u in urls[0])
    assert all(str(root) in u for u in urls[0])  # served in place, not copied into Gradio's cache


def test_turned_off(static_dir, monkeypatch):
    monkeypatch.setenv("LIGHTCLIP_GRADIO_TUNING", "0")
    before = gutils.is_static_file
    assert not gradio_tuning.memoise_static_checks()
    assert gutils.is_static_file is before
    monkeypatch.delenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", raising=False)
    gradio_tuning.tune_environment()
    import os
    assert "GRADIO_ANALYTICS_CACHE_FREQUENCY" not in os.environ


def test_environment_respects_the_user(monkeypatch):
    import os
    monkeypatch.delenv("LIGHTCLIP_GRADIO_TUNING", raising=False)
    monkeypatch.delenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", raising=False)
    gradio_tuning.tune_environment()
    assert os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"] == gradio_tuning.ANALYTICS_EVERY
    monkeypatch.setenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", "7")
    gradio_tuning.tune_environment()
    assert os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"] == "7"
    # Gradio's queue reads it when built.
    with gr.Blocks() as demo:
        gr.Button()
    demo.queue()
    assert demo._queue.ANAYLTICS_CACHE_FREQUENCY == 7
