import csv
import json

import pytest
import torch
from helpers.tiny_data import TINY_OPTIONS

from emodraw import Classifier, train
from emodraw.checkpoints import verify_checkpoint
from emodraw.results import ROW_KEYS, SAVED_FROM_BEST
from emodraw.training.trainer import METRICS_COLUMNS

CHECKPOINT_FILES = {
    "README.md",
    "config.json",
    "emodraw.json",
    "manifest.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
}


def files_under(folder):
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_run_folder_has_exactly_the_published_layout(tiny_run):
    best = "multiclass_default_tiny-albert_best_checkpoint"
    last = "multiclass_default_tiny-albert_epoch2_checkpoint"
    expected = {
        "config.yaml",
        "run.json",
        "metrics.csv",
        "results.json",
        "results.md",
        "evaluation.json",
        "plots/training_curves.png",
        "plots/confusion_matrix.png",
        "state/manifest.json",
        "state/training_state.json",
        "state/training_state.safetensors",
    }
    expected |= {f"checkpoints/{name}/{f}" for name in (best, last) for f in CHECKPOINT_FILES}
    assert files_under(tiny_run.run_dir) == expected


def test_metrics_csv_has_one_row_per_epoch(tiny_run):
    with open(tiny_run.run_dir / "metrics.csv") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == METRICS_COLUMNS
        rows = list(reader)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(0 <= float(r["val_accuracy"]) <= 1 and float(r["seconds"]) > 0 for r in rows)


def test_the_model_learns(tiny_run):
    losses = [row["train_loss"] for row in tiny_run.history]
    assert losses[-1] < losses[0]
    assert tiny_run.history[-1]["val_loss"] < 1.79  # below chance level ln(6)


def test_best_checkpoint_is_the_lowest_validation_loss_epoch(tiny_run):
    best_epoch = min(tiny_run.history, key=lambda r: r["val_loss"])["epoch"]
    meta = verify_checkpoint(tiny_run.checkpoints["best"])
    assert meta["epoch"] == best_epoch
    assert meta["saved_from"] == SAVED_FROM_BEST
    assert verify_checkpoint(tiny_run.checkpoints["last"])["epoch"] == 2


def test_checkpoint_metadata_describes_the_run(tiny_run, small_data):
    meta = verify_checkpoint(tiny_run.checkpoints["best"])
    assert meta["label_names"] == ["sadness", "joy", "love", "anger", "fear", "surprise"]
    assert meta["config"]["learning_rate"] == TINY_OPTIONS["learning_rate"]
    assert set(meta["validation"]) == {"accuracy", "f1_macro", "f1_weighted", "avg_loss"}
    assert meta["data"]["train"]["path"] == str((small_data / "train.txt").resolve())
    assert len(meta["data"]["train"]["sha256"]) == 64
    assert {"torch", "transformers", "emodraw", "python"} <= set(meta["versions"])
    card = (tiny_run.checkpoints["best"] / "README.md").read_text()
    assert "educational and research use" in card and "surprise" in card


def test_checkpoint_loads_with_plain_transformers(tiny_run):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_run.checkpoints["best"])
    assert model.config.id2label[0] == "sadness" and model.config.id2label[5] == "surprise"
    assert type(model).__name__ == "AlbertForSequenceClassification"


def test_results_rows_follow_the_published_schema(tiny_run):
    rows = json.loads((tiny_run.run_dir / "results.json").read_text())
    assert [r["checkpoint_saved_from"] for r in rows] == ["Epoch 2", SAVED_FROM_BEST]
    for row in rows:
        assert set(ROW_KEYS) <= set(row)
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["f1_macro"] <= 1 and row["avg_loss"] > 0
        assert row["data_portion"] == 1.0 and row["batch_size"] == 16 and row["epochs"] == 2
    table = (tiny_run.run_dir / "results.md").read_text().splitlines()
    assert table[0].startswith("| Experiment No. | Model | Checkpoint Saved From | Checkpoint File | Accuracy (%) |")
    assert f"| {rows[0]['accuracy'] * 100:.2f} |" in table[2]


def test_results_are_the_checkpoints_scores_on_test(tiny_run, small_data):
    from emodraw import evaluate

    rows = json.loads((tiny_run.run_dir / "results.json").read_text())
    again = evaluate(tiny_run.checkpoints["best"], precision="fp32")
    assert again["data"] == str((small_data / "test.txt").resolve())
    assert again["accuracy"] == pytest.approx(rows[1]["accuracy"])
    assert again["avg_loss"] == pytest.approx(rows[1]["avg_loss"], abs=1e-5)


