"""A run folder and checkpoints written by emodraw before the package redesign (tests/fixtures/legacy-run,
see its README) still load, predict the same scores and resume to the same metrics."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "legacy-run"
EXPECTED = json.loads((FIXTURE / "expected_predictions.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED["checkpoints"]))
def test_legacy_checkpoint_predicts_the_same_labels_and_scores(name):
    from emodraw import Classifier

    clf = Classifier.load(FIXTURE / "run" / "checkpoints" / name, device="cpu", precision="fp32")
    want = EXPECTED["checkpoints"][name]
    texts = EXPECTED["texts"]
    assert clf.backend == "pytorch"
    assert clf.predict(texts) == want["labels"]
    np.testing.assert_allclose(clf.logits(texts), np.array(want["logits"]), atol=1e-5)
    got = clf.predict_proba(texts)
    for row, expected_row in zip(got, want["scores"]):
        assert row.keys() == expected_row.keys()
        np.testing.assert_allclose([row[k] for k in row], [expected_row[k] for k in row], atol=1e-5)


def test_legacy_run_folder_resumes_to_the_uninterrupted_metrics(tmp_path, monkeypatch):
    from emodraw import train

    copy = tmp_path / "legacy-run"
    shutil.copytree(FIXTURE, copy)
    monkeypatch.chdir(copy)  # the run's config names its model and data relative to this folder
    result = train(resume="run", progress=False)
    with open(copy / "run" / "metrics.csv", newline="") as handle:
        resumed = list(csv.DictReader(handle))
    with open(FIXTURE / "expected_metrics.csv", newline="") as handle:
        expected = list(csv.DictReader(handle))
    assert [row["epoch"] for row in resumed] == ["1", "2"]
    for got, want in zip(resumed, expected):
        for column in ("train_loss", "val_loss", "val_accuracy", "val_f1_macro", "learning_rate"):
            assert float(got[column]) == pytest.approx(float(want[column]), abs=1e-5), column
    assert set(result.checkpoints) >= {"best", "last"}
    run = json.loads((copy / "run" / "run.json").read_text())
    assert len(run["resumed"]) == 1
