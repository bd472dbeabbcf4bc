"""Scores of predicted logits against gold labels: accuracy, F1, loss, confusion matrix; the one-line report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from emodraw.multi_label_metrics import format_multi_label, multi_label_metrics


def validation_score(accuracy: float, f1_macro: float) -> float:
    """(accuracy + macro F1) / 2: what `--select-by val_score` maximises and the accuracy study ranks by."""
    return (accuracy + f1_macro) / 2


def compute_metrics(
    logits: torch.Tensor | np.ndarray,
    labels,
    label_names: Sequence[str],
    *,
    thresholds: dict[str, float] | Sequence[float] | None = None,
    per_label_thresholds: bool = False,
) -> dict[str, Any]:
    """All metrics from logits (N, C) and gold label ids (N,); for gold 0/1 rows (N, C) -- a multi-label model
    -- those of emodraw.multi_label_metrics, with `thresholds` applied or, without, chosen on these data."""
    if np.asarray(labels).ndim == 2:
        return multi_label_metrics(
            np.asarray(logits), labels, label_names, thresholds=thresholds, per_label_thresholds=per_label_thresholds
        )
    logits = torch.as_tensor(np.asarray(logits), dtype=torch.float32)
    y_true = np.asarray(labels, dtype=np.int64)
    y_pred = logits.argmax(dim=-1).numpy()
    ids = list(range(len(label_names)))
    avg_loss = (
        torch.nn.functional.cross_entropy(logits, torch.from_numpy(y_true)).item() if len(y_true) else float("nan")
    )
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(y_true, y_pred, labels=ids, average="weighted", zero_division=0)),
        "avg_loss": float(avg_loss),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        "labels": list(label_names),
    }


def format_metrics(metrics: dict[str, Any]) -> str:
    """The metrics of `compute_metrics` for people: headline scores, then one line per class."""
    if metrics.get("multi_label"):
        return format_multi_label(metrics)
    lines = [
        f"n={metrics['n']}  accuracy={metrics['accuracy'] * 100:.2f}%  macro F1={metrics['f1_macro'] * 100:.2f}%  "
        f"weighted F1={metrics['f1_weighted'] * 100:.2f}%  avg loss={metrics['avg_loss']:.4f}",
        f"{'class':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(
            f"{name:<12}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}{row['support']:>9d}"
        )
    return "\n".join(lines)
