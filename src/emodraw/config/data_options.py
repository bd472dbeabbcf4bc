"""The data options shared by every command that reads data files (train, evaluate, check-data; predict all
but the label options): declared once here, read by emodraw.data.columns and emodraw.data.label_names."""

from __future__ import annotations

from typing import Any

from emodraw.config.options import check_types, option, reject
from emodraw.errors import ConfigError


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


def multi_label_option() -> Any:
    return option(
        False,
        "each text may carry several labels (or none), joined by --label-separator: one sigmoid output per label, "
        "binary cross-entropy, a decision threshold chosen on validation",
    )


def label_separator_option(default: str | None = ",", default_text: str | None = None) -> Any:
    return option(
        default,
        "with --multi-label: what joins a text's labels in its label field",
        metavar="SEP",
        default_text=default_text,
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
    separator = getattr(config, "label_separator", None)
    if separator is not None and (not separator or separator != separator.strip() and separator.strip()):
        reject("label_separator", separator, "must be one or more characters, without surrounding spaces", config)
    if names is not None and not str(config.label_names).strip(" ,"):
        reject("label_names", names, "must name a file or give names (a,b,c)", config)
