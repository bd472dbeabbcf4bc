"""Every training option as one typed dataclass, TrainConfig; `emodraw train`'s flags are generated from it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from emodraw.config.options import (
    EMBEDDED_MODEL,
    MAX_SEED,
    check_choices,
    check_threads,
    check_types,
    check_whole,
    device_option,
    option,
    precision_option,
    reject,
    threads_option,
)
from emodraw.errors import ConfigError

REPORTERS = ("none", "tensorboard")
CLASS_WEIGHTS = ("none", "balanced", "sqrt")
SELECT_BY = ("val_loss", "val_score")
POOLINGS = ("cls", "mean")
RESIDUAL_STREAMS = ("float32", "bf16")
ATTENTION_BACKENDS = ("efficient", "pytorch", "cudnn", "math")
LAYERNORM_GRADS = ("per-use", "deferred")
BIAS_GRADS = ("reduce", "gemv")


# The data options every command that reads labelled files shares (train, evaluate, check-data; predict all
# but the label names), declared once; emodraw.data.columns and emodraw.data.label_names read them.
def text_column_option() -> Any:
    return option(
        "text",
        "the column holding the text: its name in the header (a .jsonl field's name), or its position from 0",
        metavar="NAME|N",
    )


def label_column_option() -> Any:
    return option("label", "the column holding the label: its name, or its position from 0", metavar="NAME|N")


def no_header_option() -> Any:
    return option(
        False,
        ".csv/.tsv files have no header row: the first row is data and columns are positions "
        "(text 0 and label 1 unless --text-column/--label-column say otherwise)",
        negatable=False,
    )


def label_names_option() -> Any:
    return option(
        None,
        "names for integer labels, in id order: a file with one name per line (the id is the line number from "
        '0) or a,b,c; an integer label (a JSON 3, a CSV "3") is then an id',
        metavar="FILE|A,B,...",
        default_text="integer labels are their own names",
    )


def check_data_options(config: Any, labelled: bool = True) -> None:
    """check_types, and the column and label-name options, each refused with one line naming its flag. Before
    the types are checked, a YAML `text_column: 0` becomes the position "0" and a YAML list of label names
    the names "a,b,c". `labelled`: whether the label column is read (predict reads the text alone)."""
    for name in ("text_column", "label_column"):
        value = getattr(config, name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            setattr(config, name, str(value))
    names = getattr(config, "label_names", None)
    if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        config.label_names = ",".join(names)
    check_types(config)
    columns = {name: getattr(config, name).strip() for name in ("text_column", "label_column")}
    for name, value in columns.items():
        if not value:
            reject(name, getattr(config, name), "must name a column: its name, or its position 0, 1, ...", config)
    if config.no_header:
        defaults = {"text_column": ("text", "0"), "label_column": ("label", "1")}
        for name, value in columns.items():
            if value == defaults[name][0]:
                columns[name] = defaults[name][1]
            elif not (value.isascii() and value.isdigit()):
                reject(name, value, "--no-header files have no column names: give its position (0, 1, ...)", config)
    if labelled and columns["text_column"] == columns["label_column"]:
        text, label = config.text_column, config.label_column
        raise ConfigError(f"--text-column {text!r} and --label-column {label!r}: the same column")
    if names is not None and not str(config.label_names).strip(" ,"):
        reject("label_names", names, "must name a file or give names (a,b,c)", config)


@dataclass
class TrainConfig:
    """All options of one training run. Defaults are the offline default job (`emodraw train`).

    Fields marked advanced are engine knobs without a measured win (docs/PERFORMANCE.md): still accepted
    and used by the benchmarks, but listed only by `emodraw train --help-all`."""

    # what to train
    model: str = option(EMBEDDED_MODEL, "Hub id, local folder, or the embedded default (works offline)")
    random_init: bool = option(False, "build the model's architecture with random weights (no pretraining)")
    experiment: str = option(
        "default",
        "preset: 1, 2, 3 (the published ALBERT runs), default, offline-full, offline-full-trainval, offline-10pct",
    )
    # data
    data_dir: str | None = option(
        None,
        "folder with train/val/test files (.txt, .csv, .tsv, .jsonl or .parquet)",
        metavar="DIR",
        default_text="the bundled emotion data",
    )
    train_file: str | None = option(None, "training file (overrides --data-dir)", aliases=("--train",), metavar="FILE")
    val_file: str | None = option(None, "validation file (overrides --data-dir)", aliases=("--val",), metavar="FILE")
    test_file: str | None = option(None, "test file (overrides --data-dir)", aliases=("--test",), metavar="FILE")
    skip_invalid: bool = option(False, "skip malformed lines (and report how many) instead of stopping")
    text_column: str = text_column_option()
    label_column: str = label_column_option()
    no_header: bool = no_header_option()
    label_names: str | None = label_names_option()
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
        "knowledge distillation: comma-separated run or checkpoint folders (the teachers); the model also "
        "learns their mean predicted distribution on the training sentences",
        metavar="DIRS",
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
        if self.distill_from is not None and not (
            isinstance(self.distill_from, str) and self.distill_from.strip(" ,")
        ):
            reject("distill_from", self.distill_from, "must name at least one run or checkpoint folder")
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
        check_threads(self)
        check_whole(self, "seed", 0, maximum=MAX_SEED)
        if not (isinstance(self.layer_lr_decay, (int, float)) and 0 < self.layer_lr_decay <= 1):
            reject("layer_lr_decay", self.layer_lr_decay, "must be in (0, 1]")
        check_choices(self)
        if not isinstance(self.model, str) or not self.model.strip():
            reject("model", self.model, "must name a model")
        self.experiment = str(self.experiment)

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
