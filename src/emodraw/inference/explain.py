"""Word-level explanations by occlusion: each word's contribution is the score lost when it is left out.

The text and every variant with one word removed are scored in one batched call of a function
texts -> probabilities, so the same code explains a PyTorch model and an ONNX export alike:

    explain(classifier.probabilities, classifier.labels, "i am furious about the delay")
    # {"label": "anger", "explanation": [{"word": "i", "start": 0, "end": 1, "weight": 0.01,
    #   "weights": {"sadness": -0.002, ..., "anger": 0.01, ...}}, ..., {"word": "furious", ... "weight": 0.83 ...}]}

A positive weight: the word pushed the score up (without it the score drops); negative: it held it down.
Words are whitespace-separated tokens, so a word's punctuation goes with it ("delay!" is one word). A word
beyond the model's maximum length weighs about nothing when the text is truncated: the model never read it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from emodraw.errors import DataError

# One variant per word is scored: 256 words is about 300 BERT tokens, already past the 128 most models read,
# and costs 257 model inputs; a longer text would make one request hold the model for seconds.
MAX_EXPLAIN_WORDS = 256
DECIMALS = 6  # weights are differences of probabilities: 1e-6 is below any difference that matters
_WORD = re.compile(r"\S+")


def words_of(text: str) -> list[tuple[str, int, int]]:
    """The whitespace-separated words of `text` with their start and end character offsets (text[s:e] == w)."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def _without(text: str, start: int, end: int) -> str:
    """`text` without text[start:end] and one whitespace run beside it -- the one after the word, or before it
    for the last word -- so the words around it keep exactly one separator and no double space appears."""
    after = end
    while after < len(text) and text[after].isspace():
        after += 1
    if after < len(text):  # a word follows: drop the word and the whitespace up to it
        return text[:start] + text[after:]
    before = start
    while before > 0 and text[before - 1].isspace():
        before -= 1
    if before > 0:  # the last word: drop it and the whitespace before it (what follows it is kept)
        return text[:before] + text[end:]
    return text[:start] + text[end:]  # the only word: what is left is the text's surrounding whitespace


def occlusion_texts(text: str) -> tuple[list[tuple[str, int, int]], list[str]]:
    """The words of `text`, and the texts to score: [text, text without word 0, text without word 1, ...].

    A one-word text's only variant is the text without its word -- whitespace or "" -- which the tokenizers
    take as a sequence of special tokens only: the model's score for no words at all, the right baseline.
    More than MAX_EXPLAIN_WORDS words is a DataError (the server answers it 422)."""
    words = words_of(text)
    if len(words) > MAX_EXPLAIN_WORDS:
        raise DataError(
            "text", None, f"{len(words)} words; an explanation takes at most {MAX_EXPLAIN_WORDS} (one input per word)"
        )
    return words, [text, *(_without(text, start, end) for _, start, end in words)]


def attribution(words: Sequence[tuple[str, int, int]], probs: np.ndarray, labels: Sequence[str]) -> dict:
    """The predicted label (row 0's argmax) and each word's weights, from `probs` (1 + len(words), C): row 0
    the whole text's scores, row i + 1 the text's without word i. "weight" is the predicted label's loss
    without the word, "weights" the same for every label."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (1 + len(words), len(labels)):
        raise ValueError(f"probabilities of shape {probs.shape}; expected {(1 + len(words), len(labels))}")
    predicted = int(probs[0].argmax())
    lost = probs[0] - probs[1:]  # (words, C): what each label's score loses when the word is left out
    explanation = [
        {
            "word": word,
            "start": start,
            "end": end,
            "weight": round(float(row[predicted]), DECIMALS),
            "weights": {label: round(float(value), DECIMALS) for label, value in zip(labels, row)},
        }
        for (word, start, end), row in zip(words, lost)
    ]
    return {"label": labels[predicted], "explanation": explanation}


def explain(probabilities: Callable[[list[str]], np.ndarray], labels: Sequence[str], text: str) -> dict:
    """occlusion_texts and attribution around one batched call of `probabilities` (texts -> (N, C))."""
    words, texts = occlusion_texts(text)
    return attribution(words, probabilities(texts), list(labels))
