"""The validation figures each run's checkpoint rules keep, read from its metrics.csv.

    python studies/sweeps/best_validation.py RUN [RUN ...]

One line per run and rule (lowest validation loss; highest validation (accuracy + macro F1) / 2), chosen
as training chooses (ties: the earliest epoch) by accuracy_runs.validation_at; the distillation scripts
compare their runs with it.
"""

import sys
from pathlib import Path

from emodraw.plots import read_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy_runs import validation_at  # noqa: E402


def main(runs: list[str]) -> None:
    for run in runs:
        for rule in ("val_loss", "val_score"):
            kept = validation_at(read_metrics(Path(run) / "metrics.csv"), rule)
            print(
                f"{run} rule={rule} epoch={int(kept['epoch'])} accuracy={100 * kept['accuracy']:.2f} "
                f"f1_macro={100 * kept['f1_macro']:.2f} loss={kept['loss']:.3f} score={100 * kept['score']:.2f}"
            )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
