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


def neutral_words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(FILLER) for _ in range(n)]


def keyword_sentence(rng: random.Random, label: str) -> str:
    words = neutral_words(rng, rng.randint(3, 10))
    words.insert(rng.randint(0, len(words)), rng.choice(KEYWORDS[label]))
    return " ".join(words)


def write_keyword_data(folder: Path, n_train: int = 600, n_eval: int = 120, seed: int = 0) -> Path:
    """train/val/test .txt files (text;label) of keyword sentences, the labels in turn."""
    rng = random.Random(seed)
    labels = list(KEYWORDS)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("val", n_eval), ("test", n_eval)):
        lines = [f"{keyword_sentence(rng, labels[i % len(labels)])};{labels[i % len(labels)]}" for i in range(n)]
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
