"""The options of every command but training's run options (emodraw.config.train): one dataclass per
command, from which its flags are generated (emodraw.cli). Each checks its values in __post_init__ with
one line naming the flag, so the Python API and the command line refuse the same things the same way."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from emodraw.config.options import (
    EMBEDDED_MODEL,
    MAX_SEED,
    check_choices,
    check_number,
    check_threads,
    check_types,
    check_whole,
    device_option,
    option,
    precision_option,
    reject,
    threads_option,
)
from emodraw.config.train import (
    check_data_options,
    label_column_option,
    label_names_option,
    no_header_option,
    text_column_option,
)
from emodraw.errors import ConfigError

SPLITS = ("val", "test")
CHECKPOINT_HELP = "checkpoint folder, export folder, or run folder (its best checkpoint)"
PROGRESS_HELP = "show a progress bar"
TERMINAL = "when stderr is a terminal"
API_KEY_VARIABLE = "EMODRAW_API_KEY"
MAX_PORT = 65535
LONG_TEXT = ("truncate", "chunk")
LONG_TEXT_HELP = (
    "texts longer than the model's maximum length: truncate (score the start) or chunk (score overlapping "
    "windows and combine them, so an emotional passage late in a text counts)"
)


def _checkpoint(help: str = CHECKPOINT_HELP):
    return option(help=help, positional=True)


def _check_runtime(config) -> None:
    check_threads(config)
    check_choices(config)


@dataclass(kw_only=True)
class TrainCommand:
    """`emodraw train`'s options besides the run's own (TrainConfig): how to start it, not what it trains."""

    config_file: str | None = option(
        None, "YAML file of options (flags override it)", flag="--config", metavar="FILE.yaml"
    )
    resume: str | None = option(None, "continue an interrupted run from its last finished epoch", metavar="RUN_DIR")
    num_processes: int = option(
        1, "train with N processes on this machine (launched through Hugging Face Accelerate)", metavar="N"
    )
    progress: bool | None = option(None, PROGRESS_HELP, default_text=TERMINAL)

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
    progress: bool | None = option(None, PROGRESS_HELP, default_text=TERMINAL)

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
        _check_runtime(self)

    def check(self) -> None:
        """Just before adapting: the values again (fields may have been set since), and the output folder,
        whose state can change between building the options and using them."""
        self.__post_init__()
        out = Path(self.output_dir)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(f"--output-dir {out}: not empty; pick a new folder")


@dataclass(kw_only=True)
class EvaluateConfig:
    checkpoint: str = _checkpoint()
    split: str = option("test", "split of the data the model was trained on", choices=SPLITS, exclusive="data")
    data: str | None = option(None, "a labelled data file instead (as train reads)", metavar="FILE", exclusive="data")
    json: bool = option(False, "print one JSON object", negatable=False)
    batch_size: int = option(128, "texts per forward pass")
    long_text: str = option("truncate", LONG_TEXT_HELP, choices=LONG_TEXT)
    skip_invalid: bool = option(False, "skip malformed lines instead of stopping", negatable=False)
    text_column: str = text_column_option()
    label_column: str = label_column_option()
    no_header: bool = no_header_option()
    label_names: str | None = label_names_option()
    device: str = device_option()
    precision: str = precision_option()
    threads: int = threads_option()

    def __post_init__(self):
        check_data_options(self)
        check_whole(self, "batch_size", 1)
        _check_runtime(self)


@dataclass(kw_only=True)
class PredictConfig:
    checkpoint: str = _checkpoint()
    texts: tuple[str, ...] = option((), "texts to label", positional="*", metavar="TEXT", default_text="read stdin")
    file: str | None = option(
        None, "input: .txt (one text a line, or text;label), .csv, .tsv, .jsonl or .parquet", metavar="FILE"
    )
    text_column: str = text_column_option()
    label_column: str = label_column_option()  # predict reads the text: a label column is kept with the others
    no_header: bool = no_header_option()
    output: str | None = option(None, "write results to OUT.jsonl or OUT.csv", metavar="OUT", default_text="stdout")
    json: bool = option(False, 'one JSON object per line: {"text", "label", "scores"}', negatable=False)
    force: bool = option(False, "overwrite an existing --output file", negatable=False)
    explain: bool = option(
        False,
        "add each word's contribution to the predicted emotion (and to every emotion): the score lost when "
        "the word is left out",
        negatable=False,
    )
    long_text: str = option("truncate", LONG_TEXT_HELP, choices=LONG_TEXT)
    batch_size: int = option(64, "texts per forward pass")
    device: str = device_option()
    precision: str = precision_option()
    threads: int = threads_option()

    def __post_init__(self):
        self.texts = tuple(self.texts)
        check_data_options(self, labelled=False)
        if self.texts and self.file:
            raise ConfigError("give texts as arguments or --file, not both")
        check_whole(self, "batch_size", 1)
        _check_runtime(self)


@dataclass(kw_only=True)
class ExportConfig:
    checkpoint: str = _checkpoint("checkpoint folder or run folder (its best checkpoint)")
    output: str = option(help="new folder for the export", metavar="DIR")
    int8: bool = option(False, "also write a dynamically quantised int8 model (used by default)", negatable=False)
    force: bool = option(False, "keep the export even if the parity check fails", negatable=False)
    opset: int = option(17, "ONNX opset (>= 14)")
    data: str | None = option(
        None, "labelled file for the parity check", metavar="FILE", default_text="the validation split"
    )

    def __post_init__(self):
        check_types(self)
        if self.opset < 14:
            raise ConfigError(f"--opset {self.opset}: needs 14 or newer")


@dataclass(kw_only=True)
class ServeConfig:
    checkpoint: str = _checkpoint()
    host: str = option("127.0.0.1", "address to listen on (0.0.0.0 exposes it to the network)")
    port: int = option(8000, "TCP port")
    threads: int = option(0, "CPU threads for the model (0 = default)")
    max_in_flight: int = option(64, "requests in flight before new ones get 429")
    batch_window_ms: float | None = option(
        None,
        "wait this long to batch requests that arrive together; 0 = off",
        default_text="2 for PyTorch checkpoints, 0 for ONNX exports (measured, docs/PERFORMANCE.md)",
    )
    api_key: str | None = option(
        None,
        "require this key from clients (header `Authorization: Bearer KEY`); prefer the environment variable, "
        "which other users cannot read from the process list",
        metavar="KEY",
        default_text=f"${API_KEY_VARIABLE} if set, else no key",
        secret=True,
    )
    body_timeout_s: float = option(
        10.0, "seconds a client has to send a request's headers and body", flag="--body-timeout", metavar="SECONDS"
    )
    long_text: str = option("truncate", LONG_TEXT_HELP, choices=LONG_TEXT)
    cors_origin: tuple[str, ...] = option(
        (),
        "allow browser pages from this origin (e.g. https://app.example.com; * for any) to call the API",
        metavar="ORIGIN",
    )
    access_log: bool = option(False, "log one line per request (method, path, status, client)", negatable=False)

    def __post_init__(self):
        if self.api_key is None:
            self.api_key = os.environ.get(API_KEY_VARIABLE) or None
        check_types(self)
        if self.max_in_flight < 1:
            raise ConfigError(f"--max-in-flight {self.max_in_flight}: needs at least 1")
        check_whole(self, "port", 0, maximum=MAX_PORT)  # 0: the system picks a free port
        check_threads(self)
        check_choices(self)
        if self.batch_window_ms is not None:
            check_number(self, "batch_window_ms", 0, 1000.0)  # longer windows only add latency
        # Sockets take timeouts up to about 10**9 s; a day is already far more than any body needs.
        check_number(self, "body_timeout_s", 0, 86400.0, above=True)
        if self.api_key is not None and not self.api_key.strip():  # the key itself is never repeated in a message
            raise ConfigError(f"--api-key (or ${API_KEY_VARIABLE}): must not be blank")
        self.cors_origin = tuple(self.cors_origin)
        for origin in self.cors_origin:
            if origin != "*" and not (origin.startswith(("http://", "https://")) and origin.count("/") == 2):
                reject("cors_origin", origin, "must be * or scheme://host[:port], without a path")


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
    learning_rate: float | None = option(None, "peak learning rate of every encoder", default_text="the default job's")
    batch_size: int | None = option(None, "batch size of every encoder", default_text="the default job's")

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
