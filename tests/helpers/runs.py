"""What tests read back from a finished run folder."""

from __future__ import annotations

import json
from pathlib import Path


def best_checkpoint(run: Path) -> Path:
    return next((Path(run) / "checkpoints").glob("*_best_checkpoint"))


def labels_of(checkpoint: Path) -> list[str]:
    """The label names in the model's output order, as its config.json gives them."""
    id2label = json.loads((Path(checkpoint) / "config.json").read_text())["id2label"]
    return [id2label[str(i)] for i in range(len(id2label))]
