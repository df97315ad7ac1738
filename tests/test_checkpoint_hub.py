"""Publishing checkpoints to / fetching them from a Hugging Face model repo.

The Hub cannot be reached here, so `FakeHub` stands in for the four huggingface_hub calls we make
(create_repo, upload_folder, list_repo_files, hf_hub_download) with a folder on disk; everything of
ours around them (validation, layout, atomic install, the app's on-demand fetch, the offline
sentence) runs for real.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import huggingface_hub
import pytest
import torch

from lightclip_core import LightCLIPError, OfflineError, create_model
from lightclip_core import checkpoint_hub
from lightclip_core.checkpoint_hub import pull_checkpoint, push_checkpoints, remote_backbones
from lightclip_core.checkpoints import load_checkpoint, save_checkpoint
from lightclip_core.cli import main as cli_main
from lightclip_core.synthpedes.writer import SynthConfig, generate
from lightclip_core.app.pool import EnginePool
from lightclip_core.app.views import model_choices

BACKBONE = "mobilenetv3_small_100"


class FakeHub:
    """A model repo as a folder: remote/<repo_id>/<path>."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uploads: list[dict] = []

    def repo(self, repo_id: str) -> Path:
        return self.root / repo_id.replace("/", "__")

    def install(self, monkeypatch) -> None:
        hub = self

        class Api:
            def __init__(self, token=None) -> None:
                pass

            def create_repo(self, repo_id, repo_type=None, private=None, exist_ok=False):
                hub.repo(repo_id).mkdir(parents=True, exist_ok=exist_ok)

            def upload_folder(self, *, repo_id, folder_path, path_in_repo, allow_patterns, **kw):
                hub.uploads.append({"repo_id": repo_id, "path_in_repo": path_in_repo, "files": list(allow_patterns)})
                dst = hub.repo(repo_id) / path_in_repo
                dst.mkdir(parents=True, exist_ok=True)
                for name in allow_patterns:
                    shutil.copyfile(Path(folder_path) / name, dst / name)

            def list_repo_files(self, repo_id, repo_type=None, revision=None):
                base = hub.repo(repo_id)
                return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())

        def download(repo_id, filename, *, subfolder=None, revision=None, token=None):
            import httpx2
            from huggingface_hub.errors import RemoteEntryNotFoundError

            path = hub.repo(repo_id) / (subfolder or "") / filename
            if not path.is_file():
                raise RemoteEntryNotFoundError(
                    "404 Client Error. Entry Not Found",
                    response=httpx2.Response(404, request=httpx2.Request("GET", "https://huggingface.co/x")))
            return str(path)

        monkeypatch.setattr(huggingface_hub, "HfApi", Api)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
        monkeypatch.setattr(checkpoint_hub, "hub_unreachable_reason", lambda *a, **k: None)
        monkeypatch.setattr(checkpoint_hub, "cached_hub_file", lambda *a, **k: None)


@pytest.fixture()
def fake_hub(tmp_path, monkeypatch) -> FakeHub:
    hub = FakeHub(tmp_path / "remote")
    hub.install(monkeypatch)
    return hub


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model(BACKBONE, image_size=(64, 32)).eval()
    path = save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / BACKBONE, {"epoch": 1}, dtype="int8")
    (path / "metrics.json").write_text('{"R1": 1.0}\n')
    return path


def offline(monkeypatch) -> None:
    monkeypatch.setattr(checkpoint_hub, "hub_unreachable_reason", lambda *a, **k: "HF_HUB_OFFLINE is set")
    monkeypatch.setattr(checkpoint_hub, "cached_hub_file", lambda *a, **k: None)


def same_weights(a: Path, b: Path) -> bool:
    sa, sb = load_checkpoint(a).trainable_state_dict(), load_checkpoint(b).trainable_state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_push_list_pull_round_trip(fake_hub, checkpoint, tmp_path):
    records = push_checkpoints("me/lightclip", [checkpoint])
    assert records[0]["backbone"] == BACKBONE and records[0]["path_in_repo"] == BACKBONE
    assert set(fake_hub.uploads[0]["files"]) == {"model.safetensors", "config.json", "metrics.json"}
    assert remote_backbones("me/lightclip") == [BACKBONE]

    dest = pull_checkpoint("me/lightclip", BACKBONE, tmp_path / "checkpoints")
    assert dest == tmp_path / "checkpoints" / BACKBONE
    assert same_weights(dest, checkpoint)
    assert (dest / "metrics.json").read_text() == '{"R1": 1.0}\n'
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]  # no temporary left

    with pytest.raises(LightCLIPError, match="already exists; pass --force"):
        pull_checkpoint("me/lightclip", BACKBONE, tmp_path / "checkpoints")
    assert pull_checkpoint("me/lightclip", BACKBONE, tmp_path / "checkpoints", force=True) == dest
    assert same_weights(dest, checkpoint)


