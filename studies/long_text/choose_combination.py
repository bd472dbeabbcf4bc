#!/usr/bin/env python
"""Which way of combining a long text's windows (emodraw.inference.long_text.combine) finds the emotion of one
sentence hidden among neutral comments? A validation-only study (studies/long_text/README.md).

Each long text is one sentence of the bundled CARER validation split put at a random position among GoEmotions
comments whose only label is neutral (27), from its train and dev files (never test), until the text has
2-4 windows' worth of content tokens (256-512 at max length 128). It is scored against the CARER sentence's
label by: the sentence alone (the ceiling), "truncate" (the first window only), and "chunk" with each
combination: mean, max, confidence and evidence at several powers. Every window is scored once and each
combination reads the same scores.

The validation sentences are shuffled once and cut into two disjoint parts of -n sentences: the combination
is chosen on part A (the best (accuracy + macro F1) / 2) and its figures confirmed on part B. The cost is
measured end to end through Classifier.details on the first --timed texts of part A, chunk against truncate.

    python studies/long_text/choose_combination.py RUN --goemotions ../shared/data/goemotions
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from emodraw import Classifier
from emodraw.data.splits import bundled_data_dir, read_examples
from emodraw.inference.long_text import combine, windows
from emodraw.metrics import validation_score

NEUTRAL = "27"
POWERS = (0, 1, 2, 4, 8, 16)


def neutral_comments(folder: Path) -> list[str]:
    """GoEmotions comments whose only label is neutral, from train.tsv and dev.tsv (test.tsv is never read)."""
    out = []
    for name in ("train.tsv", "dev.tsv"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            text, labels, _id = line.split("\t")
            if labels == NEUTRAL and text.strip():
                out.append(text.strip())
    return out


class LongTexts:
    """Builds the long texts; remembers each piece's token count."""

    def __init__(self, tokenizer, neutral: list[str], window_tokens: int, rng: random.Random):
        self.tokenizer, self.neutral, self.window_tokens, self.rng = tokenizer, neutral, window_tokens, rng
        self.lengths: dict[str, int] = {}

    def n_tokens(self, text: str) -> int:
        if text not in self.lengths:
            self.lengths[text] = len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
        return self.lengths[text]

    def build(self, sentence: str) -> tuple[str, bool]:
        """(the long text, whether the sentence lies whole in its first window)."""
        target = self.rng.uniform(2.0, 4.0) * self.window_tokens
        pieces, total = [], self.n_tokens(sentence)
        while total < target:
            pieces.append(self.rng.choice(self.neutral))
            total += self.n_tokens(pieces[-1])
        at = self.rng.randint(0, len(pieces))
        before = sum(self.n_tokens(p) for p in pieces[:at])  # +-1 token per join: fine for this flag
        pieces.insert(at, sentence)
        return " ".join(pieces), before + self.n_tokens(sentence) <= self.window_tokens


