"""What happens around the epoch loop, as named events that the Trainer runs (in the manner of ultralytics'
trainer callbacks), at epoch granularity only: the training step's hot path (steps.py, CUDA-graph replay)
calls no Python hooks.

  on_fit_start(trainer)                              once, before the first epoch (after a resume's restore)
  on_epoch_end(trainer, epoch, row, val, improved)   after each epoch; `row` is its metrics.csv row, `val` its
                                                     validation metrics, `improved` whether it is the new best
  on_fit_end(trainer)                                once, after the last epoch, before the final evaluation

`default_callbacks` registers them in this order: metrics.csv, the checkpoints, the resumable state (files:
main process only), the tracker (--report-to), the log lines. The state comes last of the files: a run
killed before it is saved resumes from the save before (the epoch before, or a save inside this epoch:
epoch_progress) and does the rest of the epoch again. A full disk while writing them is one line naming the
file (training.storage).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from emodraw.checkpoints import save_checkpoint
from emodraw.config import TrainConfig
from emodraw.errors import ConfigError
from emodraw.results import saved_from_best
from emodraw.training import state
from emodraw.training.run_folder import append_metrics
from emodraw.training.storage import writing

EVENTS = ("on_fit_start", "on_epoch_end", "on_fit_end")


class Callbacks:
    def __init__(self):
        self.handlers: dict[str, list[Callable[..., None]]] = {event: [] for event in EVENTS}

    def add(self, event: str, handler: Callable[..., None]) -> None:
        if event not in self.handlers:
            raise ValueError(f"{event!r}: not an event (the events are {', '.join(EVENTS)})")
        self.handlers[event].append(handler)

    def run(self, event: str, *args: Any) -> None:
        for handler in self.handlers[event]:
            handler(*args)


def default_callbacks(config: TrainConfig, main: bool) -> Callbacks:
    callbacks = Callbacks()
    if main:
        callbacks.add("on_fit_start", log_run_start)
        callbacks.add("on_epoch_end", write_metrics_row)
        if config.save_checkpoints:
            callbacks.add("on_epoch_end", save_checkpoints)
        if config.save_state:
            callbacks.add("on_epoch_end", save_training_state)
    if config.report_to != "none":  # on every process, as Accelerate asks; it writes from the main one
        callbacks.add("on_fit_start", start_tracking)
        callbacks.add("on_epoch_end", track_epoch)
        callbacks.add("on_fit_end", end_tracking)
    if main:
        callbacks.add("on_epoch_end", log_epoch)
    return callbacks


# -- files -----------------------------------------------------------------------------------------
def write_metrics_row(trainer, epoch: int, row: dict[str, float], val: dict[str, Any], improved: bool) -> None:
    with writing(trainer.run_dir / "metrics.csv", trainer.run_dir):
        append_metrics(trainer.run_dir, row)


def checkpoint_name(trainer, kind: str) -> str:
    kind_of_task = "multilabel" if trainer.config.multi_label else "multiclass"
    return f"{kind_of_task}_{trainer.config.experiment_tag}_{trainer.backbone.short_name}_{kind}_checkpoint"


def checkpoint_metadata(trainer, epoch: int, val: dict[str, Any], saved_from: str) -> dict[str, Any]:
    multi_label = {"thresholds": val["thresholds"]} if "thresholds" in val else {}  # chosen on validation
    return {
        "name": trainer.run_dir.name,
        "epoch": epoch,
        "saved_from": saved_from,
        "label_names": trainer.splits.label_names,
        "validation": {k: val[k] for k in ("accuracy", "f1_macro", "f1_micro", "f1_weighted", "avg_loss") if k in val},
        "config": trainer.config.to_dict(),
        "backbone": trainer.backbone.short_name,
        "data": trainer.data_info,
        **multi_label,
    }


def save_checkpoints(trainer, epoch: int, row: dict[str, float], val: dict[str, Any], improved: bool) -> None:
    """The epoch's checkpoint (the one before removed, unless --keep-every-epoch) and, if the epoch is the new
    best, the best one; of the weight average with --ema-decay."""
    folder = trainer.run_dir / "checkpoints"
    model = trainer.accelerator.unwrap_model(trainer.model)
    with trainer.averaged():
        last = folder / checkpoint_name(trainer, f"epoch{epoch}")
        with writing(last, trainer.run_dir):
            save_checkpoint(last, model, trainer.tokenizer, checkpoint_metadata(trainer, epoch, val, f"Epoch {epoch}"))
        if not trainer.config.keep_every_epoch:
            for old in folder.glob(checkpoint_name(trainer, "epoch*")):
                if old != last and old.is_dir():
                    shutil.rmtree(old)
        if improved:
            saved_from = saved_from_best(trainer.config.checkpoint_rule)
            best = checkpoint_metadata(trainer, epoch, val, saved_from)
            with writing(folder / checkpoint_name(trainer, "best"), trainer.run_dir):
                save_checkpoint(folder / checkpoint_name(trainer, "best"), model, trainer.tokenizer, best)


def save_training_state(trainer, epoch: int, row: dict[str, float], val: dict[str, Any], improved: bool) -> None:
    write_training_state(trainer, {"epoch": epoch})


def write_training_state(trainer, progress: dict[str, Any]) -> None:
    """The resumable state as it is now; `progress` says where (epoch_progress also saves inside an epoch)."""
    # state.save_state is looked up at each call: tests/helpers/kill_during_train.py wraps it to kill right after.
    with writing(trainer.run_dir / state.STATE_DIR, trainer.run_dir):
        state.save_state(
            trainer.run_dir,
            model=trainer.accelerator.unwrap_model(trainer.model),
            optimizer=trainer.optimizer,
            scheduler=trainer.scheduler,
            progress={**progress, **trainer.selection.progress()},
            extra_tensors=trainer.ema.state_tensors() if trainer.ema is not None else None,
        )


# -- tracking (--report-to) --------------------------------------------------------------------------
def tracker_names(config: TrainConfig) -> list[str] | None:
    """The trackers for Accelerate's `log_with`, once it is known that they are installed."""
    if config.report_to != "tensorboard":
        return None
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("--report-to tensorboard: needs TensorBoard (pip install 'emodraw[tensorboard]')") from None
    return ["tensorboard"]


