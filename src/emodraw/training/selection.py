"""Which epoch is the best one (its checkpoint is kept as `..._best_checkpoint`), and when to stop early.

Rules (TrainConfig.checkpoint_rule):
  val_loss   the epoch with the lowest validation loss
  val_score  the epoch with the highest validation (accuracy + macro F1) / 2
  last       every epoch supersedes the one before (validation is in the training data: nothing is held out)
Early stopping: after `patience` epochs in a row that are not better than the best (0: never).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from emodraw.metrics import validation_score

RULES = ("val_loss", "val_score", "last")


@dataclass
class Selection:
    rule: str
    patience: int = 0
    best: float | None = None  # the best epoch's loss (val_loss) or score (val_score); unused under "last"
    best_epoch: int = 0  # 0: no epoch yet
    bad_epochs: int = 0  # epochs since the best one

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"selection rule {self.rule!r}: expected one of {', '.join(RULES)}")
        if self.best is None:  # worse than anything, so the first epoch is better (unless its loss is NaN)
            self.best = math.inf if self.rule == "val_loss" else -math.inf

    def update(self, epoch: int, val: dict[str, Any]) -> bool:
        """Take in epoch's validation figures (avg_loss, accuracy, f1_macro); True when it is the new best."""
        if self.rule == "last":
            self.best_epoch, self.bad_epochs = epoch, 0
            return True
        if self.rule == "val_loss":
            value = val["avg_loss"]
            improved = value < self.best
        else:
            value = validation_score(val["accuracy"], val["f1_macro"])
            improved = value > self.best
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return bool(self.patience) and self.bad_epochs >= self.patience

    @property
    def stop_message(self) -> str:
        measure = "loss" if self.rule == "val_loss" else "score"
        return f"early stopping: no better validation {measure} for {self.bad_epochs} epochs"

    # -- in the saved training state -----------------------------------------------------------
    # The state's keys are older than this class: `best_loss` is the selection value with lower better --
    # the loss, minus the score, or minus the best epoch under "last". Written and read in that meaning, so
    # states of earlier versions resume and states of this one resume there too.
    def progress(self) -> dict[str, Any]:
        legacy = {"val_loss": self.best, "val_score": -self.best, "last": -float(self.best_epoch)}[self.rule]
        return {"best_loss": legacy, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    @classmethod
    def restored(cls, rule: str, patience: int, progress: dict[str, Any]) -> Selection:
        best = {"val_loss": progress["best_loss"], "val_score": -progress["best_loss"]}.get(rule)
        return cls(rule, patience, best, int(progress["best_epoch"]), int(progress["bad_epochs"]))
