"""ONNX export folders that are edited or malformed, and faults while exporting: one line each (the CLI exits 2,
no traceback; the API raises an EmodrawError), never an export that loads into wrong predictions or a
half-written folder that looks complete. Cases of the issue "Hostile input and faults": #6, #10, #12, #13, #15."""

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from helpers.refusals import edit_json, one_line_refusal

from emodraw import Classifier
from emodraw.checkpoints import write_manifest
from emodraw.cli import main
from emodraw.errors import CheckpointError, EmodrawError

LONG_TEXT = "i feel wonderful today " * 200


@pytest.fixture(scope="module")
def long_checkpoint(tiny_run, tmp_path_factory) -> Path:
    """The tiny run's best checkpoint as `train --max-length 100000` would have written it."""
    folder = Path(shutil.copytree(tiny_run.checkpoints["best"], tmp_path_factory.mktemp("long") / "ckpt"))
    edit_json(folder / "emodraw.json", lambda m: {**m, "config": {**m["config"], "max_length": 100000}})
    write_manifest(folder)
    return folder


@pytest.fixture(scope="module")
def exported(long_checkpoint, tmp_path_factory) -> tuple[Path, dict]:
    from emodraw.export import export

    out = tmp_path_factory.mktemp("export") / "onnx"
    return out, export(long_checkpoint, out, log=lambda m: None)


@pytest.fixture
def export_copy(exported, tmp_path) -> Path:
    return Path(shutil.copytree(exported[0], tmp_path / "onnx"))


# -- #10 --------------------------------------------------------------------------------------------------
def test_export_writes_the_clamped_max_length(exported):
    out, report = exported
    assert report["max_length"] == 128
    assert json.loads((out / "emodraw_export.json").read_text())["max_length"] == 128
    assert Classifier.load(out).details([LONG_TEXT])[0]["truncated"] is True


def test_an_export_whose_max_length_exceeds_its_position_table_is_clamped(export_copy, capsys):
    edit_json(export_copy / "emodraw_export.json", lambda m: {**m, "max_length": 100000})
    write_manifest(export_copy)
    capsys.readouterr()
    clf = Classifier.load(export_copy)
    note = capsys.readouterr().err.strip().splitlines()
    assert clf.max_length == 128 and len(note) == 1 and "100000" in note[0]
    assert clf.details([LONG_TEXT])[0]["truncated"] is True  # the ONNX model's Expand no longer fails
    assert main(["predict", str(export_copy), LONG_TEXT]) == 0


# -- #6, #13 ----------------------------------------------------------------------------------------------
def _swap_labels(meta):
    labels = list(meta["labels"])
    labels[0], labels[1] = labels[1], labels[0]
    return {**meta, "labels": labels}


def _three_labels_everywhere(folder: Path) -> None:
    edit_json(folder / "emodraw_export.json", lambda m: {**m, "labels": m["labels"][:3]})
    edit_json(
        folder / "config.json",
        lambda c: {
            **{k: v for k, v in c.items() if k != "label2id"},
            "id2label": {k: v for k, v in c["id2label"].items() if int(k) < 3},
        },
    )


BROKEN = {
    # what is changed, whether the manifest is then recomputed, what the one line says
    "manifest-deleted": (lambda f: (f / "manifest.json").unlink(), False, "manifest.json"),
    "labels-edited": (lambda f: edit_json(f / "emodraw_export.json", _swap_labels), False, "altered"),
    "labels-edited-and-resealed": (lambda f: edit_json(f / "emodraw_export.json", _swap_labels), True, "label"),
    "labels-missing": (
        lambda f: edit_json(f / "emodraw_export.json", lambda m: {k: v for k, v in m.items() if k != "labels"}),
        True,
        "labels",
    ),
    "three-labels-in-the-meta": (
        lambda f: edit_json(f / "emodraw_export.json", lambda m: {**m, "labels": m["labels"][:3]}),
        True,
        "label",
    ),
    "three-labels-for-a-six-way-model": (_three_labels_everywhere, True, "6"),
    "meta-a-list": (lambda f: edit_json(f / "emodraw_export.json", lambda m: [m]), True, "emodraw_export.json"),
    "max-length-abc": (
        lambda f: edit_json(f / "emodraw_export.json", lambda m: {**m, "max_length": "abc"}),
        True,
        "max_length",
    ),
    "default-outside-the-folder": (
        lambda f: edit_json(f / "emodraw_export.json", lambda m: {**m, "default": "../model.onnx"}),
        True,
        "default",
    ),
    "tokenizer-removed": (
        lambda f: [(f / n).unlink() for n in ("tokenizer.json", "tokenizer_config.json")],
        True,
        "tokenizer",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_an_edited_or_malformed_export_is_refused_in_one_line(export_copy, case):
    change, resealed, needle = BROKEN[case]
    change(export_copy)
    if resealed:
        write_manifest(export_copy)
    with pytest.raises(CheckpointError, match=needle) as refused:
        Classifier.load(export_copy)
    assert "\n" not in str(refused.value)
    one_line_refusal("predict", export_copy, "i am happy")


# -- #12, #15 ---------------------------------------------------------------------------------------------
def test_export_onto_an_existing_file_is_one_line(tiny_run, tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("precious")
    err = one_line_refusal("export", tiny_run.checkpoints["best"], "--output", target)
    assert str(target) in err and target.read_text() == "precious"


def test_a_full_disk_while_exporting_is_one_line_and_leaves_nothing(tiny_run, tmp_path, monkeypatch):
    import emodraw.export as export_module

    def full_disk(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(export_module, "deduplicate_initializers", full_disk)
    out = tmp_path / "onnx"
    out.mkdir()  # an empty folder given as --output stays as it was
    err = one_line_refusal("export", tiny_run.checkpoints["best"], "--output", out)
    assert str(out) in err and "no space left on device" in err
    assert out.is_dir() and not any(out.iterdir())
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]  # no half-written .tmp- folder left behind
    with pytest.raises(EmodrawError, match="no space left on device"):
        export_module.export(tiny_run.checkpoints["best"], tmp_path / "api", log=lambda m: None)
    assert not (tmp_path / "api").exists()
