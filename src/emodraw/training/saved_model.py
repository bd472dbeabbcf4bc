"""A saved checkpoint loaded to be scored during training: the teachers of --distill-from and, at the end
of a run, its own last and best checkpoints.

Training builds on emodraw.checkpoints, not on emodraw.inference: the checkpoint is read by
`checkpoints.load_checkpoint` and scored by `modeling.batching`, as `Classifier.load(...)` does it, so the
scores are the ones `emodraw evaluate` reports for the folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emodraw.checkpoints import load_checkpoint
from emodraw.hardware import use_bf16
from emodraw.modeling.batching import encode, predict_logits


@dataclass
class SavedModel:
    path: Path  # the checkpoint (a run folder's best checkpoint when a run folder was named)
    model: Any
    tokenizer: Any
    labels: list[str]
    meta: dict[str, Any]  # the checkpoint's emodraw.json
    max_length: int
    device: torch.device
    bf16: bool

    @classmethod
    def load(cls, path: str | Path, *, device: torch.device, precision: str) -> SavedModel:
        """A checkpoint folder or a run folder (its best checkpoint), after checking its manifest."""
        loaded = load_checkpoint(path)
        return cls(
            loaded.path,
            loaded.model.to(device),
            loaded.tokenizer,
            loaded.labels,
            loaded.meta,
            loaded.max_length,
            device,
            use_bf16(precision, device),
        )

    def logits(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Raw scores (N, C) as float32, in the order of `texts`."""
        if len(texts) == 0:  # a process's share of very few sentences can be empty
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        encoded = encode(self.tokenizer, list(texts), max_length=self.max_length).to(self.device)
        return predict_logits(self.model, encoded, batch_size, self.device, self.bf16).numpy()
