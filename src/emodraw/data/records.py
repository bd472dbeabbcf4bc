"""The one reader of data files: .txt, .csv, .tsv, .jsonl and .parquet, labelled or text-only, streamed
record by record. Training, evaluation, check-data and prediction all read through read_records, whatever
the format: the formats differ only behind its one seam (emodraw.data.formats).

Formats, chosen by the file's suffix:
  .txt      `text;label` per line, split on the LAST `;` (texts may contain `;`)
  .csv      a header row with `text` and `label` columns (any order, other columns ignored)
  .tsv      the same, tab-separated, without quoting (one row per line)
  .jsonl    one JSON object per line with a string field `text` and a field `label`
  .parquet  string `text` and `label` columns (pyarrow reads it); a row's number stands for its line
Which columns (or fields) hold the text and the label, and whether a .csv/.tsv file has a header, is a
Columns (emodraw.data.columns: `--text-column`, `--label-column`, `--no-header`). A label that is a whole
number is an id when names are given (emodraw.data.label_names: `--label-names`), else its own name.
Text-only reading (`emodraw predict --file`) needs only the text: a label is ignored, and a .txt line
ending in `;<known label>` is read as its text, so a training file can be predicted as is; it can keep
each record's other columns (`keep_others`), so that ids survive into predict's output.

A UTF-8 BOM and CRLF line ends are accepted; blank lines are ignored. Every other defect is a Record
with a `problem` and the number of the line it stands on; the caller decides whether that stops the
read (training) or is reported and skipped (prediction). The file is read one line at a time, and a line
longer than MAX_RECORD_BYTES is a problem read past in pieces, so memory stays bounded whatever the file.

Every text and label is checked here (text_problem): one the tokenizer cannot take -- a lone surrogate,
which a JSON escape can spell -- or a NUL is a problem of its line, never a traceback in a later batch.
A file that starts with a UTF-16 or UTF-32 byte-order mark is refused whole, with one DataError.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from emodraw.data.columns import Columns
from emodraw.data.formats import READERS
from emodraw.data.label_names import FLAG, is_integer, name_of, read_label_names
from emodraw.data.lines import too_long
from emodraw.data.record import EMPTY_TEXT, MAX_RECORD_BYTES, Reading, Record, text_problem, value_problem
from emodraw.errors import DataError

__all__ = [
    "EMPTY_TEXT",
    "FORMATS",
    "MAX_RECORD_BYTES",
    "Columns",
    "Record",
    "checked_records",
    "data_format",
    "open_data_file",
    "read_records",
    "text_problem",
    "text_records",
]

FORMATS = tuple(READERS)


def text_records(texts: Iterable[str]) -> Iterator[Record]:
    """Texts given one by one (command-line arguments), numbered from 1 and checked as a file's lines are;
    kept as given, not stripped."""
    for number, text in enumerate(texts, start=1):
        problem = (text_problem(text) or "") if text.strip() else EMPTY_TEXT
        if not problem and len(text.encode("utf-8")) > MAX_RECORD_BYTES:  # as a file's line would be
            problem = too_long(MAX_RECORD_BYTES)
        yield Record(number, text, problem=problem)


def data_format(path: str | Path) -> str:
    """The format of a data file from its suffix; DataError for any other suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DataError(path, None, f"unknown format {suffix or '(none)'}; use one of {', '.join(FORMATS)}")
    return suffix


