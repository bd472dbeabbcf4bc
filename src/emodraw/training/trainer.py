"""The training loop, as in the published runs: validate every epoch, keep the last epoch's checkpoint
and the lowest-validation-loss one, evaluate both on test at the end, write the results table.

One code path for 1..N processes: Hugging Face Accelerate sets up the process group and wraps the
model in DDP; every process takes its share of each *global* batch, so `batch_size` means the same
thing whatever the process count. Only the main process writes files.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from emodraw.checkpoints import find_checkpoints, save_checkpoint
from emodraw.config import TrainConfig, check_keys, resolve_config
from emodraw.console import log_stderr
from emodraw.data.audit import audit_splits
from emodraw.data.audit import problems as audit_problems
from emodraw.data.splits import Splits, load_splits
from emodraw.errors import ConfigError, EmodrawError
from emodraw.files import clean_leftovers, file_sha256
from emodraw.hardware import set_threads, use_bf16
from emodraw.metrics import compute_metrics, validation_score
from emodraw.modeling import fused_albert
from emodraw.modeling.backbones import load_classifier, load_tokenizer, resolve_backbone
from emodraw.modeling.batching import Encoded, bucketed_batches, device_indices, encode, predict_logits
from emodraw.modeling.speedups import compile_layers, fuse_activations
from emodraw.results import results_row, saved_from_best, write_results
from emodraw.training.distillation import teacher_targets
from emodraw.training.ema import WeightAverage
from emodraw.training.optim import class_weights, make_optimizer, parameter_groups
from emodraw.training.steps import EagerStep, GraphedStep

METRICS_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "val_f1_macro", "learning_rate", "seconds")


@dataclass
class RunResult:
    run_dir: Path
    rows: list[dict[str, Any]]
    history: list[dict[str, float]]
    checkpoints: dict[str, Path] = field(default_factory=dict)

    @property
    def best_checkpoint(self) -> Path | None:
        return self.checkpoints.get("best")


def default_run_name(config: TrainConfig) -> str:
    return config.name or f"{config.experiment_tag}_{resolve_backbone_name(config.model)}"


def resolve_backbone_name(model: str) -> str:
    try:
        return resolve_backbone(model).short_name
    except EmodrawError:
        return Path(model).name or "model"


def next_free_dir(base: Path) -> Path:
    """runs/<name>, then runs/<name>2, runs/<name>3, ... -- an earlier run is never overwritten."""
    if not base.exists():
        return base
    n = 2
    while (candidate := base.with_name(f"{base.name}{n}")).exists():
        n += 1
    return candidate


def choose_run_dir(config: TrainConfig) -> Path:
    if config.output_dir:
        path = Path(config.output_dir)
        if path.exists() and any(path.iterdir()):
            raise ConfigError(f"--output-dir {path}: not empty; pick a new folder or use --resume {path}")
        return path
    return next_free_dir(Path("runs") / default_run_name(config))


def _broadcast_path(accelerator, path: Path | None) -> Path:
    """Send the main process's run folder to every process (as bytes in a tensor, no pickling)."""
    if accelerator.num_processes == 1:
        return path
    from accelerate.utils import broadcast

    buffer = torch.zeros(4096, dtype=torch.uint8, device=accelerator.device)
    if accelerator.is_main_process:
        raw = str(path).encode()
        buffer[: len(raw)] = torch.tensor(list(raw), dtype=torch.uint8)
    buffer = broadcast(buffer, from_process=0).cpu()
    return Path(bytes(buffer[buffer != 0].tolist()).decode())


def describe_data(files: dict[str, Path | None]) -> dict[str, dict[str, Any]]:
    """Path, sha256 and line count of each data file: enough to know a rerun sees the same data."""
    out = {}
    for split, path in files.items():
        if path is not None:
            with open(path, "rb") as handle:
                lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
            out[split] = {"path": str(Path(path).resolve()), "sha256": file_sha256(path), "lines": lines}
    return out


