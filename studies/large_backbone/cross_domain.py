"""Text from elsewhere, reported only (never used to choose anything): emotion models scored on the GoEmotions
test comments that carry exactly one label, that label being one of the six emotion-dataset labels
(GoEmotions ids: anger 2, fear 14, joy 17, love 18, sadness 25, surprise 26) -- 638 Reddit comments.

    python studies/large_backbone/cross_domain.py ../shared/data/goemotions/test.tsv RUN [RUN ...] [--json OUT]

Prints accuracy and macro F1 per run (each run's best checkpoint), then their mean ± std.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

from emodraw import Classifier

SIX = {"2": "anger", "14": "fear", "17": "joy", "18": "love", "25": "sadness", "26": "surprise"}


def single_label_six(test_tsv: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for line in test_tsv.read_text(encoding="utf-8").splitlines():
        text, ids, _comment_id = line.split("\t")
        if ids in SIX:  # exactly one label (no comma), one of the six
            texts.append(text)
            labels.append(SIX[ids])
    return texts, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("test_tsv", type=Path)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    texts, labels = single_label_six(args.test_tsv)
    rows = []
    for run in args.runs:
        predicted = Classifier.load(run, device="cpu").predict(texts)
        rows.append(
            {
                "run": run,
                "accuracy": accuracy_score(labels, predicted),
                "f1_macro": f1_score(labels, predicted, average="macro", labels=sorted(SIX.values())),
            }
        )
        print(
            f"{run}: {len(texts)} comments, accuracy {rows[-1]['accuracy']:.2%}, macro F1 {rows[-1]['f1_macro']:.2%}"
        )
    for key in ("accuracy", "f1_macro"):
        values = [r[key] * 100 for r in rows]
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        print(f"{key}: {statistics.mean(values):.2f} ± {spread:.2f} over {len(values)} run(s)")
    if args.json:
        args.json.write_text(json.dumps({"comments": len(texts), "runs": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
