"""Checkpoint folders that are incomplete, edited, malformed or hostile: each is refused at load with one
line (the CLI exits 2, no traceback; the API raises CheckpointError), never loaded into wrong predictions.
Cases of the issue "Hostile input and faults": #3, #4, #6, #8, #10, #13, #14, #9."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from helpers.cli import run_cli
from helpers.refusals import edit_json, one_line_refusal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from emodraw import Classifier
from emodraw.checkpoints import write_manifest
from emodraw.cli import main
from emodraw.errors import CheckpointError, DataError, EmodrawError

FOREIGN_NOTE = "not an emodraw checkpoint (no emodraw.json): loaded as a plain transformers model, unverified"


@pytest.fixture
def ckpt(tiny_run, tmp_path) -> Path:
    """A fresh copy of the tiny run's best checkpoint, to damage."""
    return Path(shutil.copytree(tiny_run.checkpoints["best"], tmp_path / "ckpt"))


def reseal(folder: Path) -> None:
    """Recompute the manifest, as someone who edits a file and then 'fixes' the checksums would."""
    write_manifest(folder)


def assert_refused(result: subprocess.CompletedProcess, *needles: str) -> None:
    err = result.stderr.strip()
    assert result.returncode == 2, (result.returncode, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


# -- #3 a checkpoint without its tokenizer ------------------------------------------------------------------
@pytest.mark.parametrize("manifest", ["deleted", "recomputed"])
def test_checkpoint_without_its_tokenizer_is_refused(ckpt, manifest):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (ckpt / name).unlink()
    if manifest == "deleted":
        (ckpt / "manifest.json").unlink()
    else:
        reseal(ckpt)
    with pytest.raises(CheckpointError, match="manifest.json" if manifest == "deleted" else "tokenizer"):
        Classifier.load(ckpt)
    assert_refused(run_cli("predict", ckpt, "i feel wonderful today"), str(ckpt))


def test_plain_transformers_folder_without_tokenizer_files_is_refused(ckpt):
    for name in ("tokenizer.json", "tokenizer_config.json", "emodraw.json", "manifest.json"):
        (ckpt / name).unlink()
    with pytest.raises(CheckpointError, match="no tokenizer"):
        Classifier.load(ckpt)


# -- #4 missing or unexpected weights -------------------------------------------------------------------------
@pytest.mark.parametrize("change", ["no-head", "extra-weight"])
def test_weights_that_do_not_fit_the_model_are_refused(ckpt, change):
    weights = load_file(ckpt / "model.safetensors")
    if change == "no-head":
        weights = {k: v for k, v in weights.items() if not k.startswith("classifier.")}
    else:
        weights["encoder.extra.weight"] = torch.zeros(3)
    save_file(weights, ckpt / "model.safetensors", metadata={"format": "pt"})
    reseal(ckpt)
    with pytest.raises(CheckpointError, match="classifier.weight" if change == "no-head" else "encoder.extra.weight"):
        Classifier.load(ckpt)


def test_a_bare_backbone_is_not_a_classifier(tiny_albert):
    err = one_line_refusal("predict", tiny_albert, "i feel wonderful today")
    assert "classifier.weight" in err and "missing" in err


# -- #6 the manifest cannot be side-stepped ------------------------------------------------------------------
def test_deleting_the_manifest_does_not_skip_the_checks(ckpt):
    (ckpt / "manifest.json").unlink()
    assert_refused(run_cli("predict", ckpt, "i feel wonderful today"), "manifest.json")


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "tokenizer.json", "emodraw.json"])
def test_a_manifest_must_list_every_file_the_checkpoint_needs(ckpt, name):
    edit_json(ckpt / "manifest.json", lambda m: {**m, "files": {k: v for k, v in m["files"].items() if k != name}})
    with pytest.raises(CheckpointError, match=f"{name}: not listed in manifest.json"):
        Classifier.load(ckpt)
    one_line_refusal("evaluate", ckpt)


def test_a_file_added_after_saving_is_refused(ckpt):
    (ckpt / "special_tokens_map.json").write_text(json.dumps({"unk_token": "i"}))
    with pytest.raises(CheckpointError, match="special_tokens_map.json: not listed in manifest.json"):
        Classifier.load(ckpt)


