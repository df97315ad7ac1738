"""ONNX Runtime inference: parity with PyTorch, the on-disk cache (reuse, damage, staleness), the choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightclip_core import LightCLIPError, runtime
from lightclip_core.models.text_encoders import MiniLMTextEncoder

TEXTS = [
    "The man is walking. He is wearing a grey jacket and black trousers. His shoes are brown.",
    "a woman",
    "long " * 400,  # truncated at 256 tokens by both runtimes
    "Eine Frau mit rotem Mantel 🙂",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("onnx_cache")
    mp.setenv("LIGHTCLIP_CACHE", str(path))
    mp.delenv("LIGHTCLIP_RUNTIME", raising=False)
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def minilm(cache):
    return MiniLMTextEncoder(pretrained=True, cache_size=0)


def encode(enc, name):
    enc.use_runtime(name)
    enc.clear_cache()
    return enc.encode(TEXTS).numpy()


@pytest.mark.slow
def test_minilm_onnx_matches_pytorch_and_is_reused_from_disk(minilm, cache):
    want = encode(minilm, "torch")
    got = encode(minilm, "onnx")
    cos = (want * got).sum(1)
    assert cos.min() >= 0.999, cos
    files = sorted((cache / "onnx").glob("*.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    fresh = MiniLMTextEncoder(pretrained=True, cache_size=0)  # a new process would do this
    assert np.allclose(encode(fresh, "onnx"), got, atol=1e-6)
    assert files[0].stat().st_mtime_ns == stamp  # loaded, not exported again


@pytest.mark.slow
def test_a_damaged_onnx_file_is_rebuilt_not_used(minilm, cache):
    encode(minilm, "onnx")
    path = sorted((cache / "onnx").glob("*.onnx"))[0]
    path.write_bytes(path.read_bytes()[: 1000])  # truncated: its hash no longer matches the sidecar
    fresh = MiniLMTextEncoder(pretrained=True, cache_size=0)
    got = encode(fresh, "onnx")
    assert (got * encode(fresh, "torch")).sum(1).min() >= 0.999
    assert path.stat().st_size > 1_000_000
    path.with_suffix(".json").unlink()  # a file without its sidecar is not trusted either
    fresh = MiniLMTextEncoder(pretrained=True, cache_size=0)
    encode(fresh, "onnx")
    assert path.with_suffix(".json").is_file()


@pytest.mark.slow
def test_other_weights_get_another_graph(cache):
    a = MiniLMTextEncoder(pretrained=False, cache_size=0)  # random weights: another key, another file
    got, want = encode(a, "onnx"), encode(a, "torch")
    assert (got * want).sum(1).min() >= 0.999
    assert len(list((cache / "onnx").glob("*.onnx"))) >= 2


def features(enc, name):
    enc.use_runtime(name)
    enc.clear_cache()
    return enc.encode_features(TEXTS)


@pytest.mark.parametrize("which", ["minilm", "clip"])
@pytest.mark.slow
def test_token_states_and_their_pooled_vector_agree_across_runtimes(minilm, cache, which):
    """The states graph has two outputs (states, pooled vector): both equal PyTorch's on ONNX Runtime,
    and the pooled one equals what `encode` gives, on either runtime."""
    if which == "clip":
        pytest.importorskip("open_clip")
        from lightclip_core.models.text_encoders import CLIPTextEncoder

        enc = CLIPTextEncoder(pretrained=False, cache_size=0)
    else:
        enc = minilm
    want, got = features(enc, "torch"), features(enc, "onnx")
    assert torch.equal(want.mask, got.mask)
    rows = lambda f: f.states[f.mask]  # every text's own token rows
    assert torch.nn.functional.cosine_similarity(rows(want), rows(got)).min() >= 0.999
    assert torch.nn.functional.cosine_similarity(want.pooled, got.pooled).min() >= 0.999
    assert not got.states[~got.mask].any()  # padding stays zero
    for name in ("torch", "onnx"):
        torch.testing.assert_close(features(enc, name).pooled, torch.from_numpy(encode(enc, name)), atol=2e-3, rtol=0)


def test_a_graph_with_two_outputs_checks_both(cache):
    class Two(torch.nn.Module):
        def forward(self, x):
            return x * 2, x.sum(-1)

    fn = runtime.OnnxFunction(Two(), [torch.randn(2, 3)], ["x"], {"x": {0: "batch"}}, key="two-outputs",
                              what="a test graph", output_names=("double", "sum"))
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    double, total = fn.run_or_defer(False, x)
    assert np.allclose(double, x * 2) and np.allclose(total, x.sum(-1))
    assert np.allclose(fn(x), x * 2)  # calling it gives the first


@pytest.mark.slow
def test_clip_text_tower_exports_too(cache):
    pytest.importorskip("open_clip")
    from lightclip_core.models.text_encoders import CLIPTextEncoder

    enc = CLIPTextEncoder(pretrained=False, cache_size=0)  # random weights: no download
    assert (encode(enc, "onnx") * encode(enc, "torch")).sum(1).min() >= 0.999


def test_runtime_choice_and_its_errors(monkeypatch):
    monkeypatch.delenv("LIGHTCLIP_RUNTIME", raising=False)
    assert runtime.resolve_runtime() == "onnx"  # onnxruntime is a dependency
    assert runtime.resolve_runtime("torch") == "torch"
    monkeypatch.setenv("LIGHTCLIP_RUNTIME", "torch")
    assert runtime.resolve_runtime() == "torch" and runtime.resolve_runtime("onnx") == "onnx"
    monkeypatch.setenv("LIGHTCLIP_RUNTIME", "tensorrt")
    with pytest.raises(LightCLIPError, match="Unknown runtime 'tensorrt'; valid runtimes are: auto, torch, onnx"):
        runtime.resolve_runtime()
    monkeypatch.delenv("LIGHTCLIP_RUNTIME")
    monkeypatch.setattr(runtime, "onnxruntime_available", lambda: False)
    assert runtime.resolve_runtime("auto") == "torch"
    with pytest.raises(LightCLIPError, match="pip install onnxruntime"):
        runtime.resolve_runtime("onnx")


def test_auto_falls_back_to_pytorch_in_one_sentence_but_an_explicit_onnx_fails(minilm, monkeypatch, capsys):
    def broken(self):
        raise LightCLIPError("ONNX Runtime cannot load x.onnx (InvalidProtobuf); use --runtime torch.")

    monkeypatch.setattr(runtime.OnnxFunction, "session", broken)
    monkeypatch.setattr(runtime.OnnxFunction, "ready", lambda self: True)  # a graph on disk, whatever ran before
    fresh = MiniLMTextEncoder(pretrained=True, cache_size=0)
    fresh.use_runtime("onnx")
    with pytest.raises(LightCLIPError, match="cannot load"):
        fresh.encode(["a man"])
    fresh.use_runtime("auto")
    out = fresh.encode(["a man"])
    assert out.shape == (1, 384) and fresh.runtime == "torch"
    assert "Encoding text with PyTorch instead." in capsys.readouterr().err


def test_search_engine_ranks_the_same_on_both_runtimes(tmp_path, cache):
    from lightclip_core import create_model
    from lightclip_core.search import SearchEngine
    from lightclip_core.gallery import Gallery

    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        from PIL import Image

        p = tmp_path / f"{i:02d}.png"
        Image.fromarray(rng.integers(0, 255, (64, 32, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    torch.manual_seed(0)
    model = create_model("mobilenetv3_small_100", image_size=(64, 32)).eval()
    gallery = Gallery(paths, list(range(12)))
    a = SearchEngine.from_model(model, gallery, runtime="torch")
    res_t = a.search(TEXTS[0], 12)
    model.text_encoder.clear_cache()
    b = SearchEngine(model, gallery, a.embeddings, runtime="onnx")
    assert b.runtime == "onnx"
    res_o = b.search(TEXTS[0], 12)
    np.testing.assert_allclose([h.score for h in res_o.hits], [h.score for h in res_t.hits], atol=1e-3)


@pytest.mark.slow
def test_export_onnx_command_and_a_damaged_image_graph(tmp_path, cache, capsys):
    import json

    from lightclip_core import create_model, load_checkpoint
    from lightclip_core.checkpoints import save_checkpoint
    from lightclip_core.cli import main

    torch.manual_seed(0)
    ckpt = save_checkpoint(create_model("mobilenetv3_small_100", image_size=(64, 32)), tmp_path / "ck")
    assert main(["export", "--format", "onnx", "--checkpoint", str(ckpt), "--out", str(tmp_path / "out")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["onnx"].endswith("image.onnx") and info["parity_cosine_min"] >= 0.999 and info["inputs"] == ["images"]
    assert (tmp_path / "out" / "image.json").is_file()
    assert main(["export", "--format", "onnx", "--out", str(tmp_path / "o2")]) == 2
    assert "needs --checkpoint DIR" in capsys.readouterr().err

    # The cached image graph: damaged on disk -> rebuilt, and the answers stay PyTorch's.
    model = load_checkpoint(ckpt).eval()
    x = torch.rand(3, 3, 64, 32)
    with torch.no_grad():
        model.use_runtime("torch")
        want = model.encode_image(x)
        model.use_runtime("onnx")
        model.encode_image(x)
        path = model.image_onnx().path
        path.write_bytes(b"\0" * 100)
        again = load_checkpoint(ckpt).eval()
        again.use_runtime("onnx")
        got = again.encode_image(x)
    assert (want * got).sum(1).min() >= 0.999 and path.stat().st_size > 100_000
    model.train()  # training always runs in PyTorch, gradients included
    out = model.encode_image(x)
    assert out.requires_grad


def test_auto_builds_the_image_graph_in_the_background_and_encodes_meanwhile(tmp_path, cache, monkeypatch):
    import time

    from lightclip_core import create_model

    monkeypatch.delenv("LIGHTCLIP_RUNTIME", raising=False)
    torch.manual_seed(1)
    model = create_model("mobilenetv2_100", image_size=(64, 32)).eval()
    assert model.use_runtime("auto") == "onnx"
    x = torch.rand(2, 3, 64, 32)
    fn = model.image_onnx()
    assert not fn.ready()
    with torch.no_grad():
        first = model.encode_image(x)  # PyTorch now; the export runs in a thread
        deadline = time.time() + 120
        while not fn.ready() and time.time() < deadline:
            time.sleep(0.2)
        assert fn.ready()
        calls = []
        real = runtime.OnnxFunction.__call__
        monkeypatch.setattr(runtime.OnnxFunction, "__call__", lambda self, *a: calls.append(1) or real(self, *a))
        second = model.encode_image(x)
    assert calls == [1]  # the graph is used once it is ready
    assert (first * second).sum(1).min() >= 0.999


@pytest.mark.slow
def test_band_pooled_coatnet_exports_where_adaptive_pooling_would_not(cache):
    """4-band pooling at the students' 128x96: CoAtNet-0's feature map comes out of a reshape whose size
    the ONNX exporter cannot see, and it refused adaptive pooling there. (InceptionV3's 2-row map is the
    other case band_pool covers; from random weights its feature map reaches ~4e9 in eval mode, too large
    for a parity check, so tests/test_bundled.py checks it on the bundled weights.)"""
    from lightclip_core import create_model

    torch.manual_seed(0)
    model = create_model("coatnet_0_rw_224", image_size=(128, 96), stripes=4).eval()
    x = torch.rand(2, 3, 128, 96)
    with torch.no_grad():
        model.use_runtime("torch")
        want = model.encode_image(x)
        model.use_runtime("onnx")
        got = model.encode_image(x)
    assert model.image_onnx().path.is_file()
    assert (want * got).sum(1).min() >= 0.999
