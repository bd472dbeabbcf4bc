"""Selection: which epoch is the best one, when to stop early, and how that survives a resume."""

import json
import math
from pathlib import Path

import pytest

from emodraw.training.selection import Selection

LEGACY_STATE = Path(__file__).parents[1] / "fixtures" / "legacy-run" / "run" / "state" / "training_state.json"


def val(loss=1.0, accuracy=0.5, f1=0.5):
    return {"avg_loss": loss, "accuracy": accuracy, "f1_macro": f1}


def test_val_loss_keeps_the_lowest_loss_and_stops_after_patience_epochs_without_one():
    selection = Selection("val_loss", patience=2)
    improved = []
    for epoch, loss in enumerate([1.0, 0.9, 0.95, 0.97], start=1):
        improved.append(selection.update(epoch, val(loss)))
        assert selection.should_stop == (epoch == 4)
    assert improved == [True, True, False, False]
    assert (selection.best, selection.best_epoch, selection.bad_epochs) == (0.9, 2, 2)
    assert selection.stop_message == "early stopping: no better validation loss for 2 epochs"


def test_an_equal_or_nan_loss_is_not_better():
    selection = Selection("val_loss")
    assert not selection.update(1, val(math.nan))
    assert selection.update(2, val(0.5))
    assert not selection.update(3, val(0.5))
    assert selection.best_epoch == 2 and selection.bad_epochs == 1


def test_val_score_keeps_the_highest_mean_of_accuracy_and_macro_f1_whatever_the_loss():
    selection = Selection("val_score", patience=1)
    assert selection.update(1, val(loss=0.5, accuracy=0.6, f1=0.4))
    assert selection.update(2, val(loss=0.9, accuracy=0.7, f1=0.4))  # a higher loss, but a higher score
    assert not selection.update(3, val(loss=0.1, accuracy=0.5, f1=0.5))
    assert selection.best == pytest.approx(0.55) and selection.best_epoch == 2
    assert selection.should_stop and "validation score for 1 epochs" in selection.stop_message


def test_last_makes_every_epoch_the_best_and_never_stops():
    selection = Selection("last", patience=1)
    assert all(selection.update(epoch, val(loss)) for epoch, loss in enumerate([0.5, 0.9, 2.0], start=1))
    assert selection.best_epoch == 3 and not selection.should_stop


def test_no_patience_never_stops():
    selection = Selection("val_loss")
    for epoch in range(1, 20):
        selection.update(epoch, val(float(epoch)))
    assert selection.bad_epochs == 18 and not selection.should_stop


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="val_loss, val_score, last"):
        Selection("val_accuracy")


@pytest.mark.parametrize(
    "rule, legacy_best_loss",  # the state's `best_loss`, as the state has always held it: lower is better
    [("val_loss", 0.8), ("val_score", -0.6), ("last", -2.0)],
)
def test_the_saved_progress_keeps_its_old_meaning_and_resumes_to_the_same_decisions(rule, legacy_best_loss):
    selection = Selection(rule, patience=3)
    selection.update(1, val(loss=0.8, accuracy=0.6, f1=0.6))
    selection.update(2, val(loss=0.9, accuracy=0.5, f1=0.5))
    progress = json.loads(json.dumps(selection.progress()))  # as it goes through training_state.json
    assert progress["best_loss"] == pytest.approx(legacy_best_loss)
    assert progress["best_epoch"] == (2 if rule == "last" else 1)
    assert progress["bad_epochs"] == (0 if rule == "last" else 1)
    resumed = Selection.restored(rule, 3, progress)
    assert resumed == selection
    for epoch, figures in ((3, val(loss=0.85, accuracy=0.55, f1=0.55)), (4, val(loss=0.7, accuracy=0.9, f1=0.9))):
        assert resumed.update(epoch, figures) == selection.update(epoch, figures)
        assert resumed == selection


def test_the_legacy_fixtures_state_resumes_with_its_best_epoch():
    info = json.loads(LEGACY_STATE.read_text())
    progress = {k: info[k] for k in ("epoch", "best_loss", "best_epoch", "bad_epochs")}
    resumed = Selection.restored("val_loss", 0, progress)
    assert (resumed.best, resumed.best_epoch, resumed.bad_epochs) == (progress["best_loss"], 1, 0)
    assert not resumed.update(2, val(progress["best_loss"] + 0.1))
    assert resumed.update(3, val(progress["best_loss"] - 0.1)) and resumed.best_epoch == 3
