"""--resume: a Trainer brought back to where its run stood at its last saved state: the end of an epoch, or
a step inside one (epoch_progress)."""

from __future__ import annotations

from emodraw.training.run_folder import read_metrics, write_metrics
from emodraw.training.selection import Selection
from emodraw.training.state import restore_state


def resume_trainer(trainer) -> None:
    """Weights, optimiser, schedule, RNGs, weight average, the best epoch so far and the history as they were
    at the last save, and the position inside the epoch when it was saved inside one; metrics.csv without the
    rows of later epochs (one that a kill interrupted after its metrics line was written)."""
    progress = restore_state(
        trainer.run_dir,
        model=trainer.accelerator.unwrap_model(trainer.model),
        optimizer=trainer.optimizer,
        scheduler=trainer.scheduler,
        ema=trainer.ema,
    )
    done = progress["epoch"]
    trainer.start_epoch = done + 1
    config = trainer.config
    trainer.selection = Selection.restored(config.checkpoint_rule, config.early_stopping_patience, progress)
    trainer.history = read_metrics(trainer.run_dir, up_to=done)
    where = f"after epoch {done}"
    if "within_epoch" in progress:  # saved inside the next epoch (--save-every-minutes)
        position = trainer.saves.resume_inside(progress["within_epoch"], trainer.run_dir)
        where = f"inside epoch {position.epoch}, after step {position.step} of {trainer.steps_per_epoch}"
    if trainer.main:
        write_metrics(trainer.run_dir, trainer.history)
        trainer.log(f"resuming {trainer.run_dir} {where}")
