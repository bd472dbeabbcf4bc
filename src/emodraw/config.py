"""Every training option as one typed dataclass, plus the experiment presets and YAML loading.

Precedence, lowest first: the dataclass defaults (the offline default job) -> the preset named by
`experiment` -> a YAML config file -> explicit keyword arguments / CLI flags.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from emodraw.errors import ConfigError

EMBEDDED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")
REPORTERS = ("none", "tensorboard")
CLASS_WEIGHTS = ("none", "balanced", "sqrt")
SELECT_BY = ("val_loss", "val_score")
POOLINGS = ("cls", "mean")
RESIDUAL_STREAMS = ("float32", "bf16")
ATTENTION_BACKENDS = ("efficient", "pytorch", "cudnn", "math")
LAYERNORM_GRADS = ("per-use", "deferred")
BIAS_GRADS = ("reduce", "gemv")


def _opt(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    """All options of one training run. Defaults are the offline default job (`emodraw train`)."""

    # what to train
    model: str = _opt(EMBEDDED_MODEL, "Hub id, local folder, or the embedded default (works offline)")
    random_init: bool = _opt(False, "build the model's architecture with random weights (no pretraining)")
    experiment: str = _opt(
        "default",
        "preset: 1, 2, 3 (the published ALBERT runs), default, offline-full, offline-full-trainval, offline-10pct",
    )
    # data
    data_dir: str | None = _opt(
        None, "folder with train/val/test files (.txt, .csv or .jsonl); default: the bundled emotion data"
    )
    train_file: str | None = _opt(None, "training file (overrides --data-dir)", aliases=("--train",))
    val_file: str | None = _opt(None, "validation file (overrides --data-dir)", aliases=("--val",))
    test_file: str | None = _opt(None, "test file (overrides --data-dir)", aliases=("--test",))
    skip_invalid: bool = _opt(False, "skip malformed lines (and report how many) instead of stopping")
    portion: float = _opt(1.0, "stratified, seeded fraction of the training set to use (0.1 -> 1,600 sentences)")
    max_length: int = _opt(128, "truncate sentences to this many tokens")
    pooling: str = _opt(
        "cls",
        "what the classification head reads: cls (the [CLS] position through the pooler, as transformers does) or mean (the attention-masked mean of the last hidden states, how sentence-transformers models such as the embedded one were trained; BERT-architecture models)",
    )
    # optimisation
    epochs: int = _opt(4, "training epochs")
    batch_size: int = _opt(32, "global batch size (summed over all processes)")
    learning_rate: float = _opt(1e-4, "peak AdamW learning rate", aliases=("--lr",))
    weight_decay: float = _opt(0.01, "AdamW weight decay (not applied to biases and LayerNorm)")
    warmup_ratio: float = _opt(0.06, "fraction of steps of linear warm-up before linear decay")
    max_grad_norm: float = _opt(1.0, "gradient clipping norm (0 = off)")
    label_smoothing: float = _opt(0.0, "label smoothing of the training loss")
    freeze_embeddings: bool = _opt(True, "keep the word-embedding matrix frozen (about 1.7x faster on CPU)")
    class_weights: str = _opt("none", "weight the loss by class frequency: none, balanced (1/n) or sqrt (1/sqrt n)")
    rdrop_alpha: float = _opt(
        0.0, "R-Drop: each batch passes twice (two dropout draws); add alpha x their symmetric KL (0 = off)"
    )
    ema_decay: float = _opt(
        0.0,
        "validate, checkpoint and test an exponential moving average of the weights with this decay, e.g. 0.999 (0 = off)",
    )
    distill_from: str | None = _opt(
        None,
        "knowledge distillation: comma-separated run or checkpoint folders (the teachers); the model also learns their mean predicted distribution on the training sentences",
    )
    distill_alpha: float = _opt(
        0.5, "distillation: weight of the teachers' term; the labels' cross-entropy gets 1 - alpha"
    )
    distill_temperature: float = _opt(
        2.0, "distillation: softmax temperature of teachers and student in the teachers' term"
    )
    distill_cross_fit: bool = _opt(
        False,
        "distillation: each training sentence learns only from the teachers that did not train on it (teachers trained on different folds)",
    )
    layer_lr_decay: float = _opt(1.0, "layer-wise learning-rate decay: layer k below the top gets lr * decay^k")
    adapt_epochs: int = _opt(
        0,
        "task-adaptive pretraining first: continue the backbone's masked-LM training on this run's training sentences for this many epochs (as `emodraw adapt`, its other defaults, seed 0 whatever --seed), then fine-tune the result; the adapted backbone is cached, so other seeds reuse it (0 = off)",
    )
    train_on_val: bool = _opt(
        False,
        "also train on the validation sentences: a final model, once the recipe was chosen on validation. Validation is then not held out, so the best checkpoint is the last epoch's (no selection, no early stopping)",
    )
    select_by: str = _opt(
        "val_loss",
        "which epoch the best checkpoint is: val_loss (lowest, as published) or val_score (highest (accuracy + macro F1) / 2)",
    )
    early_stopping_patience: int = _opt(
        0, "stop after this many epochs without a better validation value (see --select-by; 0 = off)"
    )
    seed: int = _opt(42, "seed for the head's initialisation, data order and portion")
    # engine
    precision: str = _opt("auto", "auto (bf16 where the hardware has it), fp32 or bf16")
    device: str = _opt("auto", "auto, cpu or cuda")
    eval_batch_size: int = _opt(
        0, "batch size for validation and test; 0 = 512 on a GPU (fewer launches), 128 on a CPU (faster there)"
    )
    threads: int = _opt(0, "CPU threads for torch (0 = torch's default)")
    compile: bool = _opt(False, "torch.compile the encoder layers (fewer, fused kernels; costs compile time)")
    fused_encoder: bool = _opt(
        True, "ALBERT on GPUs: one Q/K/V GEMM, shared-layer gradients summed in one GEMM (same results, fewer kernels)"
    )
    fused_residual: str = _opt(
        "float32",
        "fused ALBERT: dtype of the residual stream under bf16, float32 (as autocast does) or bf16 (fewer casts)",
    )
    attention_backend: str = _opt(
        "efficient",
        "fused ALBERT: attention kernel tried first: efficient (memory-efficient; no per-shape set-up), pytorch (PyTorch's order: cuDNN on H100/H200), cudnn or math",
    )
    fused_layernorm_grads: str = _opt(
        "per-use",
        "fused ALBERT: per-use (each of the 12 uses computes its LayerNorm weight gradients, as stock) or deferred (one kernel over all uses at the end; fewer kernels, same gradients; not yet timed on a GPU)",
    )
    fused_bias_grads: str = _opt(
        "reduce",
        "fused ALBERT: the shared layers' bias gradients as a column reduction (reduce) or a matrix-vector product (gemv; not yet timed on a GPU)",
    )
    cuda_graphs: bool = _opt(True, "replay each training step as a CUDA graph (GPU, one process)")
    save_state: bool = _opt(True, "save the resumable training state after every epoch (needed by --resume)")
    # output
    output_dir: str | None = _opt(None, "run folder; default runs/<name>, runs/<name>2, ... (never overwritten)")
    name: str | None = _opt(None, "run name; default <experiment>_<model>")
    save_checkpoints: bool = _opt(True, "write the last and best checkpoints")
    keep_every_epoch: bool = _opt(
        False,
        "keep every epoch's checkpoint, not only the last epoch's and the best (for `emodraw average`, or to go back to any epoch; about 90 MB each for the default backbone)",
    )
    plots: bool = _opt(True, "draw training curves and the confusion matrix at the end")
    report_to: str = _opt("none", "also log per-epoch scalars to: none or tensorboard")

    def __post_init__(self):
        def bad(name, why):
            raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)!r}: {why}")

        for name in ("epochs", "batch_size", "max_length"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                bad(name, "must be a whole number >= 1")
        if not isinstance(self.eval_batch_size, int) or self.eval_batch_size < 0:
            bad("eval_batch_size", "must be a whole number >= 0 (0 = automatic)")
        if not (isinstance(self.portion, (int, float)) and 0 < self.portion <= 1):
            bad("portion", "must be in (0, 1]")
        if not (
            isinstance(self.learning_rate, (int, float))
            and math.isfinite(self.learning_rate)
            and self.learning_rate > 0
        ):
            bad("learning_rate", "must be a positive number")
        for name in ("weight_decay", "max_grad_norm", "rdrop_alpha"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                bad(name, "must be a number >= 0")
        for name in ("warmup_ratio", "label_smoothing", "ema_decay"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < 1):
                bad(name, "must be in [0, 1)")
        if not (isinstance(self.distill_alpha, (int, float)) and 0 <= self.distill_alpha <= 1):
            bad("distill_alpha", "must be in [0, 1]")
        if not (
            isinstance(self.distill_temperature, (int, float))
            and math.isfinite(self.distill_temperature)
            and self.distill_temperature > 0
        ):
            bad("distill_temperature", "must be a positive number")
        if self.distill_from is not None and not (
            isinstance(self.distill_from, str) and self.distill_from.strip(" ,")
        ):
            bad("distill_from", "must name at least one run or checkpoint folder")
        if not isinstance(self.early_stopping_patience, int) or self.early_stopping_patience < 0:
            bad("early_stopping_patience", "must be a whole number >= 0")
        if self.adapt_epochs < 0:
            bad("adapt_epochs", "must be 0 (off) or more")
        if self.adapt_epochs and self.random_init:
            bad("adapt_epochs", "adapts a pretrained backbone; it cannot be combined with --random-init")
        if self.train_on_val and self.early_stopping_patience:
            bad("train_on_val", "cannot be combined with early stopping: validation is in the training data")
        if self.keep_every_epoch and not self.save_checkpoints:
            bad("keep_every_epoch", "keeps checkpoints; it cannot be combined with --no-save-checkpoints")
        if not isinstance(self.threads, int) or self.threads < 0:
            bad("threads", "must be a whole number >= 0")
        if not isinstance(self.seed, int):
            bad("seed", "must be a whole number")
        if not (isinstance(self.layer_lr_decay, (int, float)) and 0 < self.layer_lr_decay <= 1):
            bad("layer_lr_decay", "must be in (0, 1]")
        for name, allowed in (
            ("precision", PRECISIONS),
            ("device", DEVICES),
            ("report_to", REPORTERS),
            ("class_weights", CLASS_WEIGHTS),
            ("select_by", SELECT_BY),
            ("pooling", POOLINGS),
            ("fused_residual", RESIDUAL_STREAMS),
            ("attention_backend", ATTENTION_BACKENDS),
            ("fused_layernorm_grads", LAYERNORM_GRADS),
            ("fused_bias_grads", BIAS_GRADS),
        ):
            if getattr(self, name) not in allowed:
                bad(name, f"must be one of {', '.join(allowed)}")
        if not isinstance(self.model, str) or not self.model.strip():
            bad("model", "must name a model")
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


def suggest(name: str, choices) -> str:
    """' (did you mean "x"?)' for the closest valid name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def check_keys(values: dict, source: str) -> None:
    for key in values:
        if key not in OPTION_NAMES:
            raise ConfigError(f"{source}: unknown option {key!r}{suggest(str(key), OPTION_NAMES)}")


