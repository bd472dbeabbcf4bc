"""--resume: a Trainer brought back to where its run stood after the last epoch whose state was saved."""

from __future__ import annotations

from emodraw.training.run_folder import read_metrics, write_metrics
from emodraw.training.selection import Selection
from emodraw.training.state import restore_state


def resume_trainer(trainer) -> None:
    """Weights, optimiser, schedule, RNGs, weight average, the best epoch so far and the history as they were
    after the last saved epoch; metrics.csv without the rows of later epochs (one that a kill interrupted
    after its metrics line was written)."""
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
    if trainer.main:
        write_metrics(trainer.run_dir, trainer.history)
        trainer.log(f"resuming {trainer.run_dir} after epoch {done}")
