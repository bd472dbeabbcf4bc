"""Scores of a multi-label classifier: each label is its own yes/no (a sigmoid over its logit), decided by a
threshold. The threshold is chosen on validation -- one for all labels, or one per label -- stored in the
checkpoint, and applied as it is to test and to every later prediction.

Metrics, as GoEmotions (Demszky et al., 2020) reports them and scikit-learn counts them: micro / macro /
weighted F1 over the labels, per-label precision / recall / F1 / support, subset accuracy (every label of a
text right) as `accuracy`, and the average binary cross-entropy as `avg_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

# The thresholds tried: 0.01 apart from 0.02 to 0.98, and below 0.02 a few more -- a label on for well under 1 % of
# the texts (GoEmotions' grief, relief, pride) can score under 0.02 everywhere, and then only a lower threshold
# gives it any F1.
GRID = np.concatenate([[0.001, 0.002, 0.003, 0.005, 0.007, 0.01, 0.015], np.round(np.arange(0.02, 0.985, 0.01), 2)])
DEFAULT_THRESHOLD = 0.5


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def _f1_per_label(probs: np.ndarray, gold: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """F1 of each label (C,) at `threshold` (scalar or (C,)); a label neither predicted nor present scores 0,
    as scikit-learn's zero_division=0 does."""
    pred = probs >= threshold
    tp = (pred & gold).sum(0)
    denominator = pred.sum(0) + gold.sum(0)
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def choose_thresholds(probs: np.ndarray, gold: np.ndarray, per_label: bool = False) -> np.ndarray:
    """The thresholds (C,) that maximise macro F1 on (probs, gold): one value for all labels, or with
    `per_label` each label's own best. Ties go to the threshold nearest 0.5."""
    probs, gold = np.asarray(probs), np.asarray(gold) > 0.5
    n_labels = probs.shape[1]
    if len(probs) == 0:
        return np.full(n_labels, DEFAULT_THRESHOLD)
    scores = np.stack([_f1_per_label(probs, gold, t) for t in GRID])  # (thresholds, C)
    # nearest 0.5 first among equals: argmax returns the first maximum of this order
    order = np.argsort(np.abs(GRID - DEFAULT_THRESHOLD), kind="stable")
    if per_label:
        best = order[scores[order].argmax(0)]
        return GRID[best].astype(np.float64)
    macro = scores.mean(1)
    return np.full(n_labels, GRID[order[macro[order].argmax()]], dtype=np.float64)


def thresholds_array(thresholds: dict[str, float] | Sequence[float] | None, label_names: Sequence[str]) -> np.ndarray:
    """(C,) thresholds from a checkpoint's {label: threshold} (or a sequence in label order); 0.5 where none."""
    if thresholds is None:
        return np.full(len(label_names), DEFAULT_THRESHOLD)
    if isinstance(thresholds, dict):
        return np.array([float(thresholds.get(name, DEFAULT_THRESHOLD)) for name in label_names])
    return np.asarray(thresholds, dtype=np.float64)


def decide(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(N, C) booleans: which labels each text carries."""
    return np.asarray(probs) >= np.asarray(thresholds)


def multi_label_metrics(
    logits,
    gold,
    label_names: Sequence[str],
    *,
    thresholds: dict[str, float] | Sequence[float] | None = None,
    per_label_thresholds: bool = False,
) -> dict[str, Any]:
    """All metrics from logits (N, C) and gold 0/1 rows (N, C). Without `thresholds` they are chosen on these
    very data (validation); with them -- a checkpoint's -- they are applied as they are (test)."""
    logits = np.asarray(logits, dtype=np.float64)
    gold = np.asarray(gold) > 0.5
    probs = sigmoid(logits)
    chosen = (
        choose_thresholds(probs, gold, per_label_thresholds)
        if thresholds is None
        else thresholds_array(thresholds, label_names)
    )
    pred = decide(probs, chosen)
    ids = list(range(len(label_names)))
    n = len(gold)
    if n:
        # binary cross-entropy with logits, stable: max(x, 0) - x*y + log(1 + e^-|x|)
        bce = np.maximum(logits, 0) - logits * gold + np.log1p(np.exp(-np.abs(logits)))
        avg_loss = float(bce.mean())
    else:
        avg_loss = float("nan")
    precision, recall, f1, support = precision_recall_fscore_support(gold, pred, labels=ids, zero_division=0)

    def f1_avg(average: str) -> float:
        return float(f1_score(gold, pred, labels=ids, average=average, zero_division=0)) if n else 0.0

    return {
        "n": int(n),
        "multi_label": True,
        "accuracy": float((pred == gold).all(1).mean()) if n else 0.0,  # subset accuracy
        "f1_macro": f1_avg("macro"),
        "f1_micro": f1_avg("micro"),
        "f1_weighted": f1_avg("weighted"),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "avg_loss": avg_loss,
        "labels_per_text": float(pred.sum(1).mean()) if n else 0.0,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
                "threshold": float(chosen[i]),
            }
            for i, name in enumerate(label_names)
        },
        "thresholds": {name: float(chosen[i]) for i, name in enumerate(label_names)},
        "labels": list(label_names),
    }


def format_multi_label(metrics: dict[str, Any]) -> str:
    """The metrics of `multi_label_metrics` for people: headline scores, then one line per label."""
    lines = [
        f"n={metrics['n']}  macro F1={metrics['f1_macro'] * 100:.2f}%  micro F1={metrics['f1_micro'] * 100:.2f}%  "
        f"weighted F1={metrics['f1_weighted'] * 100:.2f}%  subset accuracy={metrics['accuracy'] * 100:.2f}%  "
        f"avg loss={metrics['avg_loss']:.4f}",
        f"{'label':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}{'threshold':>11}",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(
            f"{name:<16}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}{row['support']:>9d}"
            f"{row['threshold']:>11.2f}"
        )
    return "\n".join(lines)
