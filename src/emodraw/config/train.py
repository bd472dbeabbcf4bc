"""Every training option as one typed dataclass, TrainConfig; `emodraw train`'s flags are generated from it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from emodraw.config.data_options import (
    check_data_options,
    label_column_option,
    label_names_option,
    label_separator_option,
    multi_label_option,
    no_header_option,
    text_column_option,
)
from emodraw.config.options import (
    EMBEDDED_MODEL,
    MAX_SEED,
    check_choices,
    check_number,
    check_threads,
    check_whole,
    device_option,
    option,
    precision_option,
    reject,
    threads_option,
)

REPORTERS = ("none", "tensorboard")
CLASS_WEIGHTS = ("none", "balanced", "sqrt")
SELECT_BY = ("val_loss", "val_score")
POOLINGS = ("cls", "mean")
RESIDUAL_STREAMS = ("float32", "bf16")
ATTENTION_BACKENDS = ("efficient", "pytorch", "cudnn", "math")
LAYERNORM_GRADS = ("per-use", "deferred")
BIAS_GRADS = ("reduce", "gemv")


@dataclass
class TrainConfig:
    """All options of one training run. Defaults are the offline default job (`emodraw train`).

    Fields marked advanced are engine knobs without a measured win (docs/PERFORMANCE.md): still accepted
    and used by the benchmarks, but listed only by `emodraw train --help-all`."""

    # what to train
    model: str = option(EMBEDDED_MODEL, "Hub id, local folder, or the embedded default (works offline)")
    revision: str | None = option(
        None, "with a Hub id: the branch, tag or commit of --model", metavar="REV", default_text="main"
    )
    random_init: bool = option(False, "build the model's architecture with random weights (no pretraining)")
    experiment: str = option(
        "default",
        "preset: 1, 2, 3 (the published ALBERT runs), default, offline-full, offline-full-trainval, offline-10pct, "
        "offline-distilled (the small model taught by the large one's shipped soft labels), large-full and "
        "large-10pct (all-mpnet-base-v2: install its parts), goemotions (28 labels, multi-label: give --data-dir), "
        "large-goemotions (the same on all-mpnet-base-v2)",
    )
    # data
    data_dir: str | None = option(
        None,
        "folder with train/val/test files (.txt, .csv, .tsv, .jsonl or .parquet)",
        metavar="DIR",
        default_text="the bundled emotion data",
    )
    dataset: str | None = option(
        None,
        "a Hugging Face datasets dataset instead of files: a Hub name (where the Hub is reachable), a folder "
        "written by save_to_disk, or a folder of parquet/csv/jsonl files; its train/validation/test splits",
        metavar="NAME_OR_PATH",
    )
    train_file: str | None = option(None, "training file (overrides --data-dir)", aliases=("--train",), metavar="FILE")
    val_file: str | None = option(None, "validation file (overrides --data-dir)", aliases=("--val",), metavar="FILE")
    test_file: str | None = option(None, "test file (overrides --data-dir)", aliases=("--test",), metavar="FILE")
    skip_invalid: bool = option(False, "skip malformed lines (and report how many) instead of stopping")
    text_column: str = text_column_option()
    label_column: str = label_column_option()
    no_header: bool = no_header_option()
    label_names: str | None = label_names_option()
    multi_label: bool = multi_label_option()
    label_separator: str = label_separator_option()
    per_label_thresholds: bool = option(
        False,
        "with --multi-label: choose one decision threshold per label on validation, not one for all labels",
    )
    portion: float = option(1.0, "stratified, seeded fraction of the training set to use (0.1 -> 1,600 sentences)")
    max_length: int = option(128, "truncate sentences to this many tokens (at most the model's positions)")
    pooling: str = option(
        "cls",
        "what the classification head reads: cls (the [CLS] position through the pooler, as transformers does) "
        "or mean (the attention-masked mean of the last hidden states, how sentence-transformers models such "
        "as the embedded one were trained; BERT-architecture models)",
        choices=POOLINGS,
    )
    # optimisation
    epochs: int = option(4, "training epochs")
    batch_size: int = option(32, "global batch size (summed over all processes)")
    learning_rate: float = option(1e-4, "peak AdamW learning rate", aliases=("--lr",))
    weight_decay: float = option(0.01, "AdamW weight decay (not applied to biases and LayerNorm)")
    warmup_ratio: float = option(0.06, "fraction of steps of linear warm-up before linear decay")
    max_grad_norm: float = option(1.0, "gradient clipping norm (0 = off)")
    label_smoothing: float = option(0.0, "label smoothing of the training loss")
    prior_bias: bool = option(
        False,
        "with --multi-label: start each label's output bias at the log-odds of its frequency in training, "
        "not at 0 (probability 0.5), so the first steps are not spent learning that most labels are absent",
    )
    freeze_embeddings: bool = option(True, "keep the word-embedding matrix frozen (about 1.7x faster on CPU)")
    class_weights: str = option(
        "none", "weight the loss by class frequency: none, balanced (1/n) or sqrt (1/sqrt n)", choices=CLASS_WEIGHTS
    )
    rdrop_alpha: float = option(
        0.0, "R-Drop: each batch passes twice (two dropout draws); add alpha x their symmetric KL (0 = off)"
    )
    ema_decay: float = option(
        0.0,
        "validate, checkpoint and test an exponential moving average of the weights with this decay, "
        "e.g. 0.999 (0 = off)",
    )
    distill_from: str | None = option(
        None,
        "knowledge distillation: comma-separated teachers -- run or checkpoint folders (their scores cached "
        "in the run's soft_labels/), soft-label files, or `bundled` (all-mpnet-base-v2's, shipped for the "
        "bundled training data); the model also learns their mean predicted distribution on the training "
        "sentences",
        metavar="DIRS",
        default_text="bundled in the default job and offline-distilled, on the bundled data, unless --model is "
        "their teacher all-mpnet-base-v2 (`none`: off); else none",
    )
    distill_alpha: float = option(
        0.5, "distillation: weight of the teachers' term; the labels' cross-entropy gets 1 - alpha"
    )
    distill_temperature: float = option(
        2.0, "distillation: softmax temperature of teachers and student in the teachers' term"
    )
    distill_cross_fit: bool = option(
        False,
        "distillation: each training sentence learns only from the teachers that did not train on it "
        "(teachers trained on different folds)",
    )
    layer_lr_decay: float = option(1.0, "layer-wise learning-rate decay: layer k below the top gets lr * decay^k")
    adapt_epochs: int = option(
        0,
        "task-adaptive pretraining first: continue the backbone's masked-LM training on this run's training "
        "sentences for this many epochs (as `emodraw adapt`, its other defaults, seed 0 whatever --seed), then "
        "fine-tune the result; the adapted backbone is cached, so other seeds reuse it (0 = off)",
    )
    train_on_val: bool = option(
        False,
        "also train on the validation sentences: a final model, once the recipe was chosen on validation. "
        "Validation is then not held out, so the best checkpoint is the last epoch's (no selection, no early "
        "stopping)",
    )
    select_by: str = option(
        "val_loss",
        "which epoch the best checkpoint is: val_loss (lowest, as published) or val_score (highest "
        "(accuracy + macro F1) / 2)",
        choices=SELECT_BY,
    )
    early_stopping_patience: int = option(
        0, "stop after this many epochs without a better validation value (see --select-by; 0 = off)"
    )
    seed: int = option(42, "seed for the head's initialisation, data order and portion")
    # engine
    precision: str = precision_option()
    device: str = device_option()
    eval_batch_size: int = option(
        0, "batch size for validation and test; 0 = 512 on a GPU (fewer launches), 128 on a CPU (faster there)"
    )
    threads: int = threads_option()
    compile: bool = option(
        False,
        "torch.compile the encoder layers (fewer, fused kernels; costs compile time; measured no faster)",
        advanced=True,
    )
    fused_encoder: bool = option(
        True, "ALBERT on GPUs: one Q/K/V GEMM, shared-layer gradients summed in one GEMM (same results, fewer kernels)"
    )
    fused_residual: str = option(
        "float32",
        "fused ALBERT: dtype of the residual stream under bf16, float32 (as autocast does) or bf16 (fewer casts)",
        choices=RESIDUAL_STREAMS,
        advanced=True,
    )
    attention_backend: str = option(
        "efficient",
        "fused ALBERT: attention kernel tried first: efficient (memory-efficient; no per-shape set-up), "
        "pytorch (PyTorch's order: cuDNN on H100/H200), cudnn or math",
        choices=ATTENTION_BACKENDS,
        advanced=True,
    )
    fused_layernorm_grads: str = option(
        "per-use",
        "fused ALBERT: per-use (each of the 12 uses computes its LayerNorm weight gradients, as stock) or "
        "deferred (one kernel over all uses at the end; fewer kernels, same gradients; not yet timed on a GPU)",
        choices=LAYERNORM_GRADS,
        advanced=True,
    )
    fused_bias_grads: str = option(
        "reduce",
        "fused ALBERT: the shared layers' bias gradients as a column reduction (reduce) or a matrix-vector "
        "product (gemv; not yet timed on a GPU)",
        choices=BIAS_GRADS,
        advanced=True,
    )
    cuda_graphs: bool = option(True, "replay each training step as a CUDA graph (GPU, one process)")
    save_state: bool = option(True, "save the resumable training state after every epoch (needed by --resume)")
    save_every_minutes: float = option(
        15.0,
        "also save it inside an epoch once this many minutes have passed since the last save, so that a crash "
        "of a long epoch (the large backbone on a CPU) loses at most that much; --resume goes on from there "
        "with the same results (0 = only at the end of epochs)",
        metavar="M",
    )
    # output
    output_dir: str | None = option(
        None, "run folder (never overwritten)", metavar="DIR", default_text="runs/<name>, runs/<name>2, ..."
    )
    name: str | None = option(None, "run name", default_text="<experiment>_<model>")
    save_checkpoints: bool = option(True, "write the last and best checkpoints")
    keep_every_epoch: bool = option(
        False,
        "keep every epoch's checkpoint, not only the last epoch's and the best (for `emodraw average`, or to go "
        "back to any epoch; about 90 MB each for the default backbone)",
    )
    plots: bool = option(True, "draw training curves and the confusion matrix at the end")
    report_to: str = option("none", "also log per-epoch scalars to: none or tensorboard", choices=REPORTERS)

    def __post_init__(self):
        if isinstance(self.experiment, int) and not isinstance(self.experiment, bool):
            self.experiment = str(self.experiment)  # train(experiment=3) names the preset "3"
        check_data_options(self)
        # max_length beyond the model's positions is clamped once the model is known (training.limits)
        for name in ("epochs", "batch_size", "max_length"):
            check_whole(self, name, 1)
        check_whole(self, "eval_batch_size", 0, "must be a whole number >= 0 (0 = automatic)")
        if not (isinstance(self.portion, (int, float)) and 0 < self.portion <= 1):
            reject("portion", self.portion, "must be in (0, 1]")
        if not (
            isinstance(self.learning_rate, (int, float))
            and math.isfinite(self.learning_rate)
            and self.learning_rate > 0
        ):
            reject("learning_rate", self.learning_rate, "must be a positive number")
        for name in ("weight_decay", "max_grad_norm", "rdrop_alpha"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                reject(name, value, "must be a number >= 0")
        for name in ("warmup_ratio", "label_smoothing", "ema_decay"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < 1):
                reject(name, value, "must be in [0, 1)")
        if not (isinstance(self.distill_alpha, (int, float)) and 0 <= self.distill_alpha <= 1):
            reject("distill_alpha", self.distill_alpha, "must be in [0, 1]")
        if not (
            isinstance(self.distill_temperature, (int, float))
            and math.isfinite(self.distill_temperature)
            and self.distill_temperature > 0
        ):
            reject("distill_temperature", self.distill_temperature, "must be a positive number")
        if isinstance(self.distill_from, str) and self.distill_from.strip().lower() == "none":
            self.distill_from = None  # `--distill-from none`: the default job without the shipped soft labels
        if self.distill_from is not None and not (
            isinstance(self.distill_from, str) and self.distill_from.strip(" ,")
        ):
            reject("distill_from", self.distill_from, "must name at least one teacher")
        check_whole(self, "early_stopping_patience", 0)
        check_whole(self, "adapt_epochs", 0, "must be 0 (off) or more")
        if self.adapt_epochs and self.random_init:
            reject(
                "adapt_epochs",
                self.adapt_epochs,
                "adapts a pretrained backbone; it cannot be combined with --random-init",
            )
        if self.train_on_val and self.early_stopping_patience:
            reject(
                "train_on_val",
                self.train_on_val,
                "cannot be combined with early stopping: validation is in the training data",
            )
        if self.keep_every_epoch and not self.save_checkpoints:
            reject(
                "keep_every_epoch",
                self.keep_every_epoch,
                "keeps checkpoints; it cannot be combined with --no-save-checkpoints",
            )
        self._check_labels()
        check_threads(self)
        check_whole(self, "seed", 0, maximum=MAX_SEED)
        check_number(self, "save_every_minutes", 0)
        if not (isinstance(self.layer_lr_decay, (int, float)) and 0 < self.layer_lr_decay <= 1):
            reject("layer_lr_decay", self.layer_lr_decay, "must be in (0, 1]")
        check_choices(self)
        if not isinstance(self.model, str) or not self.model.strip():
            reject("model", self.model, "must name a model")
        self.experiment = str(self.experiment)

    def _check_labels(self) -> None:
        """The options multi-label training does not combine with, and where the data comes from."""
        for name in ("per_label_thresholds", "prior_bias"):
            if getattr(self, name) and not self.multi_label:
                reject(name, True, "goes with --multi-label", self)
        if self.multi_label:
            single_only = {
                "class_weights": self.class_weights != "none",
                "label_smoothing": self.label_smoothing > 0,
                "rdrop_alpha": self.rdrop_alpha > 0,
                "distill_from": self.distill_from is not None,
            }
            for name, used in single_only.items():
                if used:
                    reject(name, getattr(self, name), "is for single-label training; not with --multi-label", self)
        if self.dataset is not None:
            if not (isinstance(self.dataset, str) and self.dataset.strip()):
                reject("dataset", self.dataset, "must name a dataset or a folder", self)
            for name in ("data_dir", "train_file", "val_file", "test_file"):
                if getattr(self, name):
                    reject(
                        "dataset",
                        self.dataset,
                        f"gives the splits; it cannot be combined with --{name.replace('_', '-')}",
                        self,
                    )

    @property
    def checkpoint_rule(self) -> str:
        """What picks the best checkpoint: "last" when validation is in the training data, else select_by."""
        return "last" if self.train_on_val else self.select_by

    @property
    def experiment_tag(self) -> str:
        """`experiment3` for the published numbered runs, the preset's own name otherwise."""
        return f"experiment{self.experiment}" if self.experiment.isdigit() else self.experiment

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


OPTION_NAMES = tuple(f.name for f in fields(TrainConfig))
