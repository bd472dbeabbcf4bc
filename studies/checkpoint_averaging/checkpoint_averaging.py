"""Round 8 of the accuracy study (issue 6): does averaging a run's epoch weights beat its best epoch?

For each run (trained with `--keep-every-epoch`), scores on validation, all through the same
evaluation path (emodraw.inference.evaluation, the CPU's default precision):
  - every single epoch; the incumbent is the one with the highest validation score, as the
    `offline-full` preset's `--select-by val_score` keeps;
  - the uniform average of epochs k..E for k = 1..E-1 (`emodraw average`), E the last epoch;
  - two candidate rules fixed before any run finished (studies/checkpoint_averaging/round8/PLAN.md):
    "avg-4-6", the average of epochs 4..6 (no selection), and "tail-by-val", the tail average k..E
    with the highest validation score (choosing among E options, as the incumbent does among epochs).
Decision (validation only, PLAN.md): a rule is adopted if its mean validation score over the runs is at
least 0.2 pt above the incumbent's. With --test, the incumbent and both rules' picks are then scored on
test once each, for the record.

    python studies/checkpoint_averaging/checkpoint_averaging.py runs/r8-seed1 runs/r8-seed2 runs/r8-seed3 --test

Averaged checkpoints are written to a temporary folder and deleted, unless --keep DIR.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from emodraw.average import average_checkpoints
from emodraw.checkpoints import epoch_checkpoints
from emodraw.inference.evaluation import evaluate
from emodraw.metrics import validation_score

FIXED = (4, 6)  # the pre-registered fixed window, epochs 4..6 of the 6-epoch preset
MARGIN = 0.2  # points of validation score a rule must gain on the incumbent (seed noise is 0.2-0.3)


def score(checkpoint: Path, split: str) -> dict:
    m = evaluate(checkpoint, split=split)
    return {
        "accuracy": 100 * m["accuracy"],
        "f1_macro": 100 * m["f1_macro"],
        "score": 100 * validation_score(m["accuracy"], m["f1_macro"]),
    }


def study_run(run: Path, work: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"{run.name}-", dir=work))  # runs may share a name
    epochs = epoch_checkpoints(run)
    last = max(epochs)
    if sorted(epochs) != list(range(1, last + 1)):
        raise SystemExit(f"{run}: epochs {sorted(epochs)} kept; train with --keep-every-epoch")
    singles = {e: score(path, "val") for e, path in epochs.items()}
    tails, tail_paths = {}, {}
    for k in range(1, last):
        out = work / f"avg{k}-{last}"
        average_checkpoints([epochs[e] for e in range(k, last + 1)], out)
        tails[k], tail_paths[k] = score(out, "val"), out
    tails[last], tail_paths[last] = singles[last], epochs[last]
    incumbent = max(singles, key=lambda e: singles[e]["score"])  # ties: the earlier epoch, as training keeps
    chosen_k = max(tails, key=lambda k: (tails[k]["score"], -k))  # ties: the longer window
    return {
        "run": run,
        "singles": singles,
        "tails": tails,
        "incumbent": incumbent,
        "chosen_k": chosen_k,
        "paths": {
            "incumbent": epochs[incumbent],
            "avg-4-6": tail_paths[FIXED[0]],
            "tail-by-val": tail_paths[chosen_k],
        },
    }


def fmt(s: dict) -> str:
    return f"{s['accuracy']:.2f} / {s['f1_macro']:.2f} ({s['score']:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--test", action="store_true", help="then score the incumbent and both rules' picks on test")
    parser.add_argument("--keep", type=Path, help="keep the averaged checkpoints in this folder")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="ckpt-avg-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = [study_run(run, work) for run in args.runs]
        print("## Validation: accuracy / macro F1 (score), every epoch and every tail average\n")
        for r in results:
            print(f"### {r['run']}\n\n| k | epoch k alone | average of epochs k..last |\n|---|---|---|")
            for e in sorted(r["singles"]):
                print(f"| {e} | {fmt(r['singles'][e])} | {fmt(r['tails'][e])} |")
            print(f"\nincumbent: epoch {r['incumbent']}; tail-by-val: k = {r['chosen_k']}\n")
        rules = {
            "incumbent": lambda r: r["singles"][r["incumbent"]],
            "avg-4-6": lambda r: r["tails"][FIXED[0]],
            "tail-by-val": lambda r: r["tails"][r["chosen_k"]],
        }
        print(
            "## Decision (validation score, mean over runs)\n\n"
            "| rule | per run | mean | vs incumbent | adopted |\n|---|---|---|---|---|"
        )
        base = statistics.mean(rules["incumbent"](r)["score"] for r in results)
        for name, pick in rules.items():
            values = [pick(r)["score"] for r in results]
            mean = statistics.mean(values)
            verdict = "—" if name == "incumbent" else ("yes" if mean >= base + MARGIN else "no")
            print(
                f"| {name} | {', '.join(f'{v:.2f}' for v in values)} | {mean:.2f} | {mean - base:+.2f} | {verdict} |"
            )
        if args.test:
            print(
                "\n## Test, read once (accuracy / macro F1)\n\n"
                "| rule | per run | mean accuracy | mean macro F1 |\n|---|---|---|---|"
            )
            for name in rules:
                scores = [score(r["paths"][name], "test") for r in results]
                acc = [s["accuracy"] for s in scores]
                f1 = [s["f1_macro"] for s in scores]
                sd = statistics.pstdev
                print(
                    f"| {name} | {'; '.join(f'{a:.2f} / {f:.2f}' for a, f in zip(acc, f1))} | "
                    f"{statistics.mean(acc):.2f} ± {sd(acc):.2f} | {statistics.mean(f1):.2f} ± {sd(f1):.2f} |"
                )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