def test_a_bad_download_never_replaces_a_working_checkpoint(fake_hub, checkpoint, tmp_path):
    push_checkpoints("me/lightclip", [checkpoint])
    dest = pull_checkpoint("me/lightclip", BACKBONE, tmp_path / "checkpoints")
    remote = fake_hub.repo("me/lightclip") / BACKBONE / "model.safetensors"
    remote.write_bytes(remote.read_bytes()[:1000])  # truncated upload
    with pytest.raises(LightCLIPError, match="not usable.*truncated"):
        pull_checkpoint("me/lightclip", BACKBONE, tmp_path / "checkpoints", force=True)
    assert same_weights(dest, checkpoint)
    assert sorted(p.name for p in dest.parent.iterdir()) == [BACKBONE]

    # a checkpoint of another backbone filed under this backbone's folder
    other = fake_hub.repo("me/lightclip") / "mobilenetv3_large_100"
    shutil.copytree(fake_hub.repo("me/lightclip") / BACKBONE, other)
    shutil.copyfile(checkpoint / "model.safetensors", other / "model.safetensors")
    with pytest.raises(LightCLIPError, match=f"trained with backbone '{BACKBONE}'"):
        pull_checkpoint("me/lightclip", "mobilenetv3_large_100", tmp_path / "checkpoints")
    assert not (tmp_path / "checkpoints" / "mobilenetv3_large_100").exists()

    with pytest.raises(LightCLIPError, match="holds no efficientnet_b0 checkpoint"):
        pull_checkpoint("me/lightclip", "efficientnet_b0", tmp_path / "checkpoints")
    with pytest.raises(LightCLIPError, match="Unknown backbone|unknown backbone"):
        pull_checkpoint("me/lightclip", "resnet9000", tmp_path / "checkpoints")


def test_push_validates_before_uploading(fake_hub, checkpoint, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(LightCLIPError, match="cannot be read"):
        push_checkpoints("me/lightclip", [checkpoint, broken])
    assert fake_hub.uploads == []
    with pytest.raises(LightCLIPError, match="both mobilenetv3_small_100 checkpoints"):
        push_checkpoints("me/lightclip", [checkpoint, checkpoint])
    with pytest.raises(LightCLIPError, match="owner/name"):
        push_checkpoints("lightclip", [checkpoint])


def test_offline_every_entry_point_says_one_sentence(checkpoint, tmp_path, monkeypatch, capsys):
    offline(monkeypatch)
    for call in (lambda: push_checkpoints("me/lightclip", [checkpoint]),
                 lambda: remote_backbones("me/lightclip"),
                 lambda: pull_checkpoint("me/lightclip", BACKBONE, tmp_path / "checkpoints")):
        with pytest.raises(OfflineError) as info:
            call()
        msg = str(info.value)
        assert "cannot be reached (HF_HUB_OFFLINE is set)" in msg and "bundled checkpoints" in msg
        assert "\n" not in msg and msg.count(". ") == 0
    assert not (tmp_path / "checkpoints").exists()

    assert cli_main(["hub", "pull", "--repo", "me/lightclip", "--backbone", BACKBONE, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Downloading the mobilenetv3_small_100 checkpoint") and "Traceback" not in err
    assert cli_main(["hub", "pull", "--repo", "me/lightclip"]) == 2
    assert "--backbone" in capsys.readouterr().err


def test_cli_push_and_pull(fake_hub, checkpoint, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(checkpoint, src / BACKBONE)
    assert cli_main(["hub", "push", "--repo", "me/lc", "--dir", str(src)]) == 0
    assert f"-> me/lc/{BACKBONE}" in capsys.readouterr().out
    assert cli_main(["hub", "list", "--repo", "me/lc"]) == 0
    assert capsys.readouterr().out.split() == [BACKBONE]
    assert cli_main(["hub", "pull", "--repo", "me/lc", "--all", "--dir", str(tmp_path / "out")]) == 0
    assert same_weights(tmp_path / "out" / BACKBONE, checkpoint)
    assert cli_main(["hub", "push", "--repo", "me/lc", "--dir", str(src), "--backbone", "efficientnet_b0"]) == 2
    assert "No checkpoint for efficientnet_b0" in capsys.readouterr().err


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gallery")
    generate(root, SynthConfig(ids=12, images_per_id=2, size=(64, 32), val_ids=2, test_ids=4, seed=5), workers=1)
    return root


def test_app_pool_fetches_a_missing_model_on_first_use(fake_hub, checkpoint, gallery, tmp_path):
    push_checkpoints("me/lightclip", [checkpoint])
    pool = EnginePool(tmp_path / "checkpoints", gallery, cache_dir=tmp_path / "cache", hub_repo="me/lightclip")
    assert pool.available() == []  # nothing fetched at start
    labels = dict((k, label) for label, k in model_choices(pool))
    assert "downloads from me/lightclip on first use" in labels[BACKBONE]
    result = pool.get(BACKBONE).search("a woman in a red coat", k=3)
    assert len(result.hits) == 3
    assert pool.available() == [BACKBONE] and same_weights(tmp_path / "checkpoints" / BACKBONE, checkpoint)

    with pytest.raises(LightCLIPError, match="holds no efficientnet_b0 checkpoint"):
        pool.get("efficientnet_b0")


def test_app_pool_offline_answers_with_the_sentence_and_remembers(gallery, tmp_path, monkeypatch):
    offline(monkeypatch)
    pool = EnginePool(tmp_path / "checkpoints", gallery, cache_dir=tmp_path / "cache", hub_repo="me/lightclip")
    with pytest.raises(OfflineError, match="cannot be reached"):
        pool.get(BACKBONE)
    calls = []
    monkeypatch.setattr(checkpoint_hub, "hub_unreachable_reason", lambda *a, **k: calls.append(1) or "down")
    with pytest.raises(LightCLIPError, match="HF_HUB_OFFLINE is set"):
        pool.get(BACKBONE)  # the remembered answer, no second probe
    assert calls == []
