"""What a model learns from a split's labels: one id per example, or -- multi-label -- a 0/1 row per example
with a 1 for each label it carries."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def targets(labels: Sequence, label_names: Sequence[str], multi_label: bool = False):
    """Label ids (a list of N ints), or for multi-label (N, C) float32 with row i's labels set to 1."""
    index = {name: i for i, name in enumerate(label_names)}
    if not multi_label:
        return [index[y] for y in labels]
    out = np.zeros((len(labels), len(label_names)), dtype=np.float32)
    for row, names in enumerate(labels):
        out[row, [index[name] for name in names]] = 1.0
    return out


def joined_labels_hint(label_names: Sequence[str]) -> str | None:
    """One line for a single-label run whose labels look like several joined by commas (a multi-label file
    read as single-label trains each combination as a class of its own), else None."""
    joined = [name for name in label_names if "," in name and all(part.strip() for part in name.split(","))]
    if not joined:
        return None
    return (
        f"{len(joined)} of the {len(label_names)} labels hold a comma (e.g. {joined[0]!r}): if a text carries "
        "several labels joined so, train with --multi-label"
    )
