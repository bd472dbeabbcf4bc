"""The published results table: one row per checkpoint, as `results.json` and `results.md`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from emodraw.errors import EmodrawError

SAVED_FROM_BEST = "The epoch with the lowest validation loss"
SAVED_FROM_BEST_SCORE = "The epoch with the highest validation (accuracy + macro F1) / 2"
SAVED_FROM_LAST = "The last epoch (validation was in the training data)"


def saved_from_best(rule: str) -> str:
    """The table's "Checkpoint Saved From" text for the best checkpoint under a rule (TrainConfig.checkpoint_rule)."""
    return {"val_score": SAVED_FROM_BEST_SCORE, "last": SAVED_FROM_LAST}.get(rule, SAVED_FROM_BEST)


COLUMNS = (
    "Experiment No.",
    "Model",
    "Checkpoint Saved From",
    "Checkpoint File",
    "Accuracy (%)",
    "F1 Score (%)",
    "Avg Loss",
    "Learning Rate",
    "Batch Size",
    "Training Epochs",
    "Data Portion Used (%)",
)
ROW_KEYS = (
    "experiment",
    "model",
    "checkpoint_saved_from",
    "checkpoint_file",
    "accuracy",
    "f1_macro",
    "f1_weighted",
    "avg_loss",
    "learning_rate",
    "batch_size",
    "epochs",
    "data_portion",
)


def results_row(
    config: dict[str, Any],
    model_name: str,
    saved_from: str,
    checkpoint_file: str,
    metrics: dict[str, Any],
    epochs_trained: int,
    **extra: Any,
) -> dict[str, Any]:
    """One row of results.json; scores and portion are fractions in [0, 1]."""
    return {
        "experiment": str(config["experiment"]),
        "model": model_name,
        "checkpoint_saved_from": saved_from,
        "checkpoint_file": checkpoint_file,
        "accuracy": metrics["accuracy"],
        "f1_macro": metrics["f1_macro"],
        "f1_weighted": metrics["f1_weighted"],
        "avg_loss": metrics["avg_loss"],
        "learning_rate": config["learning_rate"],
        "batch_size": config["batch_size"],
        "epochs": epochs_trained,
        "data_portion": config["portion"],
        **({"multi_label": True, "f1_micro": metrics["f1_micro"]} if metrics.get("multi_label") else {}),
        **extra,
    }


def _lr(value: float) -> str:
    """The published table's style: 1e-5, 2e-5, 1.5e-4 (the shortest exact e-notation), else %g."""
    text = next((f"{value:.{digits}e}" for digits in range(4) if float(f"{value:.{digits}e}") == value), f"{value:g}")
    return text.replace("e-0", "e-").replace("e+0", "e+")


MULTI_LABEL_NOTE = (
    "Multi-label rows: Accuracy is subset accuracy (every label of a text right), F1 the macro F1 over the "
    "labels at the thresholds chosen on validation."
)


def markdown_table(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [
            row["experiment"],
            row["model"],
            row["checkpoint_saved_from"],
            row["checkpoint_file"],
            f"{row['accuracy'] * 100:.2f}",
            f"{row['f1_macro'] * 100:.2f}",
            f"{row['avg_loss']:.2f}",
            _lr(row["learning_rate"]),
            str(row["batch_size"]),
            str(row["epochs"]),
            f"{row['data_portion'] * 100:.2f}",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if any(row.get("multi_label") for row in rows):
        lines += ["", MULTI_LABEL_NOTE]
    return "\n".join(lines) + "\n"


def write_results(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    (run_dir / "results.json").write_text(json.dumps(rows, indent=1))
    (run_dir / "results.md").write_text(markdown_table(rows))


def load_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise EmodrawError(f"{path}: no results.json (is {run_dir} a finished emodraw run folder?)")
    try:
        rows = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise EmodrawError(f"{path}: not valid JSON") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(ROW_KEYS) <= set(r) for r in rows):
        raise EmodrawError(f"{path}: not an emodraw results table")
    return rows


def report(run_dirs: Iterable[str | Path]) -> str:
    """One markdown table with the rows of every run, in the order given."""
    rows = [row for run_dir in run_dirs for row in load_rows(run_dir)]
    return markdown_table(rows)
