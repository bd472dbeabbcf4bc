"""Texts longer than the model's maximum length, scored whole (`long_text="chunk"`): cut into overlapping windows
of the maximum length, score every window in one batched pass, combine each text's windows into one row. The
measurements behind the choices below are in studies/long_text/README.md.

Cutting (`windows`). Each text is tokenised once without special tokens and without truncation; its content
tokens are cut into windows of `max_length - n_special` tokens, each framed with the tokenizer's own special
tokens ([CLS] x [SEP] for BERT and ALBERT, <s> x </s> for RoBERTa and MPNet; read off the tokenizer, since
transformers 5's fast tokenizers have no build_inputs_with_special_tokens). Consecutive windows share `stride`
tokens, a quarter of the window by default (126 // 4 = 31 at max length 128): a sentence no longer than the
overlap -- most CARER sentences -- lies whole inside some window wherever the cuts fall, for a third more
windows than cutting without overlap, where half a window would double them. The last window ends at the
text's end, so every window of a long text is full length. The tokenizer's own
`return_overflowing_tokens=True, stride=...` gives the same windows but the last, which it leaves as the
remainder -- as short as one token, a window of almost no context that would weigh as much as the others; and
it materialises every window of a text before any bound can be checked. A text that fits is one window,
exactly what emodraw.modeling.batching.encode gives it.

The bound. A text that needs more than MAX_WINDOWS windows (max_tokens(): 6,111 tokens at max length 128) is
refused with a one-line DataError rather than partly scored: "chunk" tells the caller that nothing was
truncated, so scoring only the first windows would be a silent lie; "truncate" takes any length. A text of
more than MAX_CHARS_PER_TOKEN characters per token of that bound is refused before it is tokenised, since
tokenising a text of millions of characters alone takes hundreds of megabytes.

Combining (`combine`). "mean" averages the windows' probabilities. "max" takes each label's largest
probability over the windows (renormalised to sum to 1 for a single-label model). "confidence" weights each
window by its confidence (1 - its entropy / the largest entropy possible: 0 for a uniform row, 1 for a certain
one) to the power POWER. "evidence", the default, multiplies that weight by how far the window is from the
model's answer to an empty text (total variation distance): a model trained without a neutral class answers
"nothing" with some emotion, often confidently, and a neutral passage gets that same answer -- confident, but
no evidence, so it must not drown the one passage that says something else. DEFAULT_METHOD and POWER were
chosen on validation data only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emodraw.errors import DataError
from emodraw.modeling.batching import Encoded, pad_token_id, padded_ids

MAX_WINDOWS = 64
# English text has ~4-5 characters per token (studies/long_text/README.md); 16 leaves room for URLs, numbers and
# odd spacing
MAX_CHARS_PER_TOKEN = 16
METHODS = ("mean", "max", "confidence", "evidence")
DEFAULT_METHOD = "evidence"
POWER = 8.0
_PROBE = "a"  # any text without special tokens in it


def default_stride(window: int) -> int:
    """The overlap of consecutive windows of `window` content tokens: a quarter of it (module docstring)."""
    return window // 4


def special_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after one sequence, read from what it does to a probe
    (transformers 5's fast tokenizers have no build_inputs_with_special_tokens)."""
    framed = tokenizer(_PROBE, add_special_tokens=True, return_special_tokens_mask=True)
    ids, special = framed["input_ids"], framed["special_tokens_mask"]
    content = [i for i, flag in enumerate(special) if not flag]
    plain = tokenizer(_PROBE, add_special_tokens=False)["input_ids"]
    if not content or ids[content[0] : content[-1] + 1] != plain:
        raise ValueError(f"{type(tokenizer).__name__}: special tokens are not a prefix and a suffix of a sequence")
    return ids[: content[0]], ids[content[-1] + 1 :]


