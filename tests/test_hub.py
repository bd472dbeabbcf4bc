"""Hugging Face Hub ids as models (emodraw.hub): predict, evaluate, export, serve and compare take one, with
--revision; offline they find it in the local Hugging Face cache or say in one line what to do; what they write
records the commit. The cache is built here with the real layout (blobs/, snapshots/<commit>/ of symlinks,
refs/), and read through huggingface_hub's own snapshot_download."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.cli import run_cli
from helpers.refusals import one_line_refusal

from emodraw.cli import main
from emodraw.hub import is_hub_id, snapshot_of

REPO = "emodraw-tests/tiny-emotion"
LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
MAIN = hashlib.sha1(b"main").hexdigest()  # what refs/main points at
OLD = hashlib.sha1(b"v1").hexdigest()  # an older commit, also tagged v1


def classifier_folder(backbone: Path, dest: Path, seed: int) -> Path:
    """A plain transformers sequence classifier (no emodraw.json), as a Hub model ships: its head from `seed`."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from emodraw.modeling.backbones import quiet_transformers

    quiet_transformers()
    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(
        backbone, id2label=dict(enumerate(LABELS)), label2id={name: i for i, name in enumerate(LABELS)}
    )
    model.save_pretrained(dest)
    AutoTokenizer.from_pretrained(backbone).save_pretrained(dest)
    return dest


def put_in_cache(cache: Path, repo_id: str, commit: str, folder: Path, refs: tuple[str, ...]) -> Path:
    """`folder`'s files as the commit `commit` of `repo_id` in a Hugging Face cache: each file a blob, the snapshot
    folder of relative symlinks into blobs/, and each of `refs` naming the commit."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for file in sorted(folder.iterdir()):
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, tiny_bert) -> Path:
    root = tmp_path_factory.mktemp("hf")
    cache = root / "hub"
    put_in_cache(cache, REPO, MAIN, classifier_folder(tiny_bert, root / "main", seed=1), ("main",))
    put_in_cache(cache, REPO, OLD, classifier_folder(tiny_bert, root / "old", seed=2), ("v1",))
    return cache


@pytest.fixture
def offline(hub_cache, monkeypatch) -> Path:
    """The built cache as the Hugging Face cache, offline. huggingface_hub reads its environment once, at import:
    its constants are set too (the subprocess test below reads the environment alone)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hub_cache


def cli(*args) -> tuple[str, str]:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def evaluated(small_data, *args) -> dict:
    out, _ = cli("evaluate", *args, "--data", small_data / "test.txt", "--json")
    return json.loads(out)


# -- what a Hub id is -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["bert-base-uncased", "bhadresh-savani/distilbert-base-uncased-emotion", "a/b.c_d"])
def test_hub_id_shapes(name):
    assert is_hub_id(name)


@pytest.mark.parametrize("name", ["./model", "/abs/model", "a/b/c", "a--b/c", "a/b..c", ".hidden", "x.git", "", "a b"])
def test_not_hub_ids(name):
    assert not is_hub_id(name)


