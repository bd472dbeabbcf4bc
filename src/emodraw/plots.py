"""Plots drawn after a run from what it wrote: metrics.csv and the confusion matrix."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402


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
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


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
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
