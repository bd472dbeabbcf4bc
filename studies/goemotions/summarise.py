"""The GoEmotions table of docs/RESULTS.md from finished runs: each seed's best checkpoint on test (scored
once, at the thresholds chosen on dev), the mean ± std over seeds, per-label F1, and the training time.

    python studies/goemotions/summarise.py runs/goemotions/seed1 runs/goemotions/seed2 runs/goemotions/seed3
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
from pathlib import Path

ANCHOR = {"f1_macro": 0.46, "precision_macro": 0.40, "recall_macro": 0.63}  # BERT-base, Demszky et al. 2020


def load(run: Path) -> dict:
    best = json.loads((run / "evaluation.json").read_text())["best"]
    with open(run / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    config = json.loads((run / "run.json").read_text())
    return {
        "run": run,
        "test": best,
        "seed": config.get("config", {}).get("seed"),
        "epochs": len(rows),
        "train_seconds": sum(float(r["seconds"]) for r in rows),
        "val_f1": [float(r["val_f1_macro"]) for r in rows],
        "device": config.get("device", {}).get("name", "?"),
        "threads": config.get("device", {}).get("cpu_threads"),
    }


def mean_std(values: list[float]) -> str:
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values) * 100:.2f} ± {std * 100:.2f}"


def main(runs: list[str]) -> None:
    items = [load(Path(r)) for r in runs]
    keys = ("f1_macro", "f1_micro", "precision_macro", "recall_macro", "accuracy")
    print("| seed | macro F1 | micro F1 | macro precision | macro recall | subset accuracy | epochs | training s |")
    print("|---|---|---|---|---|---|---|---|")
    for item in items:
        cells = " | ".join(f"{item['test'][k] * 100:.2f}" for k in keys)
        print(f"| {item['seed']} | {cells} | {item['epochs']} | {item['train_seconds']:.0f} |")
    means = " | ".join(mean_std([i["test"][k] for i in items]) for k in keys)
    print(f"| mean ± std | {means} | | {statistics.mean(i['train_seconds'] for i in items):.0f} |")
    anchor = " | ".join(f"{ANCHOR[k] * 100:.2f}" if k in ANCHOR else "—" for k in keys)
    print(f"| BERT-base (published) | {anchor} | | |")
    print()
    print(
        "validation macro F1 per epoch: "
        + "; ".join(f"seed {i['seed']}: " + " → ".join(f"{v * 100:.1f}" for v in i["val_f1"]) for i in items)
    )
    print(
        "devices: " + "; ".join(f"seed {i['seed']}: {i['device']}, threads {i['threads'] or 'default'}" for i in items)
    )
    print()
    labels = list(items[0]["test"]["per_class"])
    print("| label | F1 (mean over seeds) | support |")
    print("|---|---|---|")
    for name in labels:
        f1 = statistics.mean(i["test"]["per_class"][name]["f1"] for i in items)
        print(f"| {name} | {f1 * 100:.1f} | {items[0]['test']['per_class'][name]['support']} |")


if __name__ == "__main__":
    main(sys.argv[1:])
