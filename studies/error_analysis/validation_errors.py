"""Where the fine-tuned models go wrong on validation, and two cheap fixes tried on it (studies/error_analysis/,
round 7). Reads validation only; test is never loaded.

    python studies/error_analysis/validation_errors.py RUN [RUN ...]

For the kept ("best") checkpoint of each run folder it computes the validation logits, then prints:
1. each model's validation accuracy / macro F1 / score ((accuracy + macro F1) / 2);
2. how many of the models get each sentence wrong (shared errors = systematic, not seed noise), and the
   score of their ensemble (mean log-probabilities);
3. words the training split gives two labels about equally often (>= 50 sentences; the two most
   frequent labels each >= 35 %), and how much more often the errors contain one than all sentences do;
4. blending in a TF-IDF logistic regression (word 1-2-grams, fit on the training split): the change of
   each model's score at several weights;
5. per-class logit offsets chosen on one half of validation to maximise the score, judged on the other
   half (20 random halvings per model): the mean change on the held-out half.
"""

import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from scipy.special import log_softmax
from sklearn.metrics import f1_score

from emodraw import Classifier
from emodraw.data.splits import bundled_data_dir, read_examples
from emodraw.metrics import validation_score


def score(logp: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Accuracy, macro F1 and the validation score, in %. (Not evaluation.compute_metrics: the offset
    search below calls this ~10^5 times and needs only these two.)"""
    pred = logp.argmax(1)
    accuracy, f1 = 100 * np.mean(pred == y), 100 * f1_score(y, pred, average="macro")
    return accuracy, f1, validation_score(accuracy, f1)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def split_words(texts: list[str], labels: list[str], min_count: int = 50, min_share: float = 0.35) -> dict[str, tuple]:
    by_word: dict[str, Counter] = defaultdict(Counter)
    for text, label in zip(texts, labels):
        for word in words(text):
            by_word[word][label] += 1
    out = {}
    for word, counts in by_word.items():
        total = sum(counts.values())
        top = counts.most_common(2)
        if total >= min_count and len(top) == 2 and min(top[0][1], top[1][1]) >= min_share * total:
            out[word] = (total, top)
    return out


def fit_offsets(logp: np.ndarray, y: np.ndarray, grid=np.linspace(-1.5, 1.5, 31), sweeps: int = 3) -> np.ndarray:
    """Coordinate ascent on the validation score, one class offset at a time."""
    offsets = np.zeros(logp.shape[1])
    for _ in range(sweeps):
        for c in range(len(offsets)):
            best = (score(logp + offsets, y)[2], offsets[c])
            for value in grid:
                trial = offsets.copy()
                trial[c] = value
                s = score(logp + trial, y)[2]
                if s > best[0] + 1e-9:
                    best = (s, value)
            offsets[c] = best[1]
    return offsets


def main(runs: list[str]) -> None:
    train = read_examples(bundled_data_dir() / "train.txt")
    val = read_examples(bundled_data_dir() / "val.txt")
    logps, names, labels = [], [], None
    for run in map(Path, runs):
        checkpoint = sorted((run / "checkpoints").glob("*best_checkpoint"))[0]
        clf = Classifier.load(checkpoint, device="cpu", precision="fp32")
        labels = labels or list(clf.labels)
        logps.append(log_softmax(clf.logits(val.texts), axis=1))
        names.append(run.name)
    y = np.array([labels.index(label) for label in val.labels])

    print(
        "## 1. validation scores of the kept checkpoints (fp32)\n\n"
        "| run | accuracy | macro F1 | score |\n|---|---|---|---|"
    )
    for name, logp in zip(names, logps):
        print("| {} | {:.2f} | {:.2f} | {:.2f} |".format(name, *score(logp, y)))

    wrong = np.array([logp.argmax(1) != y for logp in logps])
    n_wrong = wrong.sum(0)
    k = len(logps)
    print(f"\n## 2. shared errors ({k} models)\n")
    print(
        "sentences wrong in exactly m models: "
        + ", ".join(f"m={m}: {int((n_wrong == m).sum())}" for m in range(1, k + 1))
    )
    majority = n_wrong > k / 2
    print(
        f"errors per model: {wrong.sum(1).tolist()}; wrong in more than half the models: {int(majority.sum())}; "
        f"in every model: {int((n_wrong == k).sum())}; in at least one: {int((n_wrong > 0).sum())}"
    )
    ensemble = sum(logps) / k
    print(
        "ensemble of the {} models (mean log-probabilities): {:.2f} / {:.2f} / score {:.2f}".format(
            k, *score(ensemble, y)
        )
    )

    split = split_words(train.texts, train.labels)
    has_split = np.array([bool(words(t) & split.keys()) for t in val.texts])
    print(
        f"\n## 3. words the training split labels two ways ({len(split)} words: "
        ">= 50 sentences, top two labels >= 35 % each)\n"
    )
    for word, (total, top) in sorted(split.items(), key=lambda item: -item[1][0])[:25]:
        print(f"- {word}: {total} sentences, " + ", ".join(f"{label} {n}" for label, n in top))
    print(
        f"\nvalidation sentences containing one: {100 * has_split.mean():.1f} %; "
        f"among the sentences more than half the models get wrong: {100 * has_split[majority].mean():.1f} %"
    )
    right = np.array([logp.argmax(1) == y for logp in logps]).mean(0)  # per sentence: share of models right
    print(
        f"mean accuracy of the models on the sentences with one: {100 * right[has_split].mean():.1f} %; "
        f"on the others: {100 * right[~has_split].mean():.1f} %"
    )

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    regression = LogisticRegression(C=10, max_iter=3000).fit(
        vectorizer.fit_transform(train.texts), [labels.index(label) for label in train.labels]
    )
    tfidf = np.log(regression.predict_proba(vectorizer.transform(val.texts)) + 1e-9)
    weights = (0.1, 0.2, 0.3, 0.5, 0.8)
    print(
        "\n## 4. blending a TF-IDF logistic regression (alone: {:.2f} / {:.2f} / score {:.2f})\n".format(
            *score(tfidf, y)
        )
    )
    print("| run | " + " | ".join(f"w={w}" for w in weights) + " |\n|---" + "|---" * len(weights) + "|")
    deltas = np.array([[score(logp + w * tfidf, y)[2] - score(logp, y)[2] for w in weights] for logp in logps])
    for name, row in zip(names, deltas):
        print(f"| {name} | " + " | ".join(f"{d:+.2f}" for d in row) + " |")
    print("| mean | " + " | ".join(f"{d:+.2f}" for d in deltas.mean(0)) + " |")

    print("\n## 5. per-class logit offsets fitted on half of validation, judged on the other half\n")
    rng = np.random.default_rng(0)
    gains_all = []
    for name, logp in zip(names, logps):
        gains = []
        for _ in range(10):
            order = rng.permutation(len(y))
            for fit_half, held_out in (
                (order[: len(y) // 2], order[len(y) // 2 :]),
                (order[len(y) // 2 :], order[: len(y) // 2]),
            ):
                offsets = fit_offsets(logp[fit_half], y[fit_half])
                gains.append(score(logp[held_out] + offsets, y[held_out])[2] - score(logp[held_out], y[held_out])[2])
        gains_all += gains
        print(f"- {name}: {np.mean(gains):+.2f} ± {np.std(gains):.2f}")
    print(f"- all: {np.mean(gains_all):+.2f} ± {np.std(gains_all):.2f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
