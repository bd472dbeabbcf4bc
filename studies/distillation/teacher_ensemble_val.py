"""Validation score of each run and of their mean predicted distribution (what a distilled student learns).

    python studies/distillation/teacher_ensemble_val.py RUN1 RUN2 RUN3

Each run's best checkpoint scores the bundled validation split; the ensemble averages the softmax
probabilities. Validation only: this says whether the teachers together know more than one of them.
"""

import sys

import torch

from emodraw import Classifier
from emodraw.data.splits import bundled_data_dir, read_examples
from emodraw.metrics import compute_metrics, validation_score


def report(name: str, metrics: dict) -> None:
    score = 100 * validation_score(metrics["accuracy"], metrics["f1_macro"])
    print(f"{name}: val acc {100 * metrics['accuracy']:.2f} F1 {100 * metrics['f1_macro']:.2f} score {score:.2f}")


def main(runs: list[str]) -> None:
    val = read_examples(bundled_data_dir() / "val.txt")
    probabilities = []
    for run in runs:
        model = Classifier.load(run, device="cpu")
        logits = torch.from_numpy(model.logits(val.texts, batch_size=128))
        truth = [model.labels.index(label) for label in val.labels]
        report(run, compute_metrics(logits, truth, model.labels))
        probabilities.append(torch.softmax(logits, -1))
    report(
        "ensemble (mean probability)", compute_metrics(torch.stack(probabilities).mean(0).log(), truth, model.labels)
    )


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1:])