def open_data_file(path: str | Path) -> IO[bytes]:
    """The file opened for reading records; DataError if it is missing, a folder or unreadable."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, None, "is a folder, expected a file") from None
    except OSError as exc:
        raise DataError(path, None, f"cannot read ({exc.strerror})") from None


def read_records(
    handle: IO[bytes] | Iterable[bytes],
    fmt: str,
    *,
    labelled: bool = True,
    labels: Iterable[str] | None = None,
    source: str | Path | None = None,
    columns: Columns | None = None,
    label_names: str | Sequence[str] | None = None,
    keep_others: bool = False,
    label_separator: str | None = None,
) -> Iterator[Record]:
    """The records of a binary stream in format `fmt` (one of FORMATS), in file order.

    `labels` is the known label set. Labelled, any other label is a problem (val/test against the
    training labels; None accepts every label, or with `label_names` those names). Text-only, it tells a
    .txt `text;label` line from a text that merely contains `;`. `columns` says where the text and label
    are (Columns(): the `text` and `label` columns of a header). With `label_names` (names, or a file or
    "a,b,c" as read_label_names reads them), an integer label is an id into them. `keep_others` fills each
    record's `others` with the columns it does not read. `source` names the stream in a DataError raised
    for the whole file (the handle's name by default).
    """
    if fmt not in READERS:
        raise ValueError(f"unknown format {fmt!r}")
    names = read_label_names(label_names)
    known = set(labels) if labels is not None else (set(names) if names is not None else None)
    reading = Reading(
        labelled=labelled,
        columns=columns if columns is not None else Columns(),
        keep_others=keep_others,
        limit=MAX_RECORD_BYTES,  # read here, at the call, so that tests can lower it
        known=frozenset(known or ()),
    )
    where = source if source is not None else getattr(handle, "name", "input")
    yield from checked_records(
        READERS[fmt](handle, where, reading),
        labels=known if labelled else None,
        label_names=names if labelled else None,  # text-only, a record has no label to check
        label_separator=label_separator if labelled else None,
    )


def checked_records(
    records: Iterable[Record],
    *,
    labels: Iterable[str] | None = None,
    label_names: str | Sequence[str] | None = None,
    label_separator: str | None = None,
) -> Iterator[Record]:
    """Records from any source -- a format reader, a `datasets` split (emodraw.data.hub_datasets) -- checked as
    a data file's are: texts and labels stripped, an integer label an id into `label_names`, a label outside
    `labels` (or, without them, outside `label_names`) a problem, and with `label_separator` each label field
    several labels (a tuple of names). A record that already has a problem passes as it is."""
    names = read_label_names(label_names)
    known = set(labels) if labels is not None else (set(names) if names is not None else None)
    for record in records:
        yield _checked(record, known, names, label_separator)


def _checked(record: Record, known: set[str] | None, names: list[str] | None, separator: str | None) -> Record:
    """The text and label stripped (an id read as its name; several labels with `separator`), or the problem
    with either; the same for every format."""
    if record.problem:
        return record
    text = record.text.strip()
    problem = EMPTY_TEXT if not text else text_problem(record.text)
    label = record.label
    if not problem and label is not None:
        if separator is not None:
            label, problem = _labels(label, separator, known, names)
        elif isinstance(label, tuple):
            problem = f"{len(label)} labels in one field; to train on several labels per text, give --multi-label"
        else:
            label, problem = _label(label, known, names)
    if not problem:
        return Record(record.line, text, label, offset=record.offset, others=record.others)
    return Record(record.line, problem=problem, offset=record.offset)


def _label(label: str, known: set[str] | None, names: list[str] | None) -> tuple[str, str]:
    """(the label as a name, "") or ("", its problem)."""
    stripped = label.strip()
    if not stripped:
        return "", "empty label"
    problem = value_problem(label, "label") or ""
    if not problem and names is not None:
        stripped, problem = name_of(stripped, names)
    if not problem and known is not None and stripped not in known:
        problem = _unknown(stripped, known, names)
    return stripped, problem


def _labels(
    field: str | tuple[str, ...], separator: str, known: set[str] | None, names: list[str] | None
) -> tuple[tuple[str, ...], str]:
    """(the labels of a multi-label field as names, in order, each once, "") or ((), the first problem). A
    field that is blank is an empty label, as in single-label reading; an empty list is a text with none."""
    parts = field if isinstance(field, tuple) else tuple(field.split(separator))
    if isinstance(field, str) and not field.strip():
        return (), "empty label"
    out: list[str] = []
    for part in parts:
        name, problem = _label(part, known, names)
        if problem:
            return (), problem if len(parts) == 1 else f"label {part.strip()!r}: {problem}"
        if name not in out:
            out.append(name)
    return tuple(out), ""


def _unknown(label: str, known: set[str], names: list[str] | None) -> str:
    if names is not None:
        return f"unknown label {label!r} (the {FLAG} are {', '.join(names)}, ids 0-{len(names) - 1})" + several(label)
    why = f"unknown label {label!r} (the training labels are {', '.join(sorted(known))})"
    if is_integer(label) and not any(is_integer(name) for name in known):
        why += f"; to read integer labels as ids, give {FLAG}"
    return why + several(label)


def several(label: str) -> str:
    """A hint for a label that looks like several labels joined (the usual multi-label file), or ""."""
    for separator in (",", "|", ";"):
        parts = [part.strip() for part in label.split(separator)]
        if len(parts) > 1 and all(parts):
            return f"; it looks like several labels joined by {separator!r}: give --multi-label" + (
                "" if separator == "," else f" --label-separator {separator!r}"
            )
    return ""
