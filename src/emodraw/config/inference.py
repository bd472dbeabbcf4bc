"""The options of the commands that load a trained model -- evaluate, predict, export, serve: one dataclass
per command, from which its flags are generated (emodraw.cli), each checked in __post_init__ with one line
naming the flag."""

from __future__ import annotations

import os
from dataclasses import dataclass

from emodraw.config.data_options import (
    check_data_options,
    label_column_option,
    label_names_option,
    label_separator_option,
    no_header_option,
    text_column_option,
)
from emodraw.config.options import (
    check_choices,
    check_number,
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

SPLITS = ("val", "test")
CHECKPOINT_HELP = "checkpoint folder, export folder, run folder (its best checkpoint), or a Hugging Face Hub id"
API_KEY_VARIABLE = "EMODRAW_API_KEY"
MAX_PORT = 65535
LONG_TEXT = ("truncate", "chunk")
LONG_TEXT_HELP = (
    "texts longer than the model's maximum length: truncate (score the start) or chunk (score overlapping "
    "windows and combine them, so an emotional passage late in a text counts)"
)


def _checkpoint(help: str = CHECKPOINT_HELP):
    return option(help=help, positional=True)


def revision_option():
    return option(
        None,
        "with a Hub id: the branch, tag or commit to load (offline: found in the local Hugging Face cache)",
        metavar="REV",
        default_text="main",
    )


def _check_runtime(config) -> None:
    check_threads(config)
    check_choices(config)


@dataclass(kw_only=True)
class EvaluateConfig:
    checkpoint: str = _checkpoint()
    revision: str | None = revision_option()
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
    label_separator: str | None = label_separator_option(default_text="the checkpoint's (multi-label models)")
    device: str = device_option()
    precision: str = precision_option()
    threads: int = threads_option()
    progress: bool | None = progress_option()

    def __post_init__(self):
        check_data_options(self)
        check_whole(self, "batch_size", 1)
        _check_runtime(self)


@dataclass(kw_only=True)
class PredictConfig:
    checkpoint: str = _checkpoint()
    revision: str | None = revision_option()
    texts: tuple[str, ...] = option((), "texts to label", positional="*", metavar="TEXT", default_text="read stdin")
    file: str | None = option(
        None, "input: .txt (one text a line, or text;label), .csv, .tsv, .jsonl or .parquet", metavar="FILE"
    )
    text_column: str = text_column_option()
    label_column: str = label_column_option()  # predict reads the text: a label column is kept with the others
    no_header: bool = no_header_option()
    output: str | None = option(None, "write results to OUT.jsonl or OUT.csv", metavar="OUT", default_text="stdout")
    json: bool = option(
        False,
        'one JSON object per line: {"text", "label", "scores"} ({"text", "labels", "scores"} for a multi-label model)',
        negatable=False,
    )
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
    checkpoint: str = _checkpoint("checkpoint folder, run folder (its best checkpoint) or a Hugging Face Hub id")
    revision: str | None = revision_option()
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
    revision: str | None = revision_option()
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