def start_tracking(trainer) -> None:
    trainer.accelerator.project_configuration.logging_dir = str(trainer.run_dir / "logs")
    config = {k: v for k, v in trainer.config.to_dict().items() if v is not None}
    trainer.accelerator.init_trackers(trainer.run_dir.name, config=config)


def track_epoch(trainer, epoch: int, row: dict[str, float], val: dict[str, Any], improved: bool) -> None:
    trainer.accelerator.log({k: v for k, v in row.items() if k != "epoch"}, step=epoch)


def end_tracking(trainer) -> None:
    trainer.accelerator.end_training()


# -- log lines ---------------------------------------------------------------------------------------
def log_run_start(trainer) -> None:
    cfg, splits = trainer.config, trainer.splits
    trainer.log(f"run folder: {trainer.run_dir}")
    init = ", random init" if cfg.random_init else ""
    processes = f" x{trainer.world}" if trainer.world > 1 else ""
    trainer.log(
        f"model: {cfg.model} ({trainer.n_params / 1e6:.1f}M parameters{init}), "
        f"device: {trainer.device.type}{processes}, {'bf16' if trainer.bf16 else 'fp32'}; "
        f"train {len(splits.train)} / val {len(splits.val)} sentences, {trainer.steps_per_epoch} steps per epoch"
    )
    if cfg.train_on_val:
        trainer.log(
            f"--train-on-val: the {len(splits.val)} validation sentences are part of the training data, "
            "so the validation figures are on seen sentences; the last epoch is kept as the best checkpoint"
        )


def log_epoch(trainer, epoch: int, row: dict[str, float], val: dict[str, Any], improved: bool) -> None:
    trainer.log(
        f"epoch {epoch}/{trainer.config.epochs}  train_loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}  "
        f"val_acc {row['val_accuracy'] * 100:.2f}%  val_f1 {row['val_f1_macro'] * 100:.2f}%  "
        f"{row['seconds']:.1f}s{'  *best*' if improved else ''}"
    )