def test_config_labels_must_match_the_checkpoints_label_names(ckpt):
    def swap(config):
        config["id2label"]["0"], config["id2label"]["1"] = config["id2label"]["1"], config["id2label"]["0"]
        return config

    edit_json(ckpt / "config.json", swap)
    reseal(ckpt)
    with pytest.raises(CheckpointError, match="label"):
        Classifier.load(ckpt)
    one_line_refusal("predict", ckpt, "i feel wonderful today")


def test_a_plain_transformers_folder_loads_with_one_note(ckpt):
    for name in ("emodraw.json", "manifest.json", "README.md"):
        (ckpt / name).unlink()
    result = run_cli("predict", ckpt, "i feel wonderful today")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"{ckpt}: {FOREIGN_NOTE}"


# -- #8 evaluate's data is the data the checkpoint recorded ---------------------------------------------------
@pytest.fixture
def ckpt_with_own_data(ckpt, tiny_run, tmp_path):
    """The checkpoint copy, its recorded test file a copy of its own (so the test can change or remove it)."""
    meta = json.loads((ckpt / "emodraw.json").read_text())
    test_file = tmp_path / "data" / "test.txt"
    test_file.parent.mkdir()
    shutil.copy(meta["data"]["test"]["path"], test_file)
    edit_json(
        ckpt / "emodraw.json",
        lambda m: {**m, "data": {**m["data"], "test": {**m["data"]["test"], "path": str(test_file)}}},
    )
    reseal(ckpt)
    return ckpt, test_file


def test_evaluate_refuses_a_test_file_changed_since_training(ckpt_with_own_data):
    ckpt, test_file = ckpt_with_own_data
    assert Classifier.load(ckpt).data_file("test") == test_file
    lines = test_file.read_text().splitlines()
    test_file.write_text("\n".join(lines[:-1]) + "\n")
    err = one_line_refusal("evaluate", ckpt, "--split", "test")
    assert str(test_file) in err and "changed since training" in err and "--data" in err
    assert main(["evaluate", str(ckpt), "--data", str(test_file), "--json"]) == 0  # scoring it anyway is explicit


def test_evaluate_refuses_a_recorded_test_file_that_is_gone(ckpt_with_own_data):
    ckpt, test_file = ckpt_with_own_data
    test_file.unlink()
    err = one_line_refusal("evaluate", ckpt, "--split", "test")
    assert str(test_file) in err and "--data" in err


def test_bundled_data_is_used_only_when_it_is_the_recorded_file(ckpt):
    from emodraw.data.splits import bundled_data_dir
    from emodraw.files import file_sha256

    bundled = bundled_data_dir() / "test.txt"
    elsewhere = "/elsewhere/site-packages/emodraw/resources/data/emotion/test.txt"
    record = {"path": elsewhere, "sha256": file_sha256(bundled), "lines": 2000}
    edit_json(ckpt / "emodraw.json", lambda m: {**m, "data": {"test": record}})
    reseal(ckpt)
    assert Classifier.load(ckpt).data_file("test") == bundled
    edit_json(ckpt / "emodraw.json", lambda m: {**m, "data": {"test": {**record, "sha256": "0" * 64}}})
    reseal(ckpt)
    with pytest.raises(DataError, match="--data"):
        Classifier.load(ckpt).data_file("test")


# -- #10 a max_length beyond the model's position table -------------------------------------------------------
def test_max_length_beyond_the_position_table_is_clamped_at_load(ckpt, capsys):
    edit_json(ckpt / "emodraw.json", lambda m: {**m, "config": {**m["config"], "max_length": 100000}})
    reseal(ckpt)
    capsys.readouterr()
    clf = Classifier.load(ckpt)
    notes = capsys.readouterr().err.strip().splitlines()
    assert clf.max_length == 128  # the tiny ALBERT's max_position_embeddings
    assert len(notes) == 1 and "100000" in notes[0] and "128" in notes[0]
    long_text = "i feel wonderful today " * 200
    assert clf.details([long_text])[0]["truncated"] is True
    assert main(["predict", str(ckpt), long_text]) == 0


def test_max_positions_allows_for_the_roberta_position_offset():
    from transformers import AlbertConfig, RobertaConfig

    from emodraw.checkpoint_integrity import max_positions

    assert max_positions(AlbertConfig(max_position_embeddings=128)) == 128
    assert max_positions(RobertaConfig(max_position_embeddings=514, pad_token_id=1)) == 512
    assert max_positions({"model_type": "bert", "max_position_embeddings": 512}) == 512
    assert max_positions({"model_type": "bert"}) is None


