"""Scores of a classifier on labelled data: accuracy, macro/weighted F1, average cross-entropy,
per-class precision/recall/F1/support and the confusion matrix (scikit-learn does the counting)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emodraw.data.columns import Columns
from emodraw.data.label_names import read_label_names
from emodraw.data.splits import read_examples
from emodraw.inference.classifier import Classifier
from emodraw.metrics import compute_metrics


def labelled_data(
    classifier: Classifier,
    split: str,
    data: str | Path | None = None,
    *,
    skip_invalid: bool = False,
    columns: Columns | None = None,
    label_names: str | Sequence[str] | None = None,
):
    """(path, examples, gold label ids) to score `classifier` on: the file `data`, or else the file of
    `split` it was trained with; the ids follow the classifier's label order.

    `columns` (the default Columns() where None) and `label_names` say how to read the file, as train takes
    them. A split is read as training read it: with the columns the checkpoint recorded, unless others are
    given. Integer labels need names: `label_names`, or else the classifier's own labels when it was trained
    with --label-names (its ids are then theirs)."""
    recorded = classifier.meta.get("config") or {}
    if not isinstance(recorded, dict):
        recorded = {}
    columns = columns if columns is not None else Columns()
    if data is None and columns.is_default:
        columns = Columns.from_config(recorded)
    names = read_label_names(label_names)
    if names is None and recorded.get("label_names"):
        names = list(classifier.labels)
    path = Path(data) if data else classifier.data_file(split)
    examples = read_examples(
        path, skip_invalid=skip_invalid, labels=classifier.labels, columns=columns, label_names=names
    )
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
    text_column: str | int = "text",
    label_column: str | int = "label",
    no_header: bool = False,
    label_names: str | Sequence[str] | None = None,
    **load_options,
) -> dict[str, Any]:
    """Score a checkpoint (or export folder) on `data`, or on the split of the data it was trained on; texts over
    the maximum length truncated, or scored in windows with long_text="chunk" (emodraw.inference.long_text).
    The file's columns and label names as `emodraw train` takes them (labelled_data)."""
    classifier = Classifier.load(checkpoint, **load_options)
    columns = Columns.of(text_column, label_column, no_header)
    path, examples, gold = labelled_data(
        classifier, split, data, skip_invalid=skip_invalid, columns=columns, label_names=label_names
    )
    logits, _ = classifier.scores(examples.texts, batch_size=batch_size, long_text=long_text)
    metrics = compute_metrics(logits, gold, classifier.labels)
    metrics.update(
        {"checkpoint": str(checkpoint), "data": str(path), "skipped": examples.skipped, "long_text": long_text}
    )
    return metrics
