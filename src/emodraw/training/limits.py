"""How many tokens a model can take, and --max-length clamped to it.

A --max-length beyond the model's position embeddings trains fine on short sentences, then every longer
text crashes the checkpoint (an index past the position table). It is clamped rather than refused: "cut
sentences at N tokens" with N too large means "cut them where the model must", and a preset or config
file written for a 512-position model then still works on a 128-position one. The clamped value is what
config.yaml, run.json and each checkpoint's emodraw.json record, so the checkpoint never asks for more."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from emodraw.checkpoint_integrity import max_positions

# transformers' "no limit" for tokenizers is int(1e30); real limits are far below this.
_NO_TOKENIZER_LIMIT = 1_000_000


def length_limits(model, tokenizer) -> dict[str, int]:
    """{"positions": usable positions, "tokenizer": its model_max_length}, each when known. The positions
    follow the same rule as loading a checkpoint (emodraw.checkpoint_integrity.max_positions), so a
    checkpoint never records a length its own load would clamp."""
    limits = {}
    positions = max_positions(model.config)
    if positions is not None:
        limits["positions"] = positions
    most = getattr(tokenizer, "model_max_length", None)
    if isinstance(most, int) and 0 < most < _NO_TOKENIZER_LIMIT:
        limits["tokenizer"] = most
    return limits


def usable_length(model, tokenizer) -> int | None:
    """The longest input, in tokens with the special ones, the model and its tokenizer take; None if unknown."""
    limits = length_limits(model, tokenizer)
    return min(limits.values()) if limits else None


def fit_max_length(config: Any, model, tokenizer, log: Callable[[str], None] | None = None) -> Any:
    """`config` (a TrainConfig or AdaptConfig) with max_length clamped to what the model takes, and one log
    line saying so when it was."""
    limits = length_limits(model, tokenizer)
    if not limits or config.max_length <= min(limits.values()):
        return config
    most = min(limits.values())
    if limits.get("positions") == most:
        why = f"the model has {most} positions"
    else:
        why = f"the model's tokenizer takes at most {most} tokens"
    if log is not None:
        log(f"--max-length {config.max_length}: {why}; using {most}")
    return dataclasses.replace(config, max_length=most)
