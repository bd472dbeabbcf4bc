"""Plots drawn from what emodraw wrote: a run's metrics.csv and confusion matrix, `emodraw compare`'s rows."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_metrics(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def training_curves(metrics_csv: Path, out: Path) -> Path:
    rows = read_metrics(metrics_csv)
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], marker="o", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], marker="o", label="validation")
    best = min(rows, key=lambda r: r["val_loss"])
    ax_loss.axvline(best["epoch"], color="grey", linestyle=":", label=f"best (epoch {best['epoch']:g})")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    ax_loss.legend()
    ax_score.plot(epochs, [r["val_accuracy"] * 100 for r in rows], marker="o", label="accuracy")
    ax_score.plot(epochs, [r["val_f1_macro"] * 100 for r in rows], marker="o", label="macro F1")
    ax_score.set(xlabel="epoch", ylabel="%", title="Validation")
    ax_score.legend()
    return _save(fig, out)


def confusion_matrix_plot(matrix: Sequence[Sequence[int]], labels: Sequence[str], out: Path, title: str) -> Path:
    size = max(4.5, 0.8 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, out)


def comparison_chart(rows: Sequence[dict[str, Any]], out: Path) -> Path:
    """`emodraw compare`'s bars: test accuracy and macro F1 per model, with their spread over seeds."""
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows) + 2), 4.5))
    for offset, key, label in ((-0.2, "accuracy", "accuracy"), (0.2, "f1_macro", "macro F1")):
        values = [r[key] * 100 for r in rows]
        errors = [r[key + "_std"] * 100 for r in rows]
        bars = ax.bar(x + offset, values, 0.4, yerr=errors, capsize=3, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(x, [r["model"] for r in rows], rotation=15, ha="right")
    low = min([r["f1_macro"] * 100 for r in rows] + [100])
    ax.set_ylim(max(0, low - 10), 100)
    ax.set_ylabel("% on test")
    ax.set_title("emodraw compare")
    ax.legend(loc="lower right")
    return _save(fig, out)


def _save(fig, out: Path) -> Path:
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
