"""The one reader of data files: .txt, .csv and .jsonl, labelled or text-only, streamed record by record.

Formats, chosen by the file's suffix:
  .txt    `text;label` per line, split on the LAST `;` (texts may contain `;`)
  .csv    a header row with `text` and `label` columns (any order, other columns ignored)
  .jsonl  one JSON object per line with string fields `text` and `label`
Text-only reading (`emodraw predict --file`) needs only the text: a .csv or .jsonl label is ignored, and
a .txt line ending in `;<known label>` is read as its text, so a training file can be predicted as is.

A UTF-8 BOM and CRLF line ends are accepted; blank lines are ignored. Every other defect is a Record
with a `problem` and the number of the line it stands on; the caller decides whether that stops the
read (training) or is reported and skipped (prediction). The file is read one line at a time, so
memory stays bounded whatever its size.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from emodraw.errors import DataError

FORMATS = (".txt", ".csv", ".jsonl")
BOM = b"\xef\xbb\xbf"
EMPTY_TEXT = "missing or empty text"
# The csv module ends a row at a lone "\r" only at the end of a line it is given (inside one it raises), so
# each line is cut where a file opened with newline="" would cut it; line numbers still count "\n" only.
_CSV_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)")


@dataclass(frozen=True, slots=True)
class Record:
    """One record of a data file: its text and label (None when read text-only), or what is wrong with it."""

    line: int  # the line it ends on (a quoted CSV field can span lines)
    text: str = ""
    label: str | None = None
    problem: str = ""
    offset: int = 0  # bytes of the file read up to the end of that line (for a progress bar)


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
) -> Iterator[Record]:
    """The records of a binary stream in format `fmt` (one of FORMATS), in file order.

    `labels` is the known label set. Labelled, any other label is a problem (val/test against the
    training labels; None accepts every label). Text-only, it tells a .txt `text;label` line from a
    text that merely contains `;`.
    """
    known = set(labels) if labels is not None else None
    fields = ("text", "label") if labelled else ("text",)
    lines = _decoded_lines(handle)
    if fmt == ".csv":
        records = _csv_records(lines, fields)
    elif fmt == ".jsonl":
        records = _jsonl_records(lines, fields)
    elif fmt == ".txt":
        records = _txt_records(lines, labelled, known or set())
    else:
        raise ValueError(f"unknown format {fmt!r}")
    for record in records:
        yield _checked(record, known if labelled else None)


def _decoded_lines(handle: IO[bytes] | Iterable[bytes]) -> Iterator[tuple[int, str | None, int]]:
    """(line number, its text without the line end or None if it is not UTF-8, bytes read so far).

    Only `\n` ends a line, and only one `\r` before it is dropped: a `\r` inside a text is the text's."""
    offset = 0
    for number, raw in enumerate(handle, start=1):
        offset += len(raw)
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            yield number, raw.decode("utf-8"), offset
        except UnicodeDecodeError:
            yield number, None, offset


def _checked(record: Record, known: set[str] | None) -> Record:
    """The text and label stripped, or the problem with either; the same for every format."""
    if record.problem:
        return record
    text = record.text.strip()
    label = record.label.strip() if record.label is not None else None
    if label == "":
        problem = "empty label"
    elif not text:
        problem = EMPTY_TEXT
    elif known is not None and label not in known:
        problem = f"unknown label {label!r} (the training labels are {', '.join(sorted(known))})"
    else:
        return Record(record.line, text, label, offset=record.offset)
    return Record(record.line, problem=problem, offset=record.offset)


def _txt_records(lines, labelled: bool, known: set[str]) -> Iterator[Record]:
    for number, line, offset in lines:
        if line is None:
            yield Record(number, problem="invalid UTF-8", offset=offset)
        elif not line.strip():
            continue
        elif labelled:
            if ";" not in line:
                yield Record(number, problem="no label: expected 'text;label'", offset=offset)
            else:
                text, label = line.rsplit(";", 1)
                yield Record(number, text, label, offset=offset)
        else:
            text, semicolon, label = line.rpartition(";")
            yield Record(number, text if semicolon and label.strip() in known else line, offset=offset)


def _jsonl_records(lines, fields: tuple[str, ...]) -> Iterator[Record]:
    for number, line, offset in lines:
        if line is None:
            yield Record(number, problem="invalid UTF-8", offset=offset)
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            yield Record(number, problem="not valid JSON", offset=offset)
            continue
        if not isinstance(obj, dict):
            named = " and ".join(repr(name) for name in fields)
            yield Record(number, problem=f"expected a JSON object with {named}", offset=offset)
            continue
        missing = [name for name in fields if not isinstance(obj.get(name), str)]
        if missing:
            yield Record(number, problem=f"missing or non-string {missing[0]!r}", offset=offset)
        else:
            yield Record(number, obj["text"], obj.get("label") if "label" in fields else None, offset=offset)


def _csv_records(lines, fields: tuple[str, ...]) -> Iterator[Record]:
    at = [0, 0]  # (line number, offset) of the last line the csv module has pulled
    undecodable: list[int] = []  # invalid UTF-8 lines pulled and not reported yet

    def csv_lines() -> Iterator[str]:
        for number, line, offset in lines:
            at[:] = number, offset
            if line is None:
                # Read as an empty line, so the CSV structure goes on; reported on its own below.
                undecodable.append(number)
                line = ""
            yield from _CSV_LINE.findall(line + "\n")

    def problem(reason: str) -> Record:
        return Record(at[0], problem=reason, offset=at[1])

    def pending() -> Iterator[Record]:
        while undecodable:
            yield Record(undecodable.pop(0), problem="invalid UTF-8", offset=at[1])

    reader = csv.reader(csv_lines())
    columns: list[int] | None = None
    while True:
        # The csv module pulls lines only up to the end of the row it returns, so `at` is that row's last line.
        try:
            row = next(reader)
        except StopIteration:
            yield from pending()
            return
        except csv.Error as exc:
            yield from pending()
            yield problem(f"malformed CSV ({exc})")
            return
        yield from pending()
        if columns is None:
            names = [name.strip().lower() for name in row]
            if not all(name in names for name in fields):
                yield problem(f"the CSV header must name {' and '.join(f'a {n!r}' for n in fields)} column")
                return
            columns = [names.index(name) for name in fields]
        elif not any(cell.strip() for cell in row):
            continue
        elif len(row) <= max(columns):
            yield problem("row has fewer columns than the header")
        else:
            values = [row[i] for i in columns]
            yield Record(at[0], values[0], values[1] if len(values) > 1 else None, offset=at[1])
