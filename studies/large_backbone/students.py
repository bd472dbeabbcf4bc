"""Students side by side: each run's best validation score (accuracy + macro F1) / 2 from its metrics.csv --
what the offline-distilled preset's checkpoint rule ranks epochs by, and what a teacher's soft labels are
adopted on -- and its best checkpoint's test accuracy, macro F1, love and surprise F1, with the mean ± std of
each group.

    python studies/large_backbone/students.py GROUP=RUN[,RUN...] [GROUP=RUN[,RUN...] ...]

A RUN is a run folder or one of results/ (metrics.csv, evaluation.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path


def best_val_score(run: Path) -> tuple[int, float, float, float]:
    """(epoch, score, accuracy, macro F1) of the epoch with the highest (accuracy + macro F1) / 2."""
    with (run / "metrics.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    row = max(rows, key=lambda r: float(r["val_accuracy"]) + float(r["val_f1_macro"]))
    acc, f1 = float(row["val_accuracy"]), float(row["val_f1_macro"])
    return int(row["epoch"]), (acc + f1) / 2, acc, f1


def test_scores(run: Path) -> dict[str, float]:
    best = json.loads((run / "evaluation.json").read_text(encoding="utf-8"))["best"]
    per_class = best["per_class"]
    return {
        "test_accuracy": best["accuracy"],
        "test_f1_macro": best["f1_macro"],
        "love_f1": per_class["love"]["f1"],
        "surprise_f1": per_class["surprise"]["f1"],
    }


def mean_std(values: list[float]) -> str:
    spread = statistics.pstdev(values)  # as the other summaries here (studies/goemotions/summarise.py)
    return f"{100 * statistics.mean(values):.2f} ± {100 * spread:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="+", metavar="GROUP=RUN[,RUN...]")
    args = parser.parse_args()
    for group in args.groups:
        name, _, runs = group.partition("=")
        rows = []
        for run in map(Path, runs.split(",")):
            epoch, score, acc, f1 = best_val_score(run)
            rows.append({"val_score": score, **test_scores(run)})
            print(
                f"{name} {run}: best epoch {epoch}, validation {100 * acc:.2f} / {100 * f1:.2f} "
                f"(score {100 * score:.2f}); test "
                + ", ".join(f"{k} {100 * v:.2f}" for k, v in rows[-1].items() if k != "val_score")
            )
        print(
            f"{name} mean ± std over {len(rows)}: "
            + ", ".join(f"{k} {mean_std([r[k] for r in rows])}" for k in rows[0])
        )


if __name__ == "__main__":
    main()
