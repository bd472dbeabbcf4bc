"""The model's name as clients see it (emodraw.serve.identity.model_name): folder names, never a path of the
server's disk."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from emodraw.serve.identity import model_name


def named(path) -> str:
    return model_name(SimpleNamespace(path=path))


def make_run(root: Path, run: str = "default_tiny-albert") -> Path:
    """A run folder's shape as emodraw.training writes it: run.json beside checkpoints/."""
    checkpoint = root / run / "checkpoints" / "epoch2_best_checkpoint"
    checkpoint.mkdir(parents=True)
    (root / run / "run.json").write_text("{}")
    return checkpoint


def test_a_checkpoint_of_a_run_is_named_by_the_run_and_the_checkpoint(tmp_path):
    checkpoint = make_run(tmp_path / "home" / "alice" / "runs")
    assert named(checkpoint) == "default_tiny-albert/epoch2_best_checkpoint"
    assert named(str(checkpoint)) == "default_tiny-albert/epoch2_best_checkpoint"


@pytest.mark.parametrize("kind", ["export", "checkpoint", "pth"])
def test_other_folders_are_named_by_their_own_name(tmp_path, kind):
    path = tmp_path / "home" / "alice" / {"export": "onnx-int8", "checkpoint": "my-model", "pth": "model.pth"}[kind]
    path.parent.mkdir(parents=True)
    if kind == "pth":
        path.write_bytes(b"")
    else:
        path.mkdir()
    assert named(path) == path.name


def test_a_folder_called_checkpoints_outside_a_run_does_not_give_away_its_parent(tmp_path):
    """~/checkpoints/my-model is no run: "alice/my-model" would tell the server's user name."""
    path = tmp_path / "alice" / "checkpoints" / "my-model"
    path.mkdir(parents=True)
    assert named(path) == "my-model"


def test_relative_paths_get_their_real_folder_name(tmp_path, monkeypatch):
    checkpoint = make_run(tmp_path)
    monkeypatch.chdir(checkpoint)
    assert named(Path(".")) == "default_tiny-albert/epoch2_best_checkpoint"
    monkeypatch.chdir(checkpoint / "..")
    assert named("./epoch2_best_checkpoint/") == "default_tiny-albert/epoch2_best_checkpoint"
    assert named(Path("..")) == "default_tiny-albert"


def test_no_path_and_the_root_are_a_generic_name():
    assert named(None) == "model" and model_name(object()) == "model"
    assert named(Path("/")) == "model"


def test_the_name_never_holds_an_absolute_path(tmp_path):
    for path in (make_run(tmp_path / "deep" / "er"), tmp_path / "plain"):
        path.mkdir(exist_ok=True)
        name = named(path)
        assert not Path(name).is_absolute() and str(tmp_path) not in name and name.count("/") <= 1


def test_a_loaded_run_is_named_by_its_folders(tiny_run):
    """What `emodraw serve RUN_DIR` loads: the run folder's best checkpoint."""
    from emodraw import Classifier

    classifier = Classifier.load(tiny_run.run_dir)
    assert model_name(classifier) == f"{Path(tiny_run.run_dir).name}/{Path(classifier.path).name}"
    assert Path(classifier.path).name.endswith("_best_checkpoint")
