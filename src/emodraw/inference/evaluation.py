"""Scores of a classifier on labelled data: accuracy, macro/weighted F1, average cross-entropy,
per-class precision/recall/F1/support and the confusion matrix (scikit-learn does the counting)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emodraw.inference.classifier import Classifier
from emodraw.metrics import compute_metrics


def labelled_data(classifier: Classifier, split: str, data: str | Path | None = None, *, skip_invalid: bool = False):
    """(path, examples, gold label ids) to score `classifier` on: the file `data`, or else the file of
    `split` it was trained with; the ids follow the classifier's label order."""
    from emodraw.data.splits import read_examples

    path = Path(data) if data else classifier.data_file(split)
    examples = read_examples(path, skip_invalid=skip_invalid, labels=classifier.labels)
    index = {name: i for i, name in enumerate(classifier.labels)}
    return path, examples, [index[y] for y in examples.labels]


def evaluate(
    checkpoint: str | Path,
    split: str = "test",
    data: str | Path | None = None,
    *,
    batch_size: int = 128,
    skip_invalid: bool = False,
    long_text: str = "truncate",
    **load_options,
) -> dict[str, Any]:
    """Score a checkpoint (or export folder) on `data`, or on the split of the data it was trained on; texts over
    the maximum length truncated, or scored in windows with long_text="chunk" (emodraw.inference.long_text)."""
    classifier = Classifier.load(checkpoint, **load_options)
    path, examples, gold = labelled_data(classifier, split, data, skip_invalid=skip_invalid)
    logits, _ = classifier.scores(examples.texts, batch_size=batch_size, long_text=long_text)
    metrics = compute_metrics(logits, gold, classifier.labels)
    metrics.update(
        {"checkpoint": str(checkpoint), "data": str(path), "skipped": examples.skipped, "long_text": long_text}
    )
    return metrics
