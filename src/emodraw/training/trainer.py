"""The training loop, as in the published runs: validate every epoch, keep the last epoch's checkpoint
and the best one, evaluate both on test at the end, write the results table.

One code path for 1..N processes: Hugging Face Accelerate sets up the process group and wraps the
model in DDP; every process takes its share of each *global* batch, so `batch_size` means the same
thing whatever the process count. Only the main process writes files.

`Trainer` is the epoch loop. Its collaborators: run_folder (the folder, run.json, metrics.csv), run_data (the splits),
optim (optimiser, schedule, step), selection (the best epoch, early stopping), callbacks (at each epoch's end:
metrics.csv, checkpoints, state, tracking, log lines), final_evaluation, run_lock (one process per run folder), limits
(--max-length within the model's positions), storage (a full disk as one line). Optional techniques are classes that
override a hook of Trainer's and call super() -- distillation.Distillation (--distill-from), task_adaptation.
TaskAdaptation (--adapt-epochs); `trainer_class` puts the ones a config asks for before Trainer in a class's bases.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from emodraw.checkpoints import find_checkpoints
from emodraw.config import TrainConfig, check_keys, resolve_config
from emodraw.console import log_stderr
from emodraw.errors import ConfigError, EmodrawError
from emodraw.hardware import set_threads, use_bf16
from emodraw.metrics import compute_metrics
from emodraw.modeling.backbones import Backbone, load_tokenizer, resolve_backbone
from emodraw.modeling.batching import Encoded, bucketed_batches, device_indices, encode, predict_logits
from emodraw.results import write_results
from emodraw.training.callbacks import default_callbacks, tracker_names
from emodraw.training.classifier_setup import build_model
from emodraw.training.distillation import Distillation
from emodraw.training.distributed import broadcast_path, gather_rows
from emodraw.training.epoch_progress import EpochSaves, epoch_bar, summed_over_processes
from emodraw.training.final_evaluation import evaluate_checkpoints, write_plots
from emodraw.training.limits import fit_max_length
from emodraw.training.optim import build_optimisation
from emodraw.training.resume import resume_trainer
from emodraw.training.run_data import describe_data, load_run_data
from emodraw.training.run_folder import (
    METRICS_COLUMNS,
    choose_run_dir,
    prepare_run_dir,
    write_run_manifest,
)
from emodraw.training.run_lock import RunLock
from emodraw.training.selection import Selection
from emodraw.training.storage import writing
from emodraw.training.task_adaptation import TaskAdaptation

__all__ = ["METRICS_COLUMNS", "RunResult", "Trainer", "choose_run_dir", "train", "trainer_class"]


@dataclass
class RunResult:
    run_dir: Path
    rows: list[dict[str, Any]]
    history: list[dict[str, float]]
    checkpoints: dict[str, Path] = field(default_factory=dict)

    @property
    def best_checkpoint(self) -> Path | None:
        return self.checkpoints.get("best")


class Trainer:
    """One run. `fit()` trains; `finish()` evaluates the checkpoints on test and writes the tables."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path | None = None,
        *,
        resume: bool = False,
        progress: bool | None = None,
        log: Callable[[str], None] = log_stderr,
    ):
        from accelerate import Accelerator

        self.config, self.log, self.resume = config, log, resume
        cpu_only = config.device == "cpu" or not torch.cuda.is_available()
        if config.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA GPU is visible to torch")
        # The logging folder is only known once the run folder is (callbacks.start_tracking); "." satisfies the check.
        self.accelerator = Accelerator(cpu=cpu_only, log_with=tracker_names(config), project_dir=".")
        self.main = self.accelerator.is_main_process
        self.world, self.rank = self.accelerator.num_processes, self.accelerator.process_index
        self.device = self.accelerator.device
        self.bf16 = use_bf16(config.precision, self.device)
        # validation/test batches: big on a GPU (each forward is launch-bound), 128 on a CPU (measured faster)
        self.eval_batch_size = config.eval_batch_size or (512 if self.device.type == "cuda" else 128)
        self.progress = (sys.stderr.isatty() if progress is None else progress) and self.main
        set_threads(config.threads)
        self.callbacks = default_callbacks(config, self.main)

        self.run_dir = broadcast_path(self.accelerator, run_dir or (choose_run_dir(config) if self.main else None))
        # Before anything touches the folder (prepare_run_dir cleans up after killed runs): one process per run.
        self.lock = RunLock.acquire(self.run_dir, log) if self.main else None
        try:
            self._set_up(config, resume, log)
        except BaseException:
            self.close()
            raise

    def _set_up(self, config: TrainConfig, resume: bool, log: Callable[[str], None]) -> None:
        if self.main:
            prepare_run_dir(self.run_dir, config, resume=resume)
        self.accelerator.wait_for_everyone()
        self.splits, audit = load_run_data(config, main=self.main, log=log)
        self.data_info = describe_data(self.splits.files)
        self.backbone = self._backbone()
        self.tokenizer = load_tokenizer(self.backbone, random_init=config.random_init)
        model = build_model(self.backbone, len(self.tokenizer), self.splits, config, self.device)
        self.config = config = fit_max_length(config, model, self.tokenizer, log if self.main else None)
        if self.main:  # after the clamp: run.json and config.yaml record the max_length used
            write_run_manifest(self.run_dir, config, self.data_info, self.device, self.world, self.bf16, audit)
        self.n_params = sum(p.numel() for p in model.parameters())
        self.model = self.accelerator.prepare_model(model)  # DDP-wrapped when there are several processes
        self.train_data = self._encode(self.splits.train)
        self.sentence_inputs = self._sentence_inputs()
        self.val_data = self._encode(self.splits.val)
        self.steps_per_epoch = len(self._epoch_batches(0))
        self.optimizer, self.scheduler, self.ema, self.step = build_optimisation(
            self.model,
            config,
            unwrapped=self.accelerator.unwrap_model(self.model),
            device=self.device,
            bf16=self.bf16,
            world=self.world,
            steps_per_epoch=self.steps_per_epoch,
            train_labels=self.splits.ids(self.splits.train),
            n_classes=len(self.splits.label_names),
            log=log,
        )
        self.history: list[dict[str, float]] = []
        self.start_epoch = 1
        self.saves = EpochSaves(config.save_every_minutes, self.accelerator, enabled=config.save_state)
        self.selection = Selection(config.checkpoint_rule, config.early_stopping_patience)

    # -- hooks of the optional techniques (each overrides one and calls super()) ------------------------
    def _backbone(self) -> Backbone:
        return resolve_backbone(self.config.model, self.config.revision)

    def _sentence_inputs(self) -> dict[str, torch.Tensor]:
        """Tensors with a row per training sentence, on the device; each step gets its batch's rows, by name."""
        return {}

    # -- data ------------------------------------------------------------------------------------------
    def _encode(self, examples) -> Encoded:
        labels = self.splits.ids(examples)
        return encode(self.tokenizer, examples.texts, labels, self.config.max_length).to(self.device)

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        # The order depends only on (seed, epoch): a resumed run sees the very same batches.
        rng = np.random.default_rng([self.config.seed, epoch])
        batches = bucketed_batches(self.train_data.lengths, self.config.batch_size, rng)
        if self.world > 1:  # every process needs at least one sentence of each global batch
            batches = [b for b in batches if len(b) >= self.world]
        return batches

    # -- the loop --------------------------------------------------------------------------------------
    def fit(self) -> list[dict[str, float]]:
        if self.resume:
            resume_trainer(self)
        self.callbacks.run("on_fit_start", self)
        with self.saves.stop_on_signals(self.log):  # Ctrl-C: save, then stop
            for epoch in range(self.start_epoch, self.config.epochs + 1):
                started = time.perf_counter()
                train_loss = self._train_epoch(epoch)  # sets self.position: where the epoch started
                with self.averaged():
                    val = self._validate()
                row = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val["avg_loss"],
                    "val_accuracy": val["accuracy"],
                    "val_f1_macro": val["f1_macro"],
                    "learning_rate": float(self.scheduler.get_last_lr()[0]),
                    "seconds": round(time.perf_counter() - started + self.position.seconds, 3),
                }
                improved = self.selection.update(epoch, val)
                self.history.append(row)
                self.callbacks.run("on_epoch_end", self, epoch, row, val, improved)
                self.accelerator.wait_for_everyone()
                if self.selection.should_stop:
                    if self.main:
                        self.log(self.selection.stop_message)
                    break
        return self.history

    def _train_epoch(self, epoch: int) -> float:
        self.model.train()
        batches = self._epoch_batches(epoch)
        self.position = at = self.saves.start(epoch)  # a resumed run may go on from inside this epoch
        loss_sum = torch.tensor(at.loss_sum, device=self.device)  # summed on the device: no sync per step
        seen = at.seen
        bar = epoch_bar(epoch, self.config.epochs, len(batches), at.step, self.progress)
        started = time.perf_counter()
        shares = [batch[self.rank :: self.world] for batch in batches]
        for step, (batch, rows, index) in enumerate(
            zip(batches, shares, device_indices(shares, self.device)), start=1
        ):
            if step <= at.step:
                continue
            inputs = self.train_data.batch(rows, index=index)
            labels = inputs.pop("labels")
            for name, values in self.sentence_inputs.items():
                inputs[name] = values.index_select(0, index)
            loss_sum += self.step(inputs, labels, len(batch))
            self.scheduler.step()
            seen += len(rows)
            if self.saves.due(step, len(batches)):
                spent = at.seconds + time.perf_counter() - started
                self.saves.save(self, dataclasses.replace(at, step=step, seconds=spent), loss_sum, seen)
            if self.progress:
                bar.update()
                if step % 20 == 0 or step == len(batches):  # reading the loss syncs with the GPU
                    rate = (seen - at.seen) * self.world / (time.perf_counter() - started)
                    bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", sent_s=f"{rate:.0f}")
        bar.close()
        totals = summed_over_processes(self.accelerator, loss_sum, seen)
        return float(totals[0] / totals[1])

    def _validate(self) -> dict[str, Any]:
        """Validation loss/accuracy/F1. Each process scores a share; the logits are gathered."""
        model = self.accelerator.unwrap_model(self.model)
        n = len(self.val_data)
        share = np.arange(self.rank, n, self.world)
        logits = predict_logits(model, self.val_data, self.eval_batch_size, self.device, self.bf16, indices=share)
        model.train()
        logits = gather_rows(self.accelerator, share, logits, n)
        # multi-label: the decision thresholds are chosen here, on validation, and saved with the checkpoint
        metrics = compute_metrics(
            logits,
            self.val_data.labels.cpu().numpy(),
            self.splits.label_names,
            per_label_thresholds=self.config.per_label_thresholds,
        )
        self.val_thresholds = metrics.get("thresholds")
        return metrics

    def averaged(self):
        """The weight average in the model while validating, saving or testing (--ema-decay)."""
        return self.ema.applied() if self.ema is not None else contextlib.nullcontext()

    # -- the end ---------------------------------------------------------------------------------------
    def finish(self) -> RunResult:
        """Evaluate the last and best checkpoints on test (validation if there is no test file)."""
        self.callbacks.run("on_fit_end", self)
        found = find_checkpoints(self.run_dir) if self.main else {}
        rows: list[dict[str, Any]] = []
        if self.main:
            rows, evaluation = evaluate_checkpoints(self, found)
            write_results(self.run_dir, rows)
            if self.config.plots and self.history:
                write_plots(self.run_dir, evaluation)
        self.accelerator.wait_for_everyone()
        return RunResult(self.run_dir, rows, self.history, found)

    def close(self) -> None:
        """Release the run folder (train() calls it at the end, also on error)."""
        if self.lock is not None:
            self.lock.release()


