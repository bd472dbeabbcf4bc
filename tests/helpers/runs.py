"""What tests read back from a finished run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def best_checkpoint(run: Path) -> Path:
    return next((Path(run) / "checkpoints").glob("*_best_checkpoint"))


def labels_of(checkpoint: Path) -> list[str]:
    """The label names in the model's output order, as its config.json gives them."""
    id2label = json.loads((Path(checkpoint) / "config.json").read_text())["id2label"]
    return [id2label[str(i)] for i in range(len(id2label))]


def teacher_copy(run: Path, dest: Path) -> Path:
    """A copy of a finished run to use as a distillation teacher, without its soft_labels/ cache: a teacher
    writes its scores there, and a test of that cache needs a teacher that has scored nothing yet."""
    return Path(shutil.copytree(run, dest, ignore=shutil.ignore_patterns("soft_labels")))
