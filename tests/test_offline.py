"""With the Hub unreachable, anything that needs a download fails fast, in one sentence; cached
weights still load. Each case runs in a fresh interpreter because huggingface_hub reads its
endpoint and offline flag at import."""

from __future__ import annotations

import json
import socket
import time

import pytest
import torch

from conftest import run_python
from lightclip_core import hub

ATTEMPT = """
import json, time
from lightclip_core import OfflineError
from lightclip_core.models import create_text_encoder, create_backbone
t0 = time.perf_counter()
try:
    {call}
    result = {{"error": None}}
except OfflineError as exc:
    result = {{"error": str(exc)}}
result["seconds"] = time.perf_counter() - t0
print(json.dumps(result))
"""


def attempt(call: str, env: dict[str, str]) -> dict:
    proc = run_python(ATTEMPT.format(call=call), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_one_sentence(msg: str) -> None:
    assert msg and "\n" not in msg and msg.endswith(".")
    assert len(msg) < 500
    assert ". " not in msg.replace("e.g. ", ""), msg  # one sentence


@pytest.mark.parametrize("call, alternative", [
    ("create_text_encoder('clip-vit-b-32')", ["minilm-l6"]),
    ("create_backbone('mobilenetv3_small_100', pretrained=True)", ["pretrained=False", "mobilenetv3_small_100"]),
], ids=["clip-text-encoder", "pretrained-backbone"])
@pytest.mark.parametrize("offline_flag", ["0", "1"])
@pytest.mark.slow
def test_hub_weights_fail_fast_in_one_sentence_naming_the_offline_choice(offline_env, offline_flag, call, alternative):
    env = {**offline_env, "HF_HUB_OFFLINE": offline_flag}
    result = attempt(call, env)
    assert result["error"], "expected an OfflineError"
    assert_one_sentence(result["error"])
    assert all(word in result["error"] for word in alternative), result["error"]
    assert result["seconds"] < 10


@pytest.mark.slow
def test_cached_weights_load_offline(offline_env, tmp_path):
    """A user who downloaded the weights once keeps using them offline (Hub cache layout)."""
    from safetensors.torch import save_file

    from lightclip_core.models.backbones import create_backbone

    trunk = create_backbone("mobilenetv3_small_100")  # random weights stand in for ImageNet ones
    state = {k: v.contiguous() for k, v in trunk.trunk.state_dict().items()}
    repo_dir = tmp_path / "hf_home" / "hub" / "models--timm--mobilenetv3_small_100.lamb_in1k"
    commit = "0" * 40
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / "model.safetensors"))
    probe_key = "conv_stem.weight"
    torch.save(state[probe_key], tmp_path / "expected.pt")

    code = f"""
import torch
from lightclip_core.models.backbones import create_backbone
trunk = create_backbone('mobilenetv3_small_100', pretrained=True)
expected = torch.load({str(tmp_path / 'expected.pt')!r})
assert torch.equal(trunk.trunk.state_dict()[{probe_key!r}], expected)
print('loaded')
"""
    proc = run_python(code, env=offline_env)
    assert proc.returncode == 0, proc.stderr
    assert "loaded" in proc.stdout


def test_probe_gives_up_on_a_silent_network(monkeypatch):
    """A firewall that drops packets (or a DNS lookup that hangs) costs the probe's timeout only."""

    def hang(*args, **kwargs):
        time.sleep(30)
        raise OSError("too late")  # the probe's thread outlives the test; let it end quietly

    monkeypatch.setattr(socket, "create_connection", hang)
    monkeypatch.setattr(hub, "_probe_cache", {})
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    t0 = time.perf_counter()
    reason = hub.hub_unreachable_reason(timeout_s=0.5)
    assert time.perf_counter() - t0 < 3
    assert reason and "no answer within 0.5 s" in reason
