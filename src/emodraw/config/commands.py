"""The options of every command but training's run options (emodraw.config.train): one dataclass per
command, from which its flags are generated (emodraw.cli). Each checks its values in __post_init__ with
one line naming the flag, so the Python API and the command line refuse the same things the same way."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

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
    check_threads,
    check_types,
    check_whole,
    device_option,
    option,
    precision_option,
    progress_option,
    reject,
    threads_option,
)
from emodraw.errors import ConfigError


@dataclass(kw_only=True)
class TrainCommand:
    """`emodraw train`'s options besides the run's own (TrainConfig): how to start it, not what it trains."""

    config_file: str | None = option(
        None, "YAML file of options (flags override it)", flag="--config", metavar="FILE.yaml"
    )
    resume: str | None = option(
        None,
        "continue an interrupted run from its last saved state: the last finished epoch, or a later save inside "
        "the next one (every --save-every-minutes, and at Ctrl-C)",
        metavar="RUN_DIR",
    )
    num_processes: int = option(
        1, "train with N processes on this machine (launched through Hugging Face Accelerate)", metavar="N"
    )
    progress: bool | None = progress_option()

    def __post_init__(self):
        check_types(self)
        if self.num_processes < 1:
            raise ConfigError(f"--num-processes {self.num_processes}: needs at least 1")


@dataclass
class AdaptConfig:
    """`emodraw adapt` (and `train --adapt-epochs`): masked-LM training of a backbone on in-domain sentences.
    Its fields are also the adapted folder's recorded options and, but for where and how fast, its cache key
    (emodraw.training.adaptation), so a field added here changes both."""

    model: str = option(EMBEDDED_MODEL, "backbone to adapt: Hub id, local folder or the embedded default")
    output_dir: str = option("adapted", "new folder for the adapted backbone", metavar="DIR", required=True)
    data_dir: str | None = option(
        None, "data folder whose training split is read", metavar="DIR", default_text="the bundled emotion data"
    )
    train_file: str | None = option(None, "training file to read instead of --data-dir's", metavar="FILE")
    text_files: tuple[str, ...] = option(
        (), "unlabelled sentences, one per line, instead of the training split", flag="--text-file", metavar="FILE"
    )
    epochs: int = option(3, "epochs of masked-LM training of the whole model")
    head_warmup_epochs: int = option(
        1,
        "first train a freshly initialised masked-LM head alone for this many epochs (encoder frozen, 10x the "
        "rate); skipped when the backbone has its pretraining head",
    )
    batch_size: int = option(64, "sentences per step")
    learning_rate: float = option(1e-4, "peak AdamW rate (linear warm-up, then linear decay)", aliases=("--lr",))
    warmup_ratio: float = option(0.06, "fraction of each phase's steps of linear warm-up")
    weight_decay: float = option(0.01, "AdamW weight decay (not applied to biases and LayerNorm)")
    mask_probability: float = option(0.15, "fraction of tokens masked (BERT: 0.15)")
    max_length: int = option(128, "truncate sentences to this many tokens (at most the model's positions)")
    seed: int = option(0, "seed for the fresh head, the masks and the data order")
    precision: str = precision_option()
    device: str = device_option()
    threads: int = threads_option()
    progress: bool | None = progress_option()

    def __post_init__(self):
        self.text_files = tuple(self.text_files)
        check_types(self)
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
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            reject("learning_rate", self.learning_rate, "must be a positive number")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            reject("weight_decay", self.weight_decay, "must be a number >= 0")
        check_whole(self, "max_length", 1)  # beyond the model's positions: clamped where the model is known
        check_whole(self, "seed", 0, maximum=MAX_SEED)
        check_threads(self)
        check_choices(self)

    def check(self) -> None:
        """Just before adapting: the values again (fields may have been set since), and the output folder,
        whose state can change between building the options and using them."""
        self.__post_init__()
        out = Path(self.output_dir)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(f"--output-dir {out}: not empty; pick a new folder")


@dataclass(kw_only=True)
class CompareConfig:
    models: str = option("", "comma-separated: Hub ids, folders, the embedded model, tfidf-svm")
    runs: tuple[str, ...] = option((), "finished runs to include as they are", nargs="*", metavar="RUN_DIR")
    epochs: int | None = option(None, "epochs for every encoder", default_text="the default job's")
    portion: float = option(1.0, "fraction of the training data (stratified)")
    # compare() itself refuses seeds < 1 too, for its Python callers.
    seeds: int = option(1, "train each model with seeds 1..K; report mean ± std", metavar="K")
    output_dir: str = option("compare", "folder for the runs, the table and the chart", metavar="DIR")
    data_dir: str | None = option(None, "data folder", metavar="DIR", default_text="the bundled emotion data")
    experiment: str | None = option(
        None,
        "train every encoder from this preset (and read the data as it says: e.g. goemotions, multi-label)",
        metavar="PRESET",
        default_text="the default job's",
    )
    revision: str | None = option(
        None, "the branch, tag or commit of every Hub id in --models", metavar="REV", default_text="main"
    )
    learning_rate: float | None = option(None, "peak learning rate of every encoder", default_text="the default job's")
    batch_size: int | None = option(None, "batch size of every encoder", default_text="the default job's")
    int8: bool = option(
        False, "also export each encoder's first run to ONNX int8 (once, into DIR/exports): its size and CPU speed"
    )
    published: bool = option(False, "add a row with the published albert-base-v2's figures (experiment 3)")

    def __post_init__(self):
        self.runs = tuple(self.runs)
        check_types(self)
        # Checked here too (train() would refuse them), so that nothing is trained before the refusal.
        for name in ("epochs", "batch_size"):
            if getattr(self, name) is not None:
                check_whole(self, name, 1)
        if self.learning_rate is not None and not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            reject("learning_rate", self.learning_rate, "must be a positive number")
        check_whole(self, "seeds", 1)
        if not self.model_list and not self.runs:
            raise ConfigError("nothing to compare: give --models A,B,... and/or --runs RUN_DIR ...")
        if not 0 < self.portion <= 1:
            raise ConfigError(f"--portion {self.portion}: must be in (0, 1]")

    @property
    def model_list(self) -> list[str]:
        return [m.strip() for m in self.models.split(",") if m.strip()]


@dataclass(kw_only=True)
class CheckDataConfig:
    data_dir: str | None = option(None, "data folder", metavar="DIR", default_text="the bundled emotion data")
    train_file: str | None = option(None, "train file to read instead of --data-dir's", metavar="FILE")
    val_file: str | None = option(None, "val file to read instead of --data-dir's", metavar="FILE")
    test_file: str | None = option(None, "test file to read instead of --data-dir's", metavar="FILE")
    skip_invalid: bool = option(False, "skip malformed lines instead of stopping", negatable=False)
    text_column: str = text_column_option()
    label_column: str = label_column_option()
    no_header: bool = no_header_option()
    label_names: str | None = label_names_option()
    multi_label: bool = multi_label_option()
    label_separator: str = label_separator_option()
    examples: int = option(10, "list up to N sentences that carry two labels", metavar="N")
    json: bool = option(False, "print one JSON object", negatable=False)
    strict: bool = option(
        False,
        "exit with status 1 when validation/test sentences occur in training or a sentence has two labels",
        negatable=False,
    )

    def __post_init__(self):
        check_data_options(self)
        if self.examples < 0:
            raise ConfigError(f"--examples {self.examples}: must be 0 or more")


@dataclass(kw_only=True)
class AverageConfig:
    checkpoints: tuple[str, ...] = option((), "checkpoint folders to average", positional="*", metavar="CHECKPOINT")
    run: str | None = option(None, "take the checkpoints of --epochs from this run folder", metavar="RUN_DIR")
    epochs: str | None = option(None, "with --run: epochs to average, e.g. 4-6 or 2,4,6", metavar="LIST")
    output: str = option(help="new folder for the averaged checkpoint", metavar="DIR")

    def __post_init__(self):
        self.checkpoints = tuple(self.checkpoints)
        check_types(self)
        if bool(self.run) != bool(self.epochs):
            raise ConfigError("--run and --epochs go together")


@dataclass(kw_only=True)
class ReportConfig:
    runs: tuple[str, ...] = option(help="run folders whose results to merge", positional="+", metavar="RUN_DIR")
    output: str | None = option(None, "also write the table to this file", metavar="FILE.md")

    def __post_init__(self):
        self.runs = tuple(self.runs)
        check_types(self)
        if not self.runs:
            raise ConfigError("give at least one run folder")


@dataclass(kw_only=True)
class PushConfig:
    checkpoint: str = option(help="checkpoint folder or run folder (its best checkpoint)", positional=True)
    repo_id: str = option(help="the Hub repository to create or update, e.g. USER/NAME", positional=True)
    private: bool = option(False, "create the repository as private", negatable=False)
    revision: str | None = option(None, "push to this branch", metavar="BRANCH", default_text="main")

    def __post_init__(self):
        check_types(self)
        if self.repo_id.count("/") > 1 or not self.repo_id.strip(" /"):
            raise ConfigError(f"{self.repo_id!r}: a Hub repository id is NAME or OWNER/NAME")
