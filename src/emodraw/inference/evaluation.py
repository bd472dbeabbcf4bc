"""Scores of a classifier on labelled data: accuracy, macro/weighted F1, average cross-entropy,
per-class precision/recall/F1/support and the confusion matrix (scikit-learn does the counting)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from emodraw.data.columns import Columns
from emodraw.data.hub_datasets import recorded_examples
from emodraw.data.label_names import read_label_names
from emodraw.data.splits import folder_label_names, read_examples
from emodraw.data.targets import targets
from emodraw.hub import snapshot_of
from emodraw.inference.classifier import Classifier
from emodraw.metrics import compute_metrics

# about how many texts are scored between two updates of the progress bar: enough that the bar costs nothing
PROGRESS_SLICE = 512


def labelled_data(
    classifier: Classifier,
    split: str,
    data: str | Path | None = None,
    *,
    skip_invalid: bool = False,
    columns: Columns | None = None,
    label_names: str | Sequence[str] | None = None,
    label_separator: str | None = None,
):
    """(path, examples, gold label ids) to score `classifier` on: the file `data`, or else the file of
    `split` it was trained with (or that split of its --dataset, reloaded: "NAME[split]" for its path); the ids
    follow the classifier's label order. For a multi-label classifier the gold labels are 0/1 rows (N, C), read
    from fields joined by `label_separator` (by default the one it was trained with).

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
    record = (classifier.meta.get("data") or {}).get(split) if not data else None
    if isinstance(record, dict) and "dataset" in record:  # trained with --dataset: the split reloaded from it
        where, examples = recorded_examples(
            record,
            split,
            str(classifier.path),
            labels=classifier.labels,
            columns=columns,
            label_names=names,
            multi_label=classifier.multi_label,
            label_separator=label_separator or recorded.get("label_separator") or ",",
            skip_invalid=skip_invalid,
        )
        return where, examples, targets(examples.labels, classifier.labels, classifier.multi_label)
    path = Path(data) if data else classifier.data_file(split)
    if names is None:  # as training reads a data folder (GoEmotions')
        names = read_label_names(folder_label_names(path.parent))
    separator = None
    if classifier.multi_label:
        separator = label_separator or recorded.get("label_separator") or ","
    examples = read_examples(
        path,
        skip_invalid=skip_invalid,
        labels=classifier.labels,
        columns=columns,
        label_names=names,
        label_separator=separator,
    )
    return path, examples, targets(examples.labels, classifier.labels, classifier.multi_label)


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
    label_separator: str | None = None,
    revision: str | None = None,
    progress: bool | None = None,
    **load_options,
) -> dict[str, Any]:
    """Score a checkpoint (or export folder) on `data`, or on the split of the data it was trained on; texts over
    the maximum length truncated, or scored in windows with long_text="chunk" (emodraw.inference.long_text).
    The file's columns and label names as `emodraw train` takes them (labelled_data). A Hugging Face Hub id
    loads at `revision`, and the commit it loaded is recorded as "revision". `progress` draws a bar over the
    texts on stderr (None: when stderr is a terminal)."""
    classifier = Classifier.load(checkpoint, revision=revision, **load_options)
    columns = Columns.of(text_column, label_column, no_header)
    path, examples, gold = labelled_data(
        classifier,
        split,
        data,
        skip_invalid=skip_invalid,
        columns=columns,
        label_names=label_names,
        label_separator=label_separator,
    )
    shown = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(examples.texts), desc="evaluate", unit="text", disable=not shown, file=sys.stderr) as bar:
        logits, _ = counted(classifier, bar).scores(examples.texts, batch_size=batch_size, long_text=long_text)
    # a multi-label model's own thresholds (chosen on validation in training), never chosen on these data
    metrics = compute_metrics(logits, gold, classifier.labels, thresholds=classifier.thresholds)
    metrics.update(
        {"checkpoint": str(checkpoint), "data": str(path), "skipped": examples.skipped, "long_text": long_text}
    )
    snapshot = snapshot_of(classifier.path)
    if snapshot is not None:
        metrics.update({"checkpoint": snapshot.repo_id, "revision": snapshot.commit})
    return metrics


def counted(classifier: Classifier, bar) -> Classifier:
    """`classifier` with its model calls made in slices of whole batches in length order, each counted on `bar`:
    the batches it makes anyway (sorted_batches), so the scores are the same bits with or without the bar. With
    long_text="chunk" the bar counts the texts' windows."""
    score = classifier._encoded_logits

    def encoded_logits(encoded, batch_size: int) -> np.ndarray:
        if len(encoded) != bar.total:
            bar.reset(total=len(encoded))
        order = np.argsort(encoded.lengths, kind="stable")
        step = batch_size * max(1, PROGRESS_SLICE // batch_size)
        out = np.empty((len(encoded), len(classifier.labels)), dtype=np.float32)
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            out[rows] = score(encoded.subset(rows), batch_size)
            bar.update(len(rows))
        return out

    return classifier.with_logits(encoded_logits)
