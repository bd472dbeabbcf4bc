"""--keep-every-epoch and checkpoint averaging (`emodraw average`, emodraw.average)."""

import json

import pytest
import torch
from helpers.cli import run_cli
from helpers.tiny_data import TINY_OPTIONS
from safetensors.torch import load_file

from emodraw.average import average_checkpoints, parse_epochs, run_epochs
from emodraw.checkpoints import epoch_checkpoints, find_checkpoints, verify_checkpoint
from emodraw.errors import CheckpointError, EmodrawError


@pytest.fixture(scope="module")
def every_epoch_run(tmp_path_factory, tiny_albert, small_data):
    from emodraw import train

    out = tmp_path_factory.mktemp("runs") / "every-epoch"
    options = {**TINY_OPTIONS, "epochs": 3, "plots": False}
    train(
        model=str(tiny_albert),
        data_dir=str(small_data),
        output_dir=str(out),
        progress=False,
        keep_every_epoch=True,
        save_state=False,
        **options,
    )
    return out


def test_keep_every_epoch_keeps_each_and_last_is_the_highest(every_epoch_run):
    kept = epoch_checkpoints(every_epoch_run)
    assert sorted(kept) == [1, 2, 3]
    assert find_checkpoints(every_epoch_run)["last"] == kept[3]
    results = json.loads((every_epoch_run / "evaluation.json").read_text())
    assert results["last"]["checkpoint"] == kept[3].name


def test_keep_every_epoch_needs_checkpoints():
    from emodraw.config import TrainConfig
    from emodraw.errors import ConfigError

    with pytest.raises(ConfigError, match="--keep-every-epoch True: keeps checkpoints"):
        TrainConfig(keep_every_epoch=True, save_checkpoints=False)


def test_without_the_flag_only_the_last_epoch_stays(tiny_run):
    assert sorted(epoch_checkpoints(tiny_run.run_dir)) == [2]


def test_average_is_the_mean_of_the_weights_and_loads(every_epoch_run, tmp_path):
    from emodraw.inference.classifier import Classifier

    sources = run_epochs(every_epoch_run, [1, 2, 3])
    out = average_checkpoints(sources, tmp_path / "avg")
    weights = [load_file(s / "model.safetensors") for s in sources]
    averaged = load_file(out / "model.safetensors")
    assert averaged.keys() == weights[0].keys()
    for name in averaged:
        expected = sum(w[name].double() for w in weights) / 3
        torch.testing.assert_close(averaged[name].double(), expected.to(averaged[name].dtype).double())
    # the weights moved between epochs, so the average is none of them
    assert any(not torch.equal(averaged[n], weights[2][n]) for n in averaged)
    meta = verify_checkpoint(out)  # manifest written and consistent
    assert [a["epoch"] for a in meta["averaged_from"]] == [1, 2, 3]
    assert meta["validation"] == {} and "Average of epoch 1" in meta["saved_from"]
    clf = Classifier.load(out, device="cpu")
    assert clf.predict("i feel wonderful today") in clf.labels
    import emodraw

    assert emodraw.average_checkpoints is average_checkpoints  # the public API names it


def test_average_of_one_checkpoint_twice_predicts_as_it(every_epoch_run, tmp_path):
    from emodraw.inference.classifier import Classifier

    source = run_epochs(every_epoch_run, [2])[0]
    out = average_checkpoints([source, source], tmp_path / "same")
    texts = ["i feel wonderful today", "i am so angry at him", "this is scary"]
    torch.testing.assert_close(
        torch.as_tensor(Classifier.load(out, device="cpu").logits(texts)),
        torch.as_tensor(Classifier.load(source, device="cpu").logits(texts)),
    )


def test_average_of_two_runs_and_refusals(every_epoch_run, tiny_run, tmp_path):
    ours = run_epochs(every_epoch_run, [1])[0]
    other_run = tiny_run.checkpoints["last"]  # another run of the same tiny ALBERT: compatible
    average_checkpoints([ours, other_run], tmp_path / "ok")
    with pytest.raises(EmodrawError, match="already exists"):
        average_checkpoints([ours, other_run], tmp_path / "ok")
    with pytest.raises(EmodrawError, match="at least two"):
        average_checkpoints([ours], tmp_path / "one")