def test_reload_gives_identical_predictions(tiny_run):
    texts = ["i feel wonderful today", "i am so scared of the dark", "this made me furious"]
    first = Classifier.load(tiny_run.checkpoints["best"], precision="fp32")
    second = Classifier.load(tiny_run.run_dir, precision="fp32")  # a run folder means its best checkpoint
    assert torch.equal(torch.from_numpy(first.logits(texts)), torch.from_numpy(second.logits(texts)))
    assert first.predict(texts[0]) in first.labels
    assert first.predict(texts) == second.predict(texts)
    proba = first.predict_proba(texts[0])
    assert set(proba) == set(first.labels) and sum(proba.values()) == pytest.approx(1.0, abs=1e-5)


def test_same_seed_same_weights_and_run_names_never_overwrite(tmp_path, tiny_albert, small_data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = {**TINY_OPTIONS, "epochs": 1, "plots": False}
    a = train(model=str(tiny_albert), data_dir=str(small_data), progress=False, **options)
    b = train(model=str(tiny_albert), data_dir=str(small_data), progress=False, **options)
    assert a.run_dir.name == "default_tiny-albert" and b.run_dir.name == "default_tiny-albert2"
    assert a.history[0]["val_loss"] == b.history[0]["val_loss"]


def test_output_dir_that_is_not_empty_is_refused(tmp_path, tiny_albert, small_data):
    from emodraw.errors import ConfigError

    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(ConfigError, match="not empty"):
        train(
            model=str(tiny_albert), data_dir=str(small_data), output_dir=str(tmp_path), progress=False, **TINY_OPTIONS
        )
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_a_folder_left_by_a_failed_start_is_used_again_by_the_fixed_command(
    tmp_path, tiny_albert, small_data, monkeypatch
):
    # A start that fails before training (here a bad data folder) leaves config.yaml and an empty checkpoints/;
    # the same command, once fixed, trains in that folder instead of being refused or moving to runs/<name>2.
    from emodraw.errors import DataError

    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.txt").write_text("no label here\n")
    (bad / "val.txt").write_text("i feel fine;joy\n")
    options = {**TINY_OPTIONS, "epochs": 1, "plots": False, "progress": False, "model": str(tiny_albert)}
    out = tmp_path / "out"
    for kwargs in ({"output_dir": str(out)}, {}):
        with pytest.raises(DataError, match="train.txt:1"):
            train(data_dir=str(bad), **kwargs, **options)
        failed = out if kwargs else tmp_path / "runs" / "default_tiny-albert"
        assert sorted(p.name for p in failed.iterdir()) == ["checkpoints", "config.yaml"]
        run = train(data_dir=str(small_data), **kwargs, **options)
        assert run.run_dir.resolve() == failed and (failed / "metrics.csv").is_file()
    # a folder with a trained run in it is still never reused
    assert train(data_dir=str(small_data), **options).run_dir.name == "default_tiny-albert2"


def test_early_stopping_stops_after_patience_epochs_without_a_lower_val_loss(
    tmp_path, tiny_albert, small_data, monkeypatch
):
    from emodraw.training.trainer import Trainer

    scripted = iter([1.0, 0.9, 0.95, 0.97, 0.5, 0.4])
    real_validate = Trainer._validate

    def fake_validate(self):
        return {**real_validate(self), "avg_loss": next(scripted)}

    monkeypatch.setattr(Trainer, "_validate", fake_validate)
    options = {**TINY_OPTIONS, "epochs": 6, "plots": False, "early_stopping_patience": 2}
    run = train(
        model=str(tiny_albert), data_dir=str(small_data), output_dir=str(tmp_path / "r"), progress=False, **options
    )
    assert [r["epoch"] for r in run.history] == [1, 2, 3, 4]
    assert run.rows[0]["epochs"] == 4 and run.rows[0]["checkpoint_saved_from"] == "Epoch 4"
    assert verify_checkpoint(run.checkpoints["best"])["epoch"] == 2


def test_select_by_val_score_keeps_the_epoch_with_the_best_validation_score(tmp_path, tiny_albert, small_data):
    from emodraw.results import SAVED_FROM_BEST_SCORE

    options = {**TINY_OPTIONS, "epochs": 3, "plots": False, "save_state": False}
    result = train(
        model=str(tiny_albert),
        data_dir=str(small_data),
        output_dir=str(tmp_path / "run"),
        progress=False,
        select_by="val_score",
        **options,
    )
    scores = [(r["val_accuracy"] + r["val_f1_macro"]) / 2 for r in result.history]
    meta = verify_checkpoint(result.checkpoints["best"])
    assert meta["epoch"] == 1 + scores.index(max(scores))
    assert meta["saved_from"] == SAVED_FROM_BEST_SCORE
    rows = json.loads((result.run_dir / "results.json").read_text())
    assert rows[1]["checkpoint_saved_from"] == SAVED_FROM_BEST_SCORE and rows[1]["epoch"] == meta["epoch"]


def test_ema_changes_what_is_saved_and_scored_but_not_the_training(tmp_path, tiny_albert, small_data):
    from safetensors.torch import load_file

    options = {**TINY_OPTIONS, "plots": False}
    runs = {
        decay: train(
            model=str(tiny_albert),
            data_dir=str(small_data),
            output_dir=str(tmp_path / f"ema{decay}"),
            progress=False,
            ema_decay=decay,
            **options,
        )
        for decay in (0.0, 0.9)
    }
    plain, averaged = runs[0.0], runs[0.9]
    # the same trajectory: training losses equal (the average was swapped out again after each use)
    assert [r["train_loss"] for r in averaged.history] == pytest.approx(
        [r["train_loss"] for r in plain.history], rel=1e-6
    )
    # but validation and the checkpoints are the average, not the live weights
    assert averaged.history[-1]["val_loss"] != pytest.approx(plain.history[-1]["val_loss"], rel=1e-4)
    a = load_file(str(plain.checkpoints["last"] / "model.safetensors"))
    b = load_file(str(averaged.checkpoints["last"] / "model.safetensors"))
    assert max((a[k] - b[k]).abs().max().item() for k in a) > 1e-4
    state = load_file(str(averaged.run_dir / "state" / "training_state.safetensors"))
    assert int(state["extra.ema.updates"]) == 2 * -(-300 // 16)  # one update per step, saved for --resume


def test_train_on_val_trains_on_both_splits_and_keeps_the_last_epoch(tmp_path, tiny_albert, small_data, monkeypatch):
    """--train-on-val: the validation sentences join the training data (in file order, so it is the same
    run as one on a concatenated training file), and with nothing held out the last epoch is kept, even
    where validation would have picked another."""
    from emodraw.config import ConfigError, TrainConfig
    from emodraw.results import SAVED_FROM_LAST
    from emodraw.training.trainer import Trainer

    real_validate = Trainer._validate
    monkeypatch.setattr(
        Trainer, "_validate", lambda self: {**real_validate(self), "avg_loss": float(len(self.history))}
    )
    options = {**TINY_OPTIONS, "epochs": 3, "plots": False, "save_state": False}
    result = train(
        model=str(tiny_albert),
        data_dir=str(small_data),
        output_dir=str(tmp_path / "joined"),
        progress=False,
        train_on_val=True,
        **options,
    )  # validation loss rises: val_loss would keep epoch 1
    meta = verify_checkpoint(result.checkpoints["best"])
    assert meta["epoch"] == 3 and meta["saved_from"] == SAVED_FROM_LAST
    assert result.rows[1]["checkpoint_saved_from"] == SAVED_FROM_LAST

    concatenated = tmp_path / "concatenated"
    concatenated.mkdir()
    (concatenated / "train.txt").write_text(
        (small_data / "train.txt").read_text() + (small_data / "val.txt").read_text()
    )
    for name in ("val.txt", "test.txt"):
        (concatenated / name).write_text((small_data / name).read_text())
    same = train(
        model=str(tiny_albert),
        data_dir=str(concatenated),
        output_dir=str(tmp_path / "same"),
        progress=False,
        **options,
    )
    assert [r["train_loss"] for r in result.history] == [r["train_loss"] for r in same.history]
    assert result.rows[0]["accuracy"] == same.rows[0]["accuracy"]  # the last checkpoints score the same on test

    trainer = Trainer(
        TrainConfig(
            model=str(tiny_albert),
            data_dir=str(small_data),
            output_dir=str(tmp_path / "n"),
            train_on_val=True,
            **options,
        ),
        progress=False,
    )
    assert len(trainer.splits.train) == 400 and trainer.splits.train.texts[300:] == trainer.splits.val.texts
    with pytest.raises(ConfigError, match="early stopping"):
        TrainConfig(train_on_val=True, early_stopping_patience=2)


@pytest.mark.parametrize("given, expected", [(0, 128), (7, 7)])  # 0: automatic (128 on a CPU, 512 on a GPU)
def test_validation_batch_size_is_automatic_unless_given(tmp_path, tiny_albert, small_data, given, expected):
    from emodraw.config import TrainConfig
    from emodraw.training.trainer import Trainer

    config = TrainConfig(
        model=str(tiny_albert),
        data_dir=str(small_data),
        output_dir=str(tmp_path / "run"),
        device="cpu",
        **{**TINY_OPTIONS, "eval_batch_size": given},
    )
    assert Trainer(config, progress=False).eval_batch_size == expected
