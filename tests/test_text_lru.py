"""TextLRU (the text encoders' cache) and TextRuntime (their runtime choice), on their own."""

import pytest

from lightclip_core.errors import LightCLIPError
from lightclip_core.models.text_lru import TextLRU
from lightclip_core.models.text_runtime import TextRuntime


def test_lru_computes_only_the_missing_texts_shortest_first_and_evicts_the_oldest():
    calls = []

    def compute(chunk):
        calls.append(list(chunk))
        return [t.upper() for t in chunk]

    lru = TextLRU(size=3)
    assert lru.get_many(["ccc", "a", "bb", "a"], compute, batch_size=2) == ["CCC", "A", "BB", "A"]
    assert calls == [["a", "bb"], ["ccc"]]  # each missing text once, in batches of similar length
    assert (lru.hits, lru.misses) == (1, 3)
    assert lru.get_many(["a"], compute, batch_size=2) == ["A"] and len(calls) == 2  # a hit: no compute
    lru.get_many(["dddd"], compute, batch_size=2)  # a fourth entry evicts the least recently used ("ccc")
    assert "ccc" not in lru and lru.keys() == ["bb", "a", "dddd"] and len(lru) == 3
    lru.clear()
    assert len(lru) == 0


def test_lru_of_size_zero_still_answers():
    lru = TextLRU(size=0)
    assert lru.get_many(["x", "y"], lambda chunk: [len(t) for t in chunk], batch_size=8) == [1, 1]
    assert len(lru) == 0


def test_runtime_switch_restores_the_choice_after_an_error():
    rt = TextRuntime()
    assert rt.use("torch") == "torch" and not rt.auto
    with pytest.raises(RuntimeError), rt.switched("torch"):
        rt.name = "onnx"
        raise RuntimeError("boom")
    assert (rt.name, rt.auto) == ("torch", False)
    assert rt.run(lambda: None, (), on_cpu=True) is None  # the torch runtime: PyTorch answers
    built = []
    assert rt.function("pooled", lambda: built.append(1) or "fn") == rt.function("pooled", lambda: "other") == "fn"
    assert built == [1]


def test_runtime_auto_falls_back_to_torch_once_when_the_graph_fails(capsys):
    class Broken:
        def run_or_defer(self, auto, *inputs):
            raise LightCLIPError("The text graph could not be exported.")

    rt = TextRuntime()
    rt.name, rt.auto = "onnx", True
    assert rt.run(lambda: Broken(), (), on_cpu=True) is None and rt.name == "torch"
    rt.name, rt.auto = "onnx", False
    with pytest.raises(LightCLIPError):  # chosen explicitly: the error stands
        rt.run(lambda: Broken(), (), on_cpu=True)