def _git_commit() -> str | None:
    """The commit of the emodraw checkout this code runs from, if it runs from one (+ '-dirty')."""
    import subprocess

    folder = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        if not commit:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_run_manifest(
    run_dir: Path,
    config: TrainConfig,
    data: dict,
    device: torch.device,
    world: int,
    bf16: bool,
    data_audit: dict | None = None,
) -> None:
    """run.json: everything needed to rerun this run and to know what it ran on (and what its data repeats)."""
    from datetime import datetime, timezone

    from emodraw.checkpoints import versions
    from emodraw.hardware import cpu_name

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    manifest = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "git_commit": _git_commit(),
        "versions": versions(),
        "seed": config.seed,
        "config": config.to_dict(),
        "data": data,
        "data_audit": data_audit,
        "device": {
            "type": device.type,
            "name": device_name,
            "processes": world,
            "bf16": bf16,
            "cpu_threads": torch.get_num_threads(),
        },
    }
    path = run_dir / "run.json"
    if path.exists():  # a resumed run keeps the original and records each resumption
        previous = json.loads(path.read_text())
        previous.setdefault("resumed", []).append(manifest)
        manifest = previous
    path.write_text(json.dumps(manifest, indent=1, default=str))


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
        trackers = None
        if config.report_to == "tensorboard":
            try:
                import tensorboard  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "--report-to tensorboard: needs TensorBoard (pip install 'emodraw[tensorboard]')"
                ) from None
            trackers = ["tensorboard"]
        # The logging folder is only known once the run folder is (below); "." satisfies the check here.
        self.accelerator = Accelerator(cpu=cpu_only, log_with=trackers, project_dir=".")
        self.main = self.accelerator.is_main_process
        self.world, self.rank = self.accelerator.num_processes, self.accelerator.process_index
        self.device = self.accelerator.device
        self.bf16 = use_bf16(config.precision, self.device)
        # validation/test batches: big on a GPU (each forward is launch-bound), 128 on a CPU (measured faster)
        self.eval_batch_size = config.eval_batch_size or (512 if self.device.type == "cuda" else 128)
        self.progress = (sys.stderr.isatty() if progress is None else progress) and self.main
        set_threads(config.threads)

        self._prepare_run_dir(run_dir)
        self.splits: Splits = load_splits(
            config.data_dir,
            config.train_file,
            config.val_file,
            config.test_file,
            portion=config.portion,
            seed=config.seed,
            skip_invalid=config.skip_invalid,
        )
        for part in (self.splits.train, self.splits.val, self.splits.test):
            if part is not None and part.skipped and self.main:
                log(f"{part.path}: skipped {part.skipped} invalid line(s)")
        audit = None
        if self.main:  # before --train-on-val joins the splits: the audit is of the data as read
            audit = {k: v for k, v in audit_splits(self.splits, max_examples=0).items() if k != "conflicts"}
            problems = audit_problems(audit)
            if problems:
                log("data: " + "; ".join(problems))
        if config.train_on_val:
            self.splits = self.splits.with_val_in_training()
        self.data_info = describe_data(self.splits.files)
        if self.main:
            write_run_manifest(self.run_dir, config, self.data_info, self.device, self.world, self.bf16, audit)
        self._prepare_model()
        self.train_data = self._encode(self.splits.train)
        self.soft_targets = self._teacher_targets()
        self.val_data = self._encode(self.splits.val)
        self.steps_per_epoch = len(self._epoch_batches(0))
        self._prepare_optimisation()
        self.history: list[dict[str, float]] = []
        self.start_epoch, self.best_loss, self.best_epoch, self.bad_epochs = 1, math.inf, 0, 0
        if self.config.report_to != "none":
            self.accelerator.project_configuration.logging_dir = str(self.run_dir / "logs")
            self.accelerator.init_trackers(
                self.run_dir.name, config={k: v for k, v in config.to_dict().items() if v is not None}
            )

    # -- setup helpers -------------------------------------------------------------------------
    def _prepare_run_dir(self, run_dir: Path | None) -> None:
        self.run_dir = _broadcast_path(
            self.accelerator, run_dir or (choose_run_dir(self.config) if self.main else None)
        )
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "checkpoints").mkdir(exist_ok=True)
            clean_leftovers(self.run_dir / "checkpoints")  # what a killed run left half-written
            clean_leftovers(self.run_dir)
            if not self.resume:  # written first, so even a run that fails at once says what was asked
                (self.run_dir / "config.yaml").write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))
        self.accelerator.wait_for_everyone()

    def _prepare_model(self) -> None:
        cfg = self.config
        self.backbone = resolve_backbone(cfg.model)
        if cfg.adapt_epochs:
            # Fine-tune the adapted weights; checkpoints keep the name of the backbone they started from.
            adapted = resolve_backbone(str(self._adapted_backbone()))
            self.backbone = dataclasses.replace(adapted, requested=cfg.model, short_name=self.backbone.short_name)
        self.tokenizer = load_tokenizer(self.backbone, random_init=cfg.random_init)
        torch.manual_seed(cfg.seed)  # before the head exists: its initialisation follows the seed
        model = load_classifier(
            self.backbone,
            self.splits.label_names,
            random_init=cfg.random_init,
            vocab_size=len(self.tokenizer),
            pooling=cfg.pooling,
        )
        if cfg.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        fuse_activations(model)
        if cfg.fused_encoder and self.device.type == "cuda":  # on CPUs it measured no faster
            fused_albert.install(
                model,
                residual=cfg.fused_residual,
                attention=cfg.attention_backend,
                layernorm_grads=cfg.fused_layernorm_grads,
                bias_grads=cfg.fused_bias_grads,
            )
        if cfg.compile:
            compile_layers(model)
        self.n_params = sum(p.numel() for p in model.parameters())
        self.model = self.accelerator.prepare_model(model)  # DDP-wrapped when there are several processes

    def _adapted_backbone(self) -> Path:
        """--adapt-epochs: the backbone after masked-LM training on this run's training sentences
        (emodraw.training.adaptation; seed 0 and `emodraw adapt`'s other defaults). The main process computes it,
        or finds it in the cache, and copies its report to RUN/adapt.json; the others wait for its path."""
        from emodraw.training.adaptation import ADAPT_MANIFEST, AdaptConfig, cached_adaptation

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
        path = _broadcast_path(self.accelerator, path)
        if not (path / ADAPT_MANIFEST).is_file():  # another machine's cache, not shared with this one
            raise EmodrawError(
                f"--adapt-epochs: process {self.rank} cannot see the adapted backbone at {path}; "
                "with several machines, set EMODRAW_CACHE to a folder on storage they share"
            )
        return path

    def _prepare_optimisation(self) -> None:
        from transformers import get_linear_schedule_with_warmup

        cfg = self.config
        self.optimizer = self._make_optimizer()
        total = self.steps_per_epoch * cfg.epochs
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, int(cfg.warmup_ratio * total), total)
        # Base rates as host floats: with device-tensor rates each scheduler step would otherwise
        # compute on (and copy between) device tensors.
        self.scheduler.base_lrs = [float(lr) for lr in self.scheduler.base_lrs]
        weights = class_weights(self.splits.ids(self.splits.train), len(self.splits.label_names), cfg.class_weights)
        self.ema = (
            WeightAverage(self.accelerator.unwrap_model(self.model).parameters(), cfg.ema_decay)
            if cfg.ema_decay > 0
            else None
        )
        common = dict(
            device=self.device,
            bf16=self.bf16,
            max_grad_norm=cfg.max_grad_norm,
            label_smoothing=cfg.label_smoothing,
            world=self.world,
            rdrop_alpha=cfg.rdrop_alpha,
            ema=self.ema,
            class_weights=None if weights is None else weights.to(self.device),
            distill_alpha=cfg.distill_alpha,
            distill_temperature=cfg.distill_temperature,
        )
        if self.use_graphs:
            self.step = GraphedStep(self.model, self.optimizer, batch_size=cfg.batch_size, log=self.log, **common)
        else:
            self.step = EagerStep(self.model, self.optimizer, **common)

    def _encode(self, examples) -> Encoded:
        return encode(self.tokenizer, examples.texts, self.splits.ids(examples), self.config.max_length).to(
            self.device
        )

    def _teacher_targets(self) -> torch.Tensor | None:
        """With --distill-from: the teachers' mean distribution per training sentence, on the device.
        Each process scores a share of the sentences and the shares are gathered, so several processes
        split the teachers' work instead of each repeating all of it."""
        cfg = self.config
        if not cfg.distill_from:
            return None
        log = self.log if self.main else (lambda _message: None)
        texts = self.splits.train.texts
        share = np.arange(self.rank, len(texts), self.world)
        targets = teacher_targets(
            cfg.distill_from,
            [texts[i] for i in share],
            self.splits.label_names,
            temperature=cfg.distill_temperature,
            device=self.device,
            precision=cfg.precision,
            batch_size=self.eval_batch_size,
            cross_fit=cfg.distill_cross_fit,
            log=log,
        )
        return self._gather_rows(share, targets, len(texts)).to(self.device)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        groups = parameter_groups(
            self.accelerator.unwrap_model(self.model), cfg.learning_rate, cfg.weight_decay, cfg.layer_lr_decay
        )
        return make_optimizer(groups, self.device, self.use_graphs)

    @property
    def use_graphs(self) -> bool:
        return self.config.cuda_graphs and self.device.type == "cuda" and self.world == 1

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        # The order depends only on (seed, epoch): a resumed run sees the very same batches.
        rng = np.random.default_rng([self.config.seed, epoch])
        batches = bucketed_batches(self.train_data.lengths, self.config.batch_size, rng)
        if self.world > 1:  # every process needs at least one sentence of each global batch
            batches = [b for b in batches if len(b) >= self.world]
        return batches

    # -- the loop ------------------------------------------------------------------------------
    def fit(self) -> list[dict[str, float]]:
        cfg = self.config
        if self.resume:
            self._restore()
        if self.main:
            self.log(f"run folder: {self.run_dir}")
            self.log(
                f"model: {cfg.model} ({self.n_params / 1e6:.1f}M parameters{', random init' if cfg.random_init else ''}), "
                f"device: {self.device.type}{' x' + str(self.world) if self.world > 1 else ''}, "
                f"{'bf16' if self.bf16 else 'fp32'}; train {len(self.splits.train)} / val {len(self.splits.val)} sentences, "
                f"{self.steps_per_epoch} steps per epoch"
            )
            if cfg.train_on_val:
                self.log(
                    f"--train-on-val: the {len(self.splits.val)} validation sentences are part of the training data, "
                    "so the validation figures are on seen sentences; the last epoch is kept as the best checkpoint"
                )
        for epoch in range(self.start_epoch, cfg.epochs + 1):
            started = time.perf_counter()
            train_loss = self._train_epoch(epoch)
            with self._averaged():
                val = self._validate()
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val["avg_loss"],
                "val_accuracy": val["accuracy"],
                "val_f1_macro": val["f1_macro"],
                "learning_rate": float(self.scheduler.get_last_lr()[0]),
                "seconds": round(time.perf_counter() - started, 3),
            }
            # best_loss holds the selection value, lower is better: the loss, or minus the score
            if cfg.checkpoint_rule == "last":  # validation is in the training data: every epoch supersedes the last
                value = -float(epoch)
            elif cfg.checkpoint_rule == "val_loss":
                value = val["avg_loss"]
            else:
                value = -validation_score(val["accuracy"], val["f1_macro"])
            improved = value < self.best_loss
            if improved:
                self.best_loss, self.best_epoch, self.bad_epochs = value, epoch, 0
            else:
                self.bad_epochs += 1
            self.history.append(row)
            if self.main:
                self._end_of_epoch(epoch, row, val, improved)
            self.accelerator.wait_for_everyone()
            if cfg.early_stopping_patience and self.bad_epochs >= cfg.early_stopping_patience:
                if self.main:
                    self.log(
                        f"early stopping: no better validation {'loss' if cfg.select_by == 'val_loss' else 'score'} for {self.bad_epochs} epochs"
                    )
                break
        return self.history

    def _train_epoch(self, epoch: int) -> float:
        from tqdm import tqdm

        self.model.train()
        cfg = self.config
        batches = self._epoch_batches(epoch)
        loss_sum = torch.zeros((), device=self.device)  # summed on the device: no sync per step
        seen = 0
        bar = tqdm(
            total=len(batches),
            desc=f"epoch {epoch}/{cfg.epochs}",
            unit="batch",
            disable=not self.progress,
            file=sys.stderr,
            dynamic_ncols=True,
            leave=False,
        )
        started = time.perf_counter()
        shares = [batch[self.rank :: self.world] for batch in batches]
        for step, (batch, rows, index) in enumerate(
            zip(batches, shares, device_indices(shares, self.device)), start=1
        ):
            inputs = self.train_data.batch(rows, index=index)
            labels = inputs.pop("labels")
            if self.soft_targets is not None:
                inputs["soft_targets"] = self.soft_targets.index_select(0, index)
            loss_sum += self.step(inputs, labels, len(batch))
            self.scheduler.step()
            seen += len(rows)
            if self.progress:
                bar.update()
                if step % 20 == 0 or step == len(batches):  # reading the loss syncs with the GPU
                    rate = seen * self.world / (time.perf_counter() - started)
                    bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", sent_s=f"{rate:.0f}")
        bar.close()
        totals = self.accelerator.reduce(torch.stack([loss_sum, torch.tensor(float(seen), device=self.device)]), "sum")
        return float(totals[0] / totals[1])

    def _validate(self) -> dict[str, Any]:
        """Validation loss/accuracy/F1. Each process scores a share; the logits are gathered."""
        model = self.accelerator.unwrap_model(self.model)
        n = len(self.val_data)
        share = np.arange(self.rank, n, self.world)
        logits = predict_logits(model, self.val_data, self.eval_batch_size, self.device, self.bf16, indices=share)
        model.train()
        logits = self._gather_rows(share, logits, n)
        return compute_metrics(logits, self.val_data.labels.cpu().tolist(), self.splits.label_names)

    def _gather_rows(self, rows: np.ndarray, values: torch.Tensor, n: int) -> torch.Tensor:
        """Each process holds `values` for its `rows` of n; every process gets all n rows back (CPU)."""
        if self.world == 1:
            return values
        width = -(-n // self.world)
        padded = torch.full((width, values.shape[1] + 1), -1.0)
        padded[: len(rows), :-1] = values
        padded[: len(rows), -1] = torch.from_numpy(rows).float()  # the row numbers travel with the values
        gathered = self.accelerator.gather(padded.to(self.device)).cpu()
        gathered = gathered[gathered[:, -1] >= 0]
        out = torch.empty(n, values.shape[1])
        out[gathered[:, -1].long()] = gathered[:, :-1]
        return out

    # -- files ---------------------------------------------------------------------------------
    def checkpoint_name(self, kind: str) -> str:
        return f"multiclass_{self.config.experiment_tag}_{self.backbone.short_name}_{kind}_checkpoint"

    def _metadata(self, epoch: int, val: dict[str, Any], saved_from: str) -> dict[str, Any]:
        data = self.data_info
        scores = {k: val[k] for k in ("accuracy", "f1_macro", "f1_weighted", "avg_loss")}
        return {
            "name": self.run_dir.name,
            "epoch": epoch,
            "saved_from": saved_from,
            "label_names": self.splits.label_names,
            "validation": scores,
            "config": self.config.to_dict(),
            "backbone": self.backbone.short_name,
            "data": data,
        }

    def _end_of_epoch(self, epoch: int, row: dict[str, float], val: dict[str, Any], improved: bool) -> None:
        self._append_metrics(row)
        model = self.accelerator.unwrap_model(self.model)
        with self._averaged():
            self._save_checkpoints(model, epoch, val, improved)
        from emodraw.training.state import save_state

        if self.config.save_state:
            save_state(
                self.run_dir,
                model=model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                progress={
                    "epoch": epoch,
                    "best_loss": self.best_loss,
                    "best_epoch": self.best_epoch,
                    "bad_epochs": self.bad_epochs,
                },
                extra_tensors=self.ema.state_tensors() if self.ema is not None else None,
            )
        if self.config.report_to != "none":
            self.accelerator.log({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
        self.log(
            f"epoch {epoch}/{self.config.epochs}  train_loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}  "
            f"val_acc {row['val_accuracy'] * 100:.2f}%  val_f1 {row['val_f1_macro'] * 100:.2f}%  "
            f"{row['seconds']:.1f}s{'  *best*' if improved else ''}"
        )

    def _averaged(self):
        """The weight average in the model while validating, saving or testing (--ema-decay)."""
        return self.ema.applied() if self.ema is not None else contextlib.nullcontext()

    def _save_checkpoints(self, model, epoch: int, val: dict[str, Any], improved: bool) -> None:
        folder = self.run_dir / "checkpoints"
        if self.config.save_checkpoints:
            last = folder / self.checkpoint_name(f"epoch{epoch}")
            save_checkpoint(last, model, self.tokenizer, self._metadata(epoch, val, f"Epoch {epoch}"))
            if not self.config.keep_every_epoch:
                for old in folder.glob(self.checkpoint_name("epoch*")):
                    if old != last and old.is_dir():
                        shutil.rmtree(old)
            if improved:
                save_checkpoint(
                    folder / self.checkpoint_name("best"),
                    model,
                    self.tokenizer,
                    self._metadata(epoch, val, saved_from_best(self.config.checkpoint_rule)),
                )

    def _append_metrics(self, row: dict[str, float]) -> None:
        path = self.run_dir / "metrics.csv"
        new = not path.exists()
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=METRICS_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)
            handle.flush()
            os.fsync(handle.fileno())

    def _restore(self) -> None:
        from emodraw.training.state import has_state, load_state

        if not has_state(self.run_dir):
            raise EmodrawError(f"--resume {self.run_dir}: no saved training state (it ends after the first epoch)")
        info = load_state(
            self.run_dir,
            model=self.accelerator.unwrap_model(self.model),
            optimizer=self.optimizer,
            scheduler=self.scheduler,
        )
        if self.ema is not None:
            try:
                self.ema.load_state_tensors(info["extra_tensors"])
            except KeyError as exc:
                raise EmodrawError(f"--resume {self.run_dir}: {exc.args[0]}") from None
        self.start_epoch = info["epoch"] + 1
        self.best_loss, self.best_epoch, self.bad_epochs = info["best_loss"], info["best_epoch"], info["bad_epochs"]
        path = self.run_dir / "metrics.csv"
        rows = []
        if path.exists():
            with open(path, newline="") as handle:
                rows = [
                    {k: float(v) for k, v in r.items()}
                    for r in csv.DictReader(handle)
                    if float(r["epoch"]) <= info["epoch"]
                ]
        self.history = [{**r, "epoch": int(r["epoch"])} for r in rows]
        if self.main:  # drop rows of an epoch the kill interrupted after its metrics line was written
            with open(path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=METRICS_COLUMNS)
                writer.writeheader()
                writer.writerows(self.history)
            self.log(f"resuming {self.run_dir} after epoch {info['epoch']}")

    # -- the end ---------------------------------------------------------------------------------
    def finish(self) -> RunResult:
        """Evaluate the last and best checkpoints on test (validation if there is no test file)."""
        if self.config.report_to != "none":
            self.accelerator.end_training()
        found = find_checkpoints(self.run_dir) if self.main else {}
        rows: list[dict[str, Any]] = []
        if self.main:
            rows = self._evaluate_checkpoints(found)
            write_results(self.run_dir, rows)
            if self.config.plots and self.history:
                self._plots()
        self.accelerator.wait_for_everyone()
        return RunResult(self.run_dir, rows, self.history, found)

    def _evaluate_checkpoints(self, found: dict[str, Path]) -> list[dict[str, Any]]:
        from emodraw.inference.classifier import Classifier
        from emodraw.metrics import format_report

        split = "test" if self.splits.test is not None else "val"
        examples = self.splits.test if self.splits.test is not None else self.splits.val
        if split == "val":
            self.log("no test file: the results table is computed on the validation split")
        labels = self.splits.ids(examples)
        epochs_trained = self.history[-1]["epoch"] if self.history else 0
        targets = [("last", f"Epoch {epochs_trained}"), ("best", saved_from_best(self.config.checkpoint_rule))]
        rows, evaluation = [], {}
        for kind, saved_from in targets:
            if kind in found:
                clf = Classifier.load(found[kind], device=self.device.type, precision=self.config.precision)
                logits = clf.logits(examples.texts, batch_size=self.eval_batch_size)
                name = found[kind].name
            elif kind == "last" and not self.config.save_checkpoints:
                model = self.accelerator.unwrap_model(self.model)
                enc = encode(self.tokenizer, examples.texts, labels, self.config.max_length).to(self.device)
                with self._averaged():
                    logits = predict_logits(model, enc, self.eval_batch_size, self.device, self.bf16).numpy()
                name = "(not saved)"
            else:
                continue
            metrics = compute_metrics(logits, labels, self.splits.label_names)
            evaluation[kind] = {**metrics, "checkpoint": name, "split": split}
            rows.append(
                results_row(
                    self.config.to_dict(),
                    self.backbone.short_name,
                    saved_from,
                    name,
                    metrics,
                    epochs_trained,
                    split=split,
                    seed=self.config.seed,
                    epoch=self.best_epoch if kind == "best" else epochs_trained,
                )
            )
            self.log(f"{kind} checkpoint on {split}: " + format_report(metrics).splitlines()[0])
        (self.run_dir / "evaluation.json").write_text(json.dumps(evaluation, indent=1))
        self._evaluation = evaluation
        return rows

    def _plots(self) -> None:
        from emodraw.plots import confusion_matrix_plot, training_curves

        plots = self.run_dir / "plots"
        training_curves(self.run_dir / "metrics.csv", plots / "training_curves.png")
        chosen = self._evaluation.get("best") or self._evaluation.get("last")
        if chosen:
            confusion_matrix_plot(
                chosen["confusion_matrix"],
                chosen["labels"],
                plots / "confusion_matrix.png",
                f"{chosen['checkpoint']} on {chosen['split']}",
            )


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
    if resume is not None:
        run_dir = Path(resume)
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise EmodrawError(f"--resume {run_dir}: no config.yaml (not an emodraw run folder)")
        values = yaml.safe_load(saved.read_text()) or {}
        check_keys(values, str(saved))
        config = TrainConfig(**values)
        trainer = Trainer(config, run_dir, resume=True, progress=progress)
    else:
        if config is None:
            config = resolve_config(config_file, **overrides)
        elif overrides:
            check_keys(overrides, "option")
            config = dataclasses.replace(config, **overrides)
        trainer = Trainer(config, progress=progress)
    trainer.fit()
    return trainer.finish()
