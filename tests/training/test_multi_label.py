"""Multi-label training end to end: labels joined in one field (GoEmotions' layout), sigmoid outputs and
binary cross-entropy, thresholds chosen on validation and stored, the metrics, and what a plain
transformers pipeline makes of the checkpoint."""

import json

import numpy as np
import pytest

from emodraw.checkpoints import find_checkpoints
from emodraw.data.splits import load_splits, read_examples
from emodraw.errors import DataError
from emodraw.metrics import compute_metrics
from emodraw.multi_label_metrics import choose_thresholds, multi_label_metrics


def test_joined_ids_read_as_label_tuples_with_the_folders_label_names(multi_label_data):
    splits = load_splits(multi_label_data, multi_label=True, columns=_positions())
    assert splits.multi_label and splits.label_names == ["sadness", "joy", "love", "anger", "fear", "surprise"]
    two = [labels for labels in splits.train.labels if len(labels) == 2]
    assert two and all(isinstance(labels, tuple) for labels in splits.train.labels)
    targets = splits.ids(splits.train)
    assert targets.shape == (len(splits.train), 6) and targets.sum() == sum(len(y) for y in splits.train.labels)


def _positions():
    from emodraw.data.columns import Columns

    return Columns.of(no_header=True)


@pytest.mark.parametrize(
    "line, problem",
    [
        ("some text\t1,9\tid", "label '9': label id 9 out of range"),
        ("some text\t1,,2\tid", "label '': empty label"),
        ("some text\t\tid", "empty label"),
    ],
)
def test_a_bad_label_among_several_names_its_line(tmp_path, line, problem):
    (tmp_path / "train.tsv").write_text("fine text\t0,1\tid\n" + line + "\n")
    with pytest.raises(DataError, match=rf"train.tsv:2: {problem}"):
        read_examples(tmp_path / "train.tsv", columns=_positions(), label_names=["a", "b", "c"], label_separator=",")


def test_jsonl_lists_are_labels_and_single_label_reading_says_to_use_multi_label(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a b", "label": ["joy", "love"]}\n{"text": "c", "label": []}\n')
    examples = read_examples(path, label_separator=",")
    assert examples.labels == [("joy", "love"), ()]
    with pytest.raises(DataError, match="2 labels in one field; .* give --multi-label"):
        read_examples(path)
    joined = tmp_path / "val.csv"
    joined.write_text('text,label\nx,"joy,love"\n')
    with pytest.raises(DataError, match="looks like several labels joined by ',': give --multi-label"):
        read_examples(joined, labels=["joy", "love"])


def test_thresholds_are_chosen_for_macro_f1_and_applied_as_given():
    rng = np.random.default_rng(0)
    gold = rng.random((400, 3)) < [0.5, 0.1, 0.3]
    # label 1 is rare and its scores low: its best threshold is far below 0.5
    probs = np.clip(gold * [0.7, 0.25, 0.6] + rng.random((400, 3)) * 0.2, 0, 1)
    one = choose_thresholds(probs, gold)
    each = choose_thresholds(probs, gold, per_label=True)
    assert len(set(one)) == 1 and each[1] < 0.3 < each[0]
    logits = np.log(probs.clip(1e-6, 1 - 1e-6) / (1 - probs.clip(1e-6, 1 - 1e-6)))
    chosen = multi_label_metrics(logits, gold, ["a", "b", "c"], per_label_thresholds=True)
    fixed = compute_metrics(logits, gold.astype(float), ["a", "b", "c"], thresholds={"a": 0.5, "b": 0.5, "c": 0.5})
    assert chosen["f1_macro"] > fixed["f1_macro"] and fixed["thresholds"] == {"a": 0.5, "b": 0.5, "c": 0.5}
    assert chosen["per_class"]["b"]["threshold"] == pytest.approx(each[1])
    for key in ("f1_micro", "f1_weighted", "accuracy", "avg_loss", "precision_macro", "recall_macro"):
        assert key in chosen
    subset = ((probs >= 0.5) == gold).all(1).mean()
    assert fixed["accuracy"] == pytest.approx(subset)


def test_the_run_learns_several_labels_and_stores_its_thresholds(multi_label_run, multi_label_data):
    found = find_checkpoints(multi_label_run)
    config = json.loads((found["best"] / "config.json").read_text())
    meta = json.loads((found["best"] / "emodraw.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert set(meta["thresholds"]) == set(config["id2label"].values())
    assert found["best"].name.startswith("multilabel_")
    evaluation = json.loads((multi_label_run / "evaluation.json").read_text())["best"]
    assert evaluation["multi_label"] and evaluation["f1_macro"] > 0.8
    assert evaluation["thresholds"] == meta["thresholds"]  # test is scored at validation's thresholds
    table = (multi_label_run / "results.md").read_text()
    assert "subset accuracy" in table and f"{evaluation['f1_macro'] * 100:.2f}" in table


def test_a_plain_transformers_pipeline_reads_it_as_multi_label(multi_label_run):
    from transformers import pipeline

    from emodraw.inference.classifier import Classifier

    best = find_checkpoints(multi_label_run)["best"]
    text = "i am happy and we were scared at the office"  # two emotions: the softmax would differ most
    rows = pipeline("text-classification", model=str(best), top_k=None)([text])[0]
    scores = {row["label"]: row["score"] for row in rows}
    clf = Classifier.load(best, device="cpu", precision="fp32")  # the pipeline's precision
    logits = clf.logits([text])[0]
    sigmoid = dict(zip(clf.labels, (1 / (1 + np.exp(-logits))).tolist()))
    softmax = dict(zip(clf.labels, (np.exp(logits) / np.exp(logits).sum()).tolist()))
    assert scores == pytest.approx(sigmoid, abs=1e-4) and scores != pytest.approx(softmax, abs=2e-3)
    assert clf.predict_proba(text) == pytest.approx(sigmoid, abs=1e-5)
