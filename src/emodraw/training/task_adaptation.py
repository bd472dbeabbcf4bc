"""--adapt-epochs N, as a part of the Trainer (trainer.trainer_class puts it before Trainer in the class's
bases): fine-tuning starts from the backbone after N epochs of masked-LM training on this run's own
training sentences -- task-adaptive pretraining; the masked-LM training is emodraw.training.adaptation's."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from emodraw.errors import EmodrawError
from emodraw.modeling.backbones import Backbone, resolve_backbone
from emodraw.training.adaptation import ADAPT_MANIFEST, AdaptConfig, cached_adaptation
from emodraw.training.distributed import broadcast_path


class TaskAdaptation:
    def _backbone(self) -> Backbone:
        # Fine-tune the adapted weights; checkpoints keep the name of the backbone they started from.
        started = super()._backbone()
        adapted = resolve_backbone(str(self._adapted_backbone()))
        return dataclasses.replace(adapted, requested=self.config.model, short_name=started.short_name)

    def _adapted_backbone(self) -> Path:
        """The backbone after masked-LM training on this run's training sentences (seed 0 and
        `emodraw adapt`'s other defaults). The main process computes it, or finds it in the cache, and
        copies its report to RUN/adapt.json; the others wait for its path."""
        cfg = self.config
        path = None
        if self.main:
            options = AdaptConfig(
                model=cfg.model,
                epochs=cfg.adapt_epochs,
                max_length=cfg.max_length,
                precision=cfg.precision,
                device=cfg.device,
                threads=cfg.threads,
                progress=self.progress,
            )
            # With --train-on-val the validation sentences are training ones: no held-out report then.
            held_out = [] if cfg.train_on_val else self.splits.val.texts
            path = cached_adaptation(
                options, self.splits.train.texts, held_out, [str(self.splits.train.path)], log=self.log
            )
            shutil.copyfile(path / ADAPT_MANIFEST, self.run_dir / ADAPT_MANIFEST)
        path = broadcast_path(self.accelerator, path)
        if not (path / ADAPT_MANIFEST).is_file():  # another machine's cache, not shared with this one
            raise EmodrawError(
                f"--adapt-epochs: process {self.rank} cannot see the adapted backbone at {path}; "
                "with several machines, set EMODRAW_CACHE to a folder on storage they share"
            )
        return path