def evaluate_part(clf, sentences, gold, builder, batch_size) -> tuple[dict, list[str], dict]:
    """Figures of every candidate on one part; also the long texts and a summary line's numbers."""
    built = [builder.build(s) for s in sentences]
    texts, in_first = [t for t, _ in built], np.array([f for _, f in built])
    encoded, owner = windows(clf.tokenizer, [*texts, ""], clf.max_length)
    probs = clf.activate(clf._encoded_logits(encoded.to(clf.device), batch_size))
    reference, probs, owner = probs[-1], probs[:-1], owner[:-1]
    n = len(texts)
    candidates = {
        "sentence alone (ceiling)": clf.probabilities(sentences, batch_size),
        "truncate": clf.probabilities(texts, batch_size, long_text="truncate"),
        "mean": combine(probs, owner, n, "mean"),
        "max": combine(probs, owner, n, "max"),
    }
    for method in ("confidence", "evidence"):
        for power in POWERS:
            if method == "confidence" and power == 0:
                continue  # that is "mean"
            candidates[f"{method}, power {power:g}"] = combine(
                probs, owner, n, method, power=power, reference=reference
            )
    figures = {}
    for name, combined in candidates.items():
        pred = combined.argmax(axis=1)
        acc, f1 = 100 * float(np.mean(pred == gold)), 100 * float(f1_score(gold, pred, average="macro"))
        figures[name] = {
            "accuracy": acc,
            "macro_f1": f1,
            "score": validation_score(acc, f1),
            "accuracy_first_window": 100 * float(np.mean(pred[in_first] == gold[in_first])),
            "accuracy_later": 100 * float(np.mean(pred[~in_first] == gold[~in_first])),
        }
    per_text = np.bincount(owner)
    summary = {"windows": int(len(owner)), "min": int(per_text.min()), "max": int(per_text.max())}
    summary |= {"mean": float(per_text.mean()), "in_first_window": int(in_first.sum())}
    return figures, texts, summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run or checkpoint folder")
    p.add_argument("--goemotions", required=True, help="the GoEmotions folder (train.tsv, dev.tsv)")
    p.add_argument("-n", type=int, default=500, help="long texts per part (validation sentences, disjoint parts)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--timed", type=int, default=100, help="long texts of part A scored again to measure the cost")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()

    clf = Classifier.load(args.run, threads=args.threads)
    val = read_examples(bundled_data_dir() / "val.txt", labels=clf.labels)
    rng = random.Random(args.seed)
    order = rng.sample(range(len(val.texts)), 2 * args.n)
    builder = LongTexts(clf.tokenizer, neutral_comments(Path(args.goemotions)), clf.max_length - 2, rng)
    results, first_part_texts = {}, None
    for part, rows in (("A", order[: args.n]), ("B", order[args.n :])):
        sentences = [val.texts[i] for i in rows]
        gold = np.array([clf.labels.index(val.labels[i]) for i in rows])
        figures, texts, summary = evaluate_part(clf, sentences, gold, builder, args.batch_size)
        results[part] = {"summary": summary, "figures": figures}
        first_part_texts = first_part_texts or texts
    chunked = [name for name in results["A"]["figures"] if name not in ("sentence alone (ceiling)", "truncate")]
    chosen = max(chunked, key=lambda name: results["A"]["figures"][name]["score"])

    for part, result in results.items():
        s = result["summary"]
        print(
            f"\npart {part}: {args.n} long texts, {s['windows']} windows ({s['min']}-{s['max']} per text, mean "
            f"{s['mean']:.2f}); the sentence lies whole in the first window in {s['in_first_window']}\n"
        )
        print("| scoring | accuracy % | macro F1 % | accuracy %, sentence in the first window | after it |")
        print("|---|---|---|---|---|")
        for name, f in result["figures"].items():
            mark = " (chosen on A)" if name == chosen else ""
            print(
                f"| {name}{mark} | {f['accuracy']:.1f} | {f['macro_f1']:.1f} | {f['accuracy_first_window']:.1f} "
                f"| {f['accuracy_later']:.1f} |"
            )

    cost, timed = {}, first_part_texts[: args.timed]
    for mode in ("truncate", "chunk"):
        start = time.perf_counter()
        clf.details(timed, args.batch_size, long_text=mode)
        cost[mode] = (time.perf_counter() - start) / len(timed)
    print(
        f"\ncost, Classifier.details over {len(timed)} long texts of part A, batch {args.batch_size}, "
        f"{args.threads} threads, {clf.device.type}, bf16={clf.bf16}: truncate {1000 * cost['truncate']:.1f} ms "
        f"per text, chunk {1000 * cost['chunk']:.1f} ms per text ({cost['chunk'] / cost['truncate']:.2f}x)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"chosen": chosen, "parts": results, "seconds_per_text": cost}, indent=1)
        )


if __name__ == "__main__":
    main()