def available_presets() -> list[str]:
    folder = resources.files("emodraw") / "resources" / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    path = resources.files("emodraw") / "resources" / "presets" / f"{name}.yaml"
    if not path.is_file():
        names = available_presets()
        raise ConfigError(
            f"--experiment {name!r}: no such preset{suggest(str(name), names)}; choose from {', '.join(names)}"
        )
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    check_keys(values, f"preset {name}")
    return values


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of option: value")
    check_keys(values, str(path))
    return values


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """YAML reads 1e-5 as a string and 3 as an int where we want str; fix the types the dataclass declares."""
    out = dict(values)
    types = {f.name: f.type for f in fields(TrainConfig)}
    for key, value in values.items():
        kind = str(types[key])
        try:
            if value is None:
                continue
            if kind.startswith("float") and isinstance(value, (str, int)) and not isinstance(value, bool):
                out[key] = float(value)
            elif kind.startswith("str") and isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = str(value)
        except ValueError:
            raise ConfigError(f"option {key}: {value!r} is not a number") from None
    return out


def resolve_config(config_file: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Build a TrainConfig: defaults, then the preset, then `config_file`, then `overrides`."""
    check_keys(overrides, "option")
    from_file = load_yaml(config_file) if config_file else {}
    experiment = overrides.get("experiment", from_file.get("experiment", "default"))
    values = {**load_preset(str(experiment)), **from_file, **overrides}
    values["experiment"] = str(experiment)
    return TrainConfig(**_coerce(values))


@dataclass
class AdaptConfig:
    model: str = EMBEDDED_MODEL
    output_dir: str = "adapted"
    data_dir: str | None = None
    train_file: str | None = None
    text_files: tuple[str, ...] = ()
    epochs: int = 3
    head_warmup_epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    mask_probability: float = 0.15
    max_length: int = 128
    seed: int = 0
    precision: str = "auto"
    device: str = "auto"
    threads: int = 0
    progress: bool | None = None

    def check(self) -> None:
        if self.epochs < 1:
            raise ConfigError("--epochs: must be at least 1")
        if self.head_warmup_epochs < 0:
            raise ConfigError("--head-warmup-epochs: must be 0 or more")
        if self.batch_size < 1:
            raise ConfigError("--batch-size: must be at least 1")
        if not 0.0 < self.mask_probability < 1.0:
            raise ConfigError("--mask-probability: must be between 0 and 1 (pretraining used 0.15)")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError("--warmup-ratio: must be in [0, 1)")
        out = Path(self.output_dir)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(f"--output-dir {out}: not empty; pick a new folder")


