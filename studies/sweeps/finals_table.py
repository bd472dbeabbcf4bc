"""The finals tables of the accuracy study (studies/) from finished run folders (one per seed): the test scores of the
checkpoint each run's rule kept, per-class F1, the last epoch's scores, and mean ± population std.

    python studies/sweeps/finals_table.py RUN [RUN ...]

Also prints each run's validation score at the kept epoch, for comparing seeds across recipes.
"""

import json
import statistics
import sys
from pathlib import Path

import yaml

from emodraw.plots import read_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy_runs import validation_at  # noqa: E402

LABELS = ("sadness", "joy", "love", "anger", "fear", "surprise")


def main(runs: list[str]) -> None:
    print(
        "| seed | epoch kept | test accuracy | test macro F1 | weighted F1 | avg loss | F1 "
        + " | ".join(LABELS)
        + " | last epoch: acc / F1 |"
    )
    print("|" + "---|" * 13)
    tests, notes = [], []
    for run in map(Path, runs):
        config = yaml.safe_load((run / "config.yaml").read_text())
        evaluation = json.loads((run / "evaluation.json").read_text())
        best, last = evaluation["best"], evaluation["last"]
        if best.get("split") != "test":
            sys.exit(f"{run}: scored on {best.get('split')}, not test")
        history = read_metrics(run / "metrics.csv")
        # a run trained on validation keeps its last epoch (nothing held out to choose on)
        kept = validation_at(
            history[-1:] if config.get("train_on_val") else history, config.get("select_by", "val_loss")
        )
        f1 = " | ".join(f"{100 * best['per_class'][label]['f1']:.2f}" for label in LABELS)
        print(
            f"| {config['seed']} | {int(kept['epoch'])} | "
            f"{100 * best['accuracy']:.2f} | {100 * best['f1_macro']:.2f} | "
            f"{100 * best['f1_weighted']:.2f} | {best['avg_loss']:.3f} | {f1} | "
            f"{100 * last['accuracy']:.2f} / {100 * last['f1_macro']:.2f} |"
        )
        tests.append(best)
        notes.append(f"seed {config['seed']}: validation score at the kept epoch {100 * kept['score']:.2f}")
    mean_std = {
        k: (100 * statistics.mean(t[k] for t in tests), 100 * statistics.pstdev(t[k] for t in tests))
        for k in ("accuracy", "f1_macro", "f1_weighted")
    }
    cells = " | ".join(
        f"**{m:.2f} ± {s:.2f}**" if k != "f1_weighted" else f"{m:.2f} ± {s:.2f}" for k, (m, s) in mean_std.items()
    )
    print(f"| **mean ± std** | | {cells} |" + " |" * 8)
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