def trainer_class(config: TrainConfig) -> type[Trainer]:
    """Trainer, with the optional techniques `config` asks for before it in the class's bases."""
    techniques = [
        technique
        for technique, wanted in ((Distillation, config.distill_from), (TaskAdaptation, config.adapt_epochs))
        if wanted
    ]
    if not techniques:
        return Trainer
    return type("".join(t.__name__ for t in techniques) + "Trainer", (*techniques, Trainer), {})


def train(
    config: TrainConfig | None = None,
    *,
    config_file: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool | None = None,
    **overrides: Any,
) -> RunResult:
    """Train, validate every epoch, keep the last and best checkpoints, evaluate them on test.

    `train()` alone runs the offline default job; `train(experiment="3")` a published experiment;
    any TrainConfig field can be passed as a keyword. `resume=RUN_DIR` continues an interrupted run.
    """
    run_dir = None
    if resume is not None:
        run_dir = Path(resume)
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise EmodrawError(f"--resume {run_dir}: no config.yaml (not an emodraw run folder)")
        values = yaml.safe_load(saved.read_text()) or {}
        check_keys(values, str(saved))
        config = TrainConfig(**values)
    elif config is None:
        config = resolve_config(config_file, **overrides)
    elif overrides:
        check_keys(overrides, "option")
        config = dataclasses.replace(config, **overrides)
    trainer = trainer_class(config)(config, run_dir, resume=resume is not None, progress=progress)
    try:
        with writing(trainer.run_dir, trainer.run_dir):  # what the callbacks' own paths did not catch
            trainer.fit()
            return trainer.finish()
    finally:
        trainer.close()