def test_average_refuses_a_different_architecture(every_epoch_run, tmp_path, tiny_bert, small_data):
    from emodraw import train

    bert_run = train(
        model=str(tiny_bert),
        data_dir=str(small_data),
        output_dir=str(tmp_path / "bert"),
        progress=False,
        save_state=False,
        **{**TINY_OPTIONS, "epochs": 1, "plots": False},
    )
    with pytest.raises(CheckpointError, match="not the same architecture"):
        average_checkpoints([run_epochs(every_epoch_run, [1])[0], bert_run.checkpoints["last"]], tmp_path / "mixed")
    assert not (tmp_path / "mixed").exists()


def _copy_with_tensor(source, dest, name, value):
    """A copy of checkpoint `source` with one extra tensor, its manifest rewritten to match."""
    import shutil

    from safetensors.torch import save_file

    from emodraw.checkpoints import write_manifest

    shutil.copytree(source, dest)
    weights = load_file(dest / "model.safetensors")
    weights[name] = value
    save_file(weights, dest / "model.safetensors", metadata={"format": "pt"})
    write_manifest(dest)
    return dest


def test_integer_tensors_are_kept_when_equal_and_refused_when_not(every_epoch_run, tmp_path):
    one, two = run_epochs(every_epoch_run, [1, 2])
    counter = torch.tensor([3, 7], dtype=torch.int64)
    a = _copy_with_tensor(one, tmp_path / "a", "extra.counter", counter)
    b = _copy_with_tensor(two, tmp_path / "b", "extra.counter", counter)
    c = _copy_with_tensor(two, tmp_path / "c", "extra.counter", torch.tensor([4, 8], dtype=torch.int64))
    averaged = load_file(average_checkpoints([a, b], tmp_path / "same") / "model.safetensors")
    assert averaged["extra.counter"].dtype == torch.int64 and averaged["extra.counter"].tolist() == [3, 7]
    with pytest.raises(CheckpointError, match="integer tensor extra.counter differs"):
        average_checkpoints([a, c], tmp_path / "differ")  # the mean [3.5, 7.5] would be rounded to made-up values
    assert not (tmp_path / "differ").exists()


def test_missing_epochs_name_the_flag_only_when_epochs_were_dropped(tiny_run, every_epoch_run, tmp_path):
    with pytest.raises(EmodrawError, match="--keep-every-epoch"):
        run_epochs(tiny_run.run_dir, [1, 2])
    with pytest.raises(EmodrawError, match=r"no checkpoint of epoch 4 \(kept: 1, 2, 3\)$"):
        run_epochs(every_epoch_run, [3, 4])
    with pytest.raises(EmodrawError, match="not a run folder"):
        run_epochs(tmp_path, [1])


@pytest.mark.parametrize("spec, epochs", [("4-6", [4, 5, 6]), ("2,4,6", [2, 4, 6]), ("1-2,5", [1, 2, 5]), ("3", [3])])
def test_parse_epochs(spec, epochs):
    assert parse_epochs(spec) == epochs


@pytest.mark.parametrize("spec", ["6-4", "0-2", "a", "", "3-"])
def test_parse_epochs_rejects(spec):
    with pytest.raises(EmodrawError, match="--epochs"):
        parse_epochs(spec)


def test_cli_average_then_evaluate(every_epoch_run, tmp_path):
    out = tmp_path / "avg23"
    done = run_cli("average", "--run", every_epoch_run, "--epochs", "2-3", "--output", out)
    assert done.returncode == 0, done.stderr
    assert "averaged 2 checkpoints" in done.stdout
    scored = run_cli("evaluate", out, "--split", "val", "--json")
    assert scored.returncode == 0, scored.stderr
    assert 0 <= json.loads(scored.stdout)["accuracy"] <= 1
    bad = run_cli("average", "--run", every_epoch_run, "--output", tmp_path / "x")
    assert bad.returncode != 0 and "--run and --epochs go together" in bad.stderr
