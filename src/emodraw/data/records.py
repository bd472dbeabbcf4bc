"""The one reader of data files: .txt, .csv and .jsonl, labelled or text-only, streamed record by record.

Formats, chosen by the file's suffix:
  .txt    `text;label` per line, split on the LAST `;` (texts may contain `;`)
  .csv    a header row with `text` and `label` columns (any order, other columns ignored)
  .jsonl  one JSON object per line with string fields `text` and `label`
Text-only reading (`emodraw predict --file`) needs only the text: a .csv or .jsonl label is ignored, and
a .txt line ending in `;<known label>` is read as its text, so a training file can be predicted as is.

A UTF-8 BOM and CRLF line ends are accepted; blank lines are ignored. Every other defect is a Record
with a `problem` and the number of the line it stands on; the caller decides whether that stops the
read (training) or is reported and skipped (prediction). The file is read one line at a time, and a line
longer than MAX_RECORD_BYTES is a problem read past in pieces, so memory stays bounded whatever the file.

Every text and label is checked here (text_problem): one the tokenizer cannot take -- a lone surrogate,
which a JSON escape can spell -- or a NUL is a problem of its line, never a traceback in a later batch.
A file that starts with a UTF-16 or UTF-32 byte-order mark is refused whole, with one DataError.
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
# The most bytes one record may have (its line without the line end; a CSV row's lines together): 1 MiB,
# thousands of times what a 512-token model reads, yet a BERT tokenizer takes it in about 150 MB (a 50 MB
# line peaked at 6.6 GB). Longer is the record's problem, `record longer than N bytes`.
MAX_RECORD_BYTES = 1 << 20
_DISCARD = 1 << 16  # bytes read at a time from the rest of an over-long line, which is thrown away
# Refused, not decoded: one decoding for training and prediction alike, and re-saving as UTF-8 is the whole
# fix. UTF-32 LE's mark starts with UTF-16 LE's, so it is tried first.
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
# The csv module's own limit (131,072 characters a field, process-wide) would stop a whole file at a text
# the other formats accept; the row limit below replaces it. Only ever raised, so no other reader is hurt.
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))
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


def text_problem(text: str) -> str | None:
    """Why a text cannot be classified, or None if it can: the one check of every text, whether it comes
    from a data file (the reader applies it), a command-line argument or an HTTP request.

    A lone surrogate (U+D800-U+DFFF: a JSON escape such as "\\ud800", or an undecodable byte in sys.argv)
    cannot be encoded as UTF-8 and makes the tokenizer raise TypeError. A NUL is silently deleted by BERT's
    tokenizer ("a\\x00b" reads as "ab") and in a text file means binary data or UTF-16 text.
    """
    return _value_problem(text, "text")


def _value_problem(value: str, what: str) -> str | None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # strict UTF-8 fails on surrogates and nothing else
        code = ord(value[exc.start])
        return f"{what} has a lone surrogate U+{code:04X} at character {exc.start + 1} (not valid Unicode)"
    at = value.find("\x00")
    if at >= 0:
        return f"{what} has a NUL character at character {at + 1} (binary data, or UTF-16 text?)"
    return None


def text_records(texts: Iterable[str]) -> Iterator[Record]:
    """Texts given one by one (command-line arguments), numbered from 1 and checked as a file's lines are;
    kept as given, not stripped."""
    for number, text in enumerate(texts, start=1):
        problem = (text_problem(text) or "") if text.strip() else EMPTY_TEXT
        if not problem and len(text.encode("utf-8")) > MAX_RECORD_BYTES:  # as a file's line would be
            problem = f"record longer than {MAX_RECORD_BYTES} bytes"
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
) -> Iterator[Record]:
    """The records of a binary stream in format `fmt` (one of FORMATS), in file order.

    `labels` is the known label set. Labelled, any other label is a problem (val/test against the
    training labels; None accepts every label). Text-only, it tells a .txt `text;label` line from a
    text that merely contains `;`. `source` names the stream in the one DataError raised, for a file
    that is not UTF-8 at all (the handle's name by default).
    """
    known = set(labels) if labels is not None else None
    fields = ("text", "label") if labelled else ("text",)
    lines = _decoded_lines(handle, source if source is not None else getattr(handle, "name", "input"))
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


def _raw_lines(handle: IO[bytes] | Iterable[bytes]) -> Iterator[tuple[bytes, int, bool]]:
    """(a line's bytes, its size in the file, whether it is whole): a line longer than MAX_RECORD_BYTES
    comes as its first bytes only, the rest read in pieces and dropped, so it is never held in memory."""
    limit = MAX_RECORD_BYTES + 2  # room for the text and a CRLF
    readline = getattr(handle, "readline", None)
    if readline is None:  # lines already in memory (a list): only the limit to apply
        for raw in handle:
            yield raw[:limit], len(raw), len(raw) <= limit
        return
    while raw := readline(limit):
        size = len(raw)
        if size < limit or raw.endswith(b"\n"):  # the whole line (a short one ends the file)
            yield raw, size, True
            continue
        piece = raw
        while piece and not piece.endswith(b"\n"):
            piece = readline(_DISCARD)
            size += len(piece)
        yield raw, size, False


def _decoded_lines(handle: IO[bytes] | Iterable[bytes], source) -> Iterator[tuple[int, str, int, str]]:
    """(line number, its text without the line end, bytes read so far, its problem): the text is "" when
    the line is not UTF-8 or too long. DataError for a file that starts with a UTF-16/UTF-32 BOM.

    Only `\n` ends a line, and only one `\r` before it is dropped: a `\r` inside a text is the text's."""
    offset = 0
    for number, (raw, size, whole) in enumerate(_raw_lines(handle), start=1):
        offset += size
        if number == 1:
            for mark, encoding in _OTHER_BOMS:
                if raw.startswith(mark):
                    spelt = " ".join(f"{byte:02X}" for byte in mark)
                    reason = f"{encoding} text (a byte-order mark {spelt}): save the file as UTF-8"
                    raise DataError(source, 1, reason)
            if raw.startswith(BOM):
                raw = raw[len(BOM) :]
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not whole or len(raw) > MAX_RECORD_BYTES:
            yield number, "", offset, f"record longer than {MAX_RECORD_BYTES} bytes"
            continue
        try:
            yield number, raw.decode("utf-8"), offset, ""
        except UnicodeDecodeError:
            yield number, "", offset, "invalid UTF-8"


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
    else:
        problem = text_problem(record.text) or (_value_problem(record.label, "label") if label else None)
        if not problem and known is not None and label not in known:
            problem = f"unknown label {label!r} (the training labels are {', '.join(sorted(known))})"
    if not problem:
        return Record(record.line, text, label, offset=record.offset)
    return Record(record.line, problem=problem, offset=record.offset)


def _txt_records(lines, labelled: bool, known: set[str]) -> Iterator[Record]:
    for number, line, offset, problem in lines:
        if problem:
            yield Record(number, problem=problem, offset=offset)
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
    for number, line, offset, problem in lines:
        if problem:
            yield Record(number, problem=problem, offset=offset)
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


class _RowTooLong(Exception):
    """A CSV row past MAX_RECORD_BYTES: raised inside the csv module's line feed to stop it mid-row."""


def _csv_records(lines, fields: tuple[str, ...]) -> Iterator[Record]:
    at = [0, 0]  # (line number, offset) of the last line the csv module has pulled
    row_size = [0]  # characters (at most as many as bytes) pulled for the row the csv module is reading
    unread: list[tuple[int, str]] = []  # (line, problem) of lines pulled and not reported yet

    def csv_lines() -> Iterator[str]:
        for number, line, offset, problem in lines:
            at[:] = number, offset
            if problem:
                # Read as an empty line, so the CSV structure goes on; reported on its own below.
                unread.append((number, problem))
            else:
                # An unclosed quote makes the rest of the file one field: stop it at the record limit.
                row_size[0] += len(line) + 1
                if row_size[0] > MAX_RECORD_BYTES + 1:
                    raise _RowTooLong
            yield from _CSV_LINE.findall(line + "\n")

    def problem(reason: str) -> Record:
        return Record(at[0], problem=reason, offset=at[1])

    def pending() -> Iterator[Record]:
        while unread:
            number, reason = unread.pop(0)
            yield Record(number, problem=reason, offset=at[1])

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
        except _RowTooLong:
            yield from pending()
            yield problem(f"record longer than {MAX_RECORD_BYTES} bytes")
            return
        row_size[0] = 0
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