def window_starts(n_tokens: int, window: int, stride: int) -> list[int]:
    """Where each window of `window` tokens starts in a text of `n_tokens`: every `window - stride` tokens, the
    last one moved to end at the text's end (so it is full length and overlaps the one before by >= stride)."""
    if n_tokens <= window:
        return [0]
    step = window - stride
    regular = -(-(n_tokens - window) // step)  # ceil: windows before the last
    return [i * step for i in range(regular)] + [n_tokens - window]


def max_tokens(window: int, stride: int) -> int:
    """The most content tokens MAX_WINDOWS windows cover."""
    return window + (MAX_WINDOWS - 1) * (window - stride)


def windows(tokenizer, texts: Sequence[str], max_length: int, stride: int | None = None) -> tuple[Encoded, np.ndarray]:
    """All windows of all texts as one Encoded (right-padded, nothing truncated) and `owner` (W,): the index in
    `texts` of each window's text. `stride`: tokens shared by consecutive windows (default_stride)."""
    prefix, suffix = special_frame(tokenizer)
    window = max_length - len(prefix) - len(suffix)
    if window < 2:
        raise ValueError(f"max_length {max_length} leaves {window} tokens per window after the special tokens")
    stride = default_stride(window) if stride is None else stride
    if not 0 <= stride < window:
        raise ValueError(f"stride {stride}: needs 0 <= stride < {window} (the window's content tokens)")
    bound = max_tokens(window, stride)
    limit = f"{MAX_WINDOWS} windows of {window} tokens"
    for i, text in enumerate(texts):
        if len(text) > bound * MAX_CHARS_PER_TOKEN:
            raise DataError(
                f"texts[{i}]",
                None,
                f"{len(text):,} characters; long-text chunk takes at most {bound * MAX_CHARS_PER_TOKEN:,} ({limit}, "
                f"{MAX_CHARS_PER_TOKEN} characters per token): split it, or use long-text truncate",
            )
    # verbose=False: no "longer than the model's maximum length" warning -- being longer is the point here
    content = tokenizer(
        list(texts),
        add_special_tokens=False,
        truncation=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )["input_ids"]
    rows, owner = [], []
    for i, tokens in enumerate(content):
        if len(tokens) > bound:
            raise DataError(
                f"texts[{i}]",
                None,
                f"{len(tokens):,} tokens; long-text chunk takes at most {bound:,} ({limit}): split it, or use "
                "long-text truncate",
            )
        for start in window_starts(len(tokens), window, stride):
            rows.append(prefix + tokens[start : start + window] + suffix)
            owner.append(i)
    return _padded(rows, tokenizer), np.asarray(owner, dtype=np.int64)


def _padded(rows: list[list[int]], tokenizer) -> Encoded:
    """Rows of token ids as one Encoded, as batching.encode builds it."""
    pad_id = pad_token_id(tokenizer)
    ids, lengths = padded_ids(rows, pad_id)
    return Encoded(ids, lengths, None, pad_id, np.zeros(len(rows), dtype=bool))


def confidence(probs: np.ndarray, multi_label: bool = False) -> np.ndarray:
    """(W,) in [0, 1]: 1 - entropy / the largest possible entropy (each label's yes/no, averaged, for a
    multi-label model): 0 for a window that cannot tell, 1 for a certain one."""
    p = np.clip(probs, 1e-12, 1.0)
    if multi_label:
        q = np.clip(1.0 - probs, 1e-12, 1.0)
        return 1.0 - (-(p * np.log(p) + q * np.log(q)) / np.log(2)).mean(axis=1)
    if probs.shape[1] < 2:
        return np.ones(len(probs))
    return 1.0 - (-(p * np.log(p)).sum(axis=1) / np.log(probs.shape[1]))


def departure(probs: np.ndarray, reference: np.ndarray, multi_label: bool = False) -> np.ndarray:
    """(W,) in [0, 1]: how far each window's probabilities are from `reference` (C,) -- the total variation
    distance, or each label's distance averaged for a multi-label model."""
    gap = np.abs(probs - np.asarray(reference, dtype=np.float64)[None, :])
    return gap.mean(axis=1) if multi_label else 0.5 * gap.sum(axis=1)


def combine(
    probs: np.ndarray,
    owner: np.ndarray,
    n_texts: int,
    method: str = DEFAULT_METHOD,
    *,
    power: float = POWER,
    reference: np.ndarray | None = None,
    multi_label: bool = False,
) -> np.ndarray:
    """(n_texts, C): each text's windows' probabilities (W, C) combined by `method` (module docstring);
    "evidence" needs `reference`, the model's probabilities for an empty text."""
    probs, owner = np.asarray(probs, dtype=np.float64), np.asarray(owner)
    counts = np.bincount(owner, minlength=n_texts) if len(owner) else np.zeros(n_texts, dtype=np.int64)
    if len(counts) > n_texts or (counts == 0).any():
        raise ValueError(f"owner must give each of the {n_texts} texts at least one window, and no other")
    if method == "max":
        out = np.full((n_texts, probs.shape[1]), -np.inf)
        np.maximum.at(out, owner, probs)
        return out if multi_label else out / out.sum(axis=1, keepdims=True)
    if method == "mean":
        weights = np.ones(len(probs))
    elif method in ("confidence", "evidence"):
        weights = confidence(probs, multi_label) ** power
        if method == "evidence":
            if reference is None:
                raise ValueError('method "evidence" needs the reference probabilities (an empty text\'s)')
            weights = weights * departure(probs, reference, multi_label)
        # the floor keeps a text whose windows all weigh nothing a plain mean instead of 0 / 0
        weights = np.maximum(weights, 1e-9)
    else:
        raise ValueError(f"unknown method {method!r}: {', '.join(METHODS)}")
    total = np.zeros((n_texts, probs.shape[1]))
    np.add.at(total, owner, probs * weights[:, None])
    return total / np.bincount(owner, weights=weights, minlength=n_texts)[:, None]


def chunked_probabilities(classifier, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """(N, C): each text's probabilities combined over its windows, all windows of all texts scored in one batched
    pass -- with an empty text after them, whose probabilities are the reference of "evidence". Uses only what
    both backends (PyTorch and ONNX) share."""
    texts = list(texts)
    encoded, owner = windows(classifier.tokenizer, [*texts, ""], classifier.max_length)
    probs = classifier.activate(classifier._encoded_logits(encoded.to(classifier.device), batch_size))
    reference, probs, owner = probs[-1], probs[:-1], owner[:-1]
    combined = combine(probs, owner, len(texts), reference=reference, multi_label=classifier.multi_label)
    return combined.astype(np.float32)