# -- #13 malformed JSON inside a checkpoint -------------------------------------------------------------------
def _gap(config):
    config["id2label"] = {("6" if k == "5" else k): v for k, v in config["id2label"].items()}
    return config


MALFORMED = {
    "manifest-files-a-list": ("manifest.json", lambda m: {**m, "files": list(m["files"])}, False),
    "manifest-a-list": ("manifest.json", lambda m: [m], False),
    "manifest-entry-not-an-object": (
        "manifest.json",
        lambda m: {**m, "files": {**m["files"], "config.json": "sha"}},
        False,
    ),
    "manifest-entry-outside-the-folder": (
        "manifest.json",
        lambda m: {**m, "files": {**m["files"], "../elsewhere.json": m["files"]["config.json"]}},
        False,
    ),
    "emodraw-json-a-list": ("emodraw.json", lambda m: [m], True),
    "max-length-abc": ("emodraw.json", lambda m: {**m, "config": {**m["config"], "max_length": "abc"}}, True),
    "max-length-negative": ("emodraw.json", lambda m: {**m, "config": {**m["config"], "max_length": -5}}, True),
    "config-a-list": ("emodraw.json", lambda m: {**m, "config": [1]}, True),
    "label-names-a-string": ("emodraw.json", lambda m: {**m, "label_names": "joy"}, True),
    "data-record-a-string": ("emodraw.json", lambda m: {**m, "data": {"test": "test.txt"}}, True),
    "id2label-with-a-gap": ("config.json", _gap, True),
    "id2label-a-list": ("config.json", lambda c: {**c, "id2label": list(c["id2label"].values())}, True),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_json_in_a_checkpoint_is_one_line(ckpt, case, tmp_path):
    name, change, resealed = MALFORMED[case]
    edit_json(ckpt / name, change)
    if resealed:
        reseal(ckpt)
    with pytest.raises(CheckpointError) as refused:
        Classifier.load(ckpt)
    assert "\n" not in str(refused.value) and str(ckpt) in str(refused.value)
    for command in (["predict", ckpt, "i am happy"], ["evaluate", ckpt], ["export", ckpt, "--output", tmp_path / "x"]):
        one_line_refusal(*command)


# -- #14 pickled weights --------------------------------------------------------------------------------------
def test_a_folder_with_pickled_weights_is_refused_naming_the_file(ckpt):
    torch.save(load_file(ckpt / "model.safetensors"), ckpt / "pytorch_model.bin")
    (ckpt / "model.safetensors").unlink()
    reseal(ckpt)
    assert_refused(run_cli("predict", ckpt, "i am happy"), "pytorch_model.bin", "never unpickles", "safetensors")


def test_a_pickle_that_is_not_a_torch_file_is_refused_in_one_line(ckpt, tmp_path):
    import os
    import pickle

    canary = tmp_path / "canary"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    with open(ckpt / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"w": Evil()}, handle)  # a raw pickle, not torch.save's zip
    assert_refused(run_cli("predict", ckpt / "pytorch_model.bin", "i am happy"), "pytorch_model.bin", "refused")
    assert not canary.exists()


# -- #9 texts that cannot be tokenised ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def classifier(tiny_run):
    return Classifier.load(tiny_run.checkpoints["best"], device="cpu", precision="fp32")


def test_a_lone_surrogate_is_a_data_error_naming_the_text(classifier):
    with pytest.raises(EmodrawError, match=r"texts\[0\].*surrogate U\+D800"):
        classifier.predict("\ud800")
    with pytest.raises(EmodrawError, match=r"texts\[1\].*surrogate"):
        classifier.logits(["i am happy", "a\udfffb"])
    with pytest.raises(EmodrawError, match=r"texts\[0\].*not a string"):
        classifier.predict([None])


any_char = st.one_of(st.characters(codec=None, exclude_categories=()), st.integers(0xD800, 0xDFFF).map(chr))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(alphabet=any_char, max_size=30), min_size=1, max_size=4))
def test_any_unicode_gives_labels_or_an_emodraw_error(classifier, texts):
    try:
        labels = classifier.predict(texts)
    except EmodrawError as exc:
        assert "\n" not in str(exc)
        return
    assert len(labels) == len(texts) and set(labels) <= set(classifier.labels)
