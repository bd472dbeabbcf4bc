#!/usr/bin/env python
"""The figures behind long_text's constants (studies/long_text/README.md): how long CARER validation sentences
and neutral GoEmotions comments are in tokens and characters per token (the overlap, MAX_CHARS_PER_TOKEN), what
tokenising a text of millions of characters costs (why such a text is refused before it is tokenised), and how
long a text at the bound of MAX_WINDOWS windows takes to score; and what the model says of an empty text and of
neutral comments (the reference of "evidence").

    python studies/long_text/measure_bounds.py RUN --goemotions ../shared/data/goemotions
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from pathlib import Path

import numpy as np

from emodraw import Classifier
from emodraw.data.splits import bundled_data_dir, read_examples
from emodraw.errors import DataError
from emodraw.inference.long_text import MAX_WINDOWS, default_stride, max_tokens, windows


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run or checkpoint folder")
    p.add_argument("--goemotions", required=True, help="the GoEmotions folder (train.tsv, dev.tsv)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    clf = Classifier.load(args.run, threads=args.threads)
    tok = clf.tokenizer
    window = clf.max_length - 2
    stride = default_stride(window)

    sentences = read_examples(bundled_data_dir() / "val.txt").texts
    neutral = []
    for name in ("train.tsv", "dev.tsv"):
        for line in (Path(args.goemotions) / name).read_text(encoding="utf-8").splitlines():
            text, labels, _ = line.split("\t")
            if labels == "27":
                neutral.append(text)
    for what, texts in (("CARER validation sentences", sentences), ("neutral GoEmotions comments", neutral)):
        ids = tok(texts, add_special_tokens=False, verbose=False)["input_ids"]
        n = np.array([len(x) for x in ids])
        chars = sum(len(t) for t in texts) / n.sum()
        print(
            f"{what}: {len(texts)}, tokens median {np.median(n):.0f}, 95th percentile {np.percentile(n, 95):.0f}, "
            f"<= {stride} tokens (the overlap): {100 * np.mean(n <= stride):.1f} %; {chars:.2f} characters per token"
        )

    empty = clf.probabilities([""])[0]
    print("the empty text:", ", ".join(f"{label} {p:.3f}" for label, p in zip(clf.labels, empty)))
    labels = clf.probabilities(neutral[:2000], 64).argmax(axis=1)
    counts = np.bincount(labels, minlength=len(clf.labels))
    print("the first 2000 neutral comments, alone:", ", ".join(f"{n} {c}" for n, c in zip(clf.labels, counts)))

    bound = max_tokens(window, stride)
    print(f"window {window} content tokens, overlap {stride}: {MAX_WINDOWS} windows cover {bound} tokens")
    words = "i am the about delay we it was today report meeting train office table paper window street morning"
    rng = random.Random(0)
    huge = " ".join(rng.choice(words.split()) for _ in range(1_000_000))
    before, start = peak_mb(), time.perf_counter()
    try:
        windows(tok, [huge], clf.max_length)
    except DataError as refused:
        print(f"{len(huge):,} characters, chunk: {1000 * (time.perf_counter() - start):.1f} ms to refuse: {refused}")
    print(f"  peak memory grew {peak_mb() - before:.0f} MB")
    before, start = peak_mb(), time.perf_counter()
    n_tokens = len(tok(huge, add_special_tokens=False, verbose=False)["input_ids"])
    print(
        f"{len(huge):,} characters, tokenised whole: {n_tokens:,} tokens in {time.perf_counter() - start:.1f} s, "
        f"peak memory grew {peak_mb() - before:.0f} MB"
    )

    at_bound = " ".join(tok.convert_ids_to_tokens(tok(huge, add_special_tokens=False)["input_ids"][:bound]))
    encoded, _ = windows(tok, [at_bound], clf.max_length)
    start = time.perf_counter()
    clf.details([at_bound], 64, long_text="chunk")
    print(f"a text at the bound ({len(encoded)} windows): {time.perf_counter() - start:.2f} s to score with chunk")


if __name__ == "__main__":
    main()