def test_an_existing_folder_is_never_a_hub_id(tmp_path, monkeypatch):
    (tmp_path / "owner" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not is_hub_id("owner/name") and is_hub_id("owner/other")


def test_a_snapshot_folder_names_its_repository_and_commit(tmp_path):
    snapshot = snapshot_of(tmp_path / "models--owner--name" / "snapshots" / MAIN)
    assert (snapshot.repo_id, snapshot.commit, snapshot.name) == ("owner/name", MAIN, f"owner/name@{MAIN[:7]}")
    assert snapshot_of(tmp_path / "models--bert-base" / "snapshots" / OLD).repo_id == "bert-base"
    assert snapshot_of(tmp_path / "models--owner--name" / "snapshots" / "main") is None
    assert snapshot_of(tmp_path / "checkpoints" / MAIN) is None


# -- predict, evaluate -------------------------------------------------------------------------------------------
def test_predict_with_a_hub_id_prints_a_label(offline):
    out, err = cli("predict", REPO, "i feel wonderful today")
    assert out.split("\t")[0] in LABELS
    # the note on the plain transformers model names the id and the commit, not the cache's path
    assert err.strip().startswith(f"{REPO}@{MAIN[:7]}: not an emodraw checkpoint")


def test_revision_picks_the_commit_and_evaluate_records_it(offline, small_data):
    default = evaluated(small_data, REPO)
    assert (default["checkpoint"], default["revision"]) == (REPO, MAIN)
    assert evaluated(small_data, REPO, "--revision", "main")["revision"] == MAIN
    old = evaluated(small_data, REPO, "--revision", OLD)
    assert old["revision"] == OLD and evaluated(small_data, REPO, "--revision", "v1")["revision"] == OLD
    # another commit is other weights: not a relabelled copy of main
    assert old["avg_loss"] != default["avg_loss"]


def test_a_local_checkpoint_records_no_revision(tiny_run, small_data):
    assert "revision" not in evaluated(small_data, tiny_run.run_dir)


def test_an_unknown_id_offline_is_one_line_saying_what_to_do(offline):
    err = one_line_refusal("predict", "emodraw-tests/no-such-model", "hello")
    assert "not in the local Hugging Face cache" in err and "`hf download emodraw-tests/no-such-model`" in err


@pytest.mark.parametrize("revision", ["v2", "0" * 40])
def test_an_unknown_revision_offline_is_one_line(offline, revision, small_data):
    err = one_line_refusal("evaluate", REPO, "--revision", revision, "--data", small_data / "test.txt")
    assert f"revision {revision} is not in the local Hugging Face cache" in err
    assert f"`hf download {REPO} --revision {revision}`" in err


def test_a_local_folder_with_revision_is_refused(tiny_run):
    folder = tiny_run.checkpoints["best"]
    err = one_line_refusal("predict", folder, "--revision", "main", "hello")
    assert err.endswith(f"--revision is for Hub ids; {folder} is a local folder")


def test_an_unreachable_hub_falls_back_to_the_cache(offline, monkeypatch):
    """Not offline by setting, but nothing answers at the Hub's address: the cached snapshot loads."""
    import socket

    from huggingface_hub import constants

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    out, _ = cli("predict", REPO, "i feel wonderful today")
    assert out.split("\t")[0] in LABELS
    err = one_line_refusal("predict", "emodraw-tests/no-such-model", "hello")
    assert "the Hugging Face Hub cannot be reached" in err


def test_predict_from_the_environment_alone(hub_cache, tmp_path):
    """The most faithful run: a fresh process, the cache and offline mode given by the environment only."""
    env = {**os.environ, "HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "emodraw.cli", "predict", REPO, "--revision", "v1", "--json", "i am so happy"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] in LABELS
    assert result.stderr.startswith(f"{REPO}@{OLD[:7]}: ")


# -- export, serve, compare, train ---------------------------------------------------------------------------------
def test_export_from_a_hub_id_records_the_source_and_commit(offline, tmp_path, small_data):
    out = tmp_path / "export"
    cli("export", REPO, "--revision", "v1", "--output", out, "--data", small_data / "val.txt")
    meta = json.loads((out / "emodraw_export.json").read_text())
    assert (meta["source"], meta["source_revision"]) == (REPO, OLD)
    printed, _ = cli("predict", out, "i feel wonderful today")
    assert printed.split("\t")[0] in LABELS


def test_serve_loads_a_hub_id_at_its_revision_and_names_it_by_the_commit(offline, monkeypatch):
    import emodraw.serve.runner as runner

    served = []
    monkeypatch.setattr(runner, "run_until_stopped", lambda server: served.append(server.config.app))
    _, err = cli("serve", REPO, "--revision", "v1", "--port", "0")
    assert served, "the server was not built"
    assert f"emodraw serving {REPO}@{OLD[:7]} on http://" in err


def test_the_served_name_of_a_snapshot_is_the_id_and_short_commit(offline):
    from emodraw.inference.classifier import Classifier
    from emodraw.serve.identity import model_name

    assert model_name(Classifier.load(REPO, revision="v1")) == f"{REPO}@{OLD[:7]}"
    assert model_name(SimpleNamespace(path=offline / "models--a--b" / "snapshots" / MAIN)) == f"a/b@{MAIN[:7]}"


def test_compare_gives_the_revision_to_hub_ids_only(monkeypatch, tmp_path, tiny_bert):
    import emodraw.training.trainer as trainer
    from emodraw.errors import EmodrawError

    calls = []

    def fake_train(**options):
        calls.append(options)
        raise EmodrawError("stop here")

    monkeypatch.setattr(trainer, "train", fake_train)
    for model in (REPO, str(tiny_bert)):
        assert main(["compare", "--models", model, "--revision", "v1", "--output-dir", str(tmp_path / "c")]) == 2
    assert [c["model"] for c in calls] == [REPO, str(tiny_bert)]
    assert calls[0]["revision"] == "v1" and "revision" not in calls[1]


def test_train_loads_the_backbone_at_its_revision(offline):
    """train --model HUB_ID --revision REV: the backbone (here with its classifier head) is REV's."""
    import torch

    from emodraw.errors import BackboneError
    from emodraw.modeling.backbones import load_classifier, load_tokenizer, resolve_backbone

    def head(name, revision=None):
        backbone = resolve_backbone(name, revision)
        assert len(load_tokenizer(backbone)) > 100
        return load_classifier(backbone, LABELS).classifier.weight

    snapshots = offline / f"models--{REPO.replace('/', '--')}" / "snapshots"
    assert torch.equal(head(REPO, "v1"), head(str(snapshots / OLD)))
    assert torch.equal(head(REPO, "main"), head(str(snapshots / MAIN)))
    assert not torch.equal(head(REPO, "v1"), head(REPO))
    with pytest.raises(BackboneError, match="not in the local Hugging Face cache"):
        load_classifier(resolve_backbone(REPO, "v2"), LABELS)
    with pytest.raises(BackboneError, match="--revision is for Hub ids"):
        resolve_backbone(str(snapshots / OLD), "main")


def test_train_takes_the_revision_to_the_backbone(offline, tmp_path, small_data, tiny_bert):
    """Through the trainer: a revision the cache lacks is refused (main, which it has, would have trained)."""
    args = ["train", "--data-dir", small_data, "--epochs", "1"]
    err = one_line_refusal(*args, "--output-dir", tmp_path / "a", "--model", REPO, "--revision", "v2")
    assert "not in the local Hugging Face cache" in err and f"download {REPO} --revision v2" in err
    err = one_line_refusal(*args, "--output-dir", tmp_path / "b", "--model", tiny_bert, "--revision", "main")
    assert err.endswith(f"--revision is for Hub ids; {tiny_bert} is a local folder")
