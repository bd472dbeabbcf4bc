"""Data whose emotion lies in one word: each sentence is neutral filler with one emotion keyword put at a
random place. A tiny model learns it in seconds and then reads the keyword wherever it stands, which the
tests of explanations (the keyword weighs most) and of long texts (a keyword late in a text) rely on."""

from __future__ import annotations

import random
from pathlib import Path

from helpers.tiny_data import TINY_OPTIONS

KEYWORDS = {
    "sadness": ["sad", "miserable", "heartbroken", "gloomy"],
    "joy": ["happy", "delighted", "cheerful", "glad"],
    "love": ["love", "adore", "cherish", "beloved"],
    "anger": ["furious", "angry", "enraged", "irritated"],
    "fear": ["scared", "afraid", "terrified", "nervous"],
    "surprise": ["surprised", "amazed", "astonished", "shocked"],
}
FILLER = (
    "i am the about delay we it was today report meeting train office table paper window street morning "
    "with for and then after before on in at this that there some people work"
).split()
# The tiny model's options, with short windows (so a long text is a few sentences) and enough epochs to learn.
KEYWORD_OPTIONS = {**TINY_OPTIONS, "epochs": 20, "plots": False, "max_length": 32}
# The long-text tests' model: windows of 46 tokens, and training sentences as long as a window (long=True
# below). At TINY_OPTIONS' rate (3e-3, no warm-up) some seeds never learn the keywords.
LONG_TEXT_OPTIONS = {**KEYWORD_OPTIONS, "max_length": 48, "learning_rate": 1e-3, "warmup_ratio": 0.1}
# With long=True training also gets filler alone, labelled NEUTRAL_LABEL: a model that never saw a long passage
# without a keyword answers one arbitrarily -- often a confident emotion, which changed with the CPU's arithmetic
# (AVX2 against AVX-512) and so decided the long-text tests' filler windows.
NEUTRAL_LABEL = "sadness"


def neutral_words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(FILLER) for _ in range(n)]


def keyword_sentence(rng: random.Random, label: str, most: int = 10) -> str:
    words = neutral_words(rng, rng.randint(3, most))
    words.insert(rng.randint(0, len(words)), rng.choice(KEYWORDS[label]))
    return " ".join(words)


def write_keyword_data(folder: Path, n_train: int = 600, n_eval: int = 120, seed: int = 0, long: bool = False) -> Path:
    """train/val/test .txt files (text;label) of keyword sentences, the labels in turn. `long`: up to 36 filler
    words a sentence (else 10), and n_train // 6 more training sentences of filler alone (NEUTRAL_LABEL)."""
    rng = random.Random(seed)
    labels = list(KEYWORDS)
    most = 36 if long else 10
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("val", n_eval), ("test", n_eval)):
        lines = [f"{keyword_sentence(rng, labels[i % len(labels)], most)};{labels[i % len(labels)]}" for i in range(n)]
        if long and name == "train":
            lines += [f"{' '.join(neutral_words(rng, rng.randint(3, 40)))};{NEUTRAL_LABEL}" for _ in range(n // 6)]
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def multi_label_sentence(rng: random.Random, labels: list[str]) -> str:
    words = neutral_words(rng, rng.randint(3, 10))
    for label in labels:
        words.insert(rng.randint(0, len(words)), rng.choice(KEYWORDS[label]))
    return " ".join(words)


def write_multi_label_keyword_data(folder: Path, n_train: int = 600, n_eval: int = 120, seed: int = 0) -> Path:
    """GoEmotions' layout: train/dev/test.tsv without a header (text, comma-joined label ids, an id) and
    labels.txt (a name per line, the id its line number). A third of the sentences carry two emotions, in
    pairs that recur (a tiny model learns those in seconds; pairs drawn at random it does not)."""
    rng = random.Random(seed)
    names = list(KEYWORDS)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    for split, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        rows = []
        for i in range(n):
            ids = sorted({i % len(names), (i + 1 + i // 3) % len(names) if i % 3 == 0 else i % len(names)})
            text = multi_label_sentence(rng, [names[j] for j in ids])
            rows.append(f"{text}\t{','.join(map(str, ids))}\t{split}{i}")
        (folder / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder
