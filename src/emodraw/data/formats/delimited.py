""".csv and .tsv: rows of cells, the text and label in the columns --text-column/--label-column name (by the
header row's names, or by position; `--no-header` when the first row is data). Its other columns are kept
for predict.

.csv is RFC 4180 as the csv module reads it: a quoted field may hold commas, quotes and line breaks.
.tsv is the plain tab-separated convention: one row per line, cells split at each tab, no quoting (a `"`
is part of the text), so a text cannot hold a tab or a line break.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from emodraw.data.columns import flag, other_columns
from emodraw.data.lines import decoded_lines, too_long
from emodraw.data.record import Reading, Record

# The csv module ends a row at a lone "\r" only at the end of a line it is given (inside one it raises), so
# each line is cut where a file opened with newline="" would cut it; line numbers still count "\n" only.
_CSV_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)")


class _RowTooLong(Exception):
    """A CSV row past the record limit: raised inside the csv module's line feed to stop it mid-row."""


def _csv_rows(lines, limit: int) -> Iterator[tuple[int, int, list[str] | None, str]]:
    """(line, offset, row, "") for each row and (line, offset, None, problem) for each problem, in file
    order; a problem of the CSV structure itself ends the rows."""
    # The csv module's own limit (131,072 characters a field, process-wide) would stop a whole file at a text
    # the other formats accept; the row limit below replaces it. Only ever raised, so no other reader is hurt.
    csv.field_size_limit(max(csv.field_size_limit(), limit))
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
                if row_size[0] > limit + 1:
                    raise _RowTooLong
            yield from _CSV_LINE.findall(line + "\n")

    def pending():
        while unread:
            number, reason = unread.pop(0)
            yield number, at[1], None, reason

    reader = csv.reader(csv_lines())
    while True:
        # The csv module pulls lines only up to the end of the row it returns, so `at` is that row's last line.
        try:
            row = next(reader)
        except StopIteration:
            yield from pending()
            return
        except csv.Error as exc:
            yield from pending()
            yield at[0], at[1], None, f"malformed CSV ({exc})"
            return
        except _RowTooLong:
            yield from pending()
            yield at[0], at[1], None, too_long(limit)
            return
        row_size[0] = 0
        yield from pending()
        yield at[0], at[1], row, ""


def _tsv_rows(lines) -> Iterator[tuple[int, int, list[str] | None, str]]:
    for number, line, offset, problem in lines:
        yield number, offset, (None if problem else line.split("\t")), problem


def delimited_records(handle, source, reading: Reading, kind: str) -> Iterator[Record]:
    """The records of a .csv (kind "CSV") or .tsv (kind "TSV") file."""
    lines = decoded_lines(handle, source, reading.limit)
    rows = _csv_rows(lines, reading.limit) if kind == "CSV" else _tsv_rows(lines)
    fields = ("text", "label") if reading.labelled else ("text",)
    columns = reading.columns
    used: list[int] | None = None
    header: list[str] | None = None
    for number, offset, row, problem in rows:
        if problem:
            yield Record(number, problem=problem, offset=offset)
            continue
        if used is None:
            header = row if columns.header else None
            used, why = columns.indices(header, fields, kind)
            if why:
                yield Record(number, problem=why, offset=offset)
                return
            if columns.header:
                continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(used):
            if header is not None:
                why = "row has fewer columns than the header"
            else:
                why = f"row has {len(row)} column(s); {flag(fields[used.index(max(used))])} {max(used)} needs more"
            yield Record(number, problem=why, offset=offset)
            continue
        others = None
        if reading.keep_others:
            width = len(header) if header is not None else len(row)
            others = {name: row[i] if i < len(row) else "" for i, name in other_columns(header, used, width)}
        label = row[used[1]] if reading.labelled else None
        yield Record(number, row[used[0]], label, offset=offset, others=others)


def csv_records(handle, source, reading: Reading) -> Iterator[Record]:
    return delimited_records(handle, source, reading, "CSV")


def tsv_records(handle, source, reading: Reading) -> Iterator[Record]:
    return delimited_records(handle, source, reading, "TSV")
