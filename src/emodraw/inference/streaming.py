"""`emodraw predict` over arguments, stdin or a big file: read a chunk, predict it, write it.

Memory stays bounded by the chunk size whatever the file size. A bad input line (invalid UTF-8, an
empty text, broken JSON) is reported on stderr with its number and skipped; the run goes on.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from emodraw.errors import EmodrawError

CHUNK = 512


def _decoded_lines(handle: IO[bytes]) -> Iterator[tuple[int, str | None, int]]:
    """(line number, text or None if not UTF-8, bytes consumed so far)."""
    consumed = 0
    for number, raw in enumerate(handle, start=1):
        consumed += len(raw)
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield number, raw.decode("utf-8").rstrip("\r\n"), consumed
        except UnicodeDecodeError:
            yield number, None, consumed


def read_records(handle: IO[bytes], kind: str, labels: Iterable[str]) -> Iterator[tuple[int, str | None, str, int]]:
    """(line, text or None, problem, bytes consumed) for each input record of a .txt/.csv/.jsonl stream."""
    known = set(labels)
    lines = _decoded_lines(handle)
    if kind == ".csv":
        yield from _csv_records(lines)
        return
    for number, line, consumed in lines:
        if line is None:
            yield number, None, "invalid UTF-8", consumed
        elif not line.strip():
            continue
        elif kind == ".jsonl":
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                yield number, None, "not valid JSON", consumed
                continue
            text = obj.get("text") if isinstance(obj, dict) else None
            if not isinstance(text, str) or not text.strip():
                yield number, None, "missing, empty or non-string 'text'", consumed
            else:
                yield number, text, "", consumed
        else:
            # A labelled line (text;label, as in the training files) is read as its text.
            head, _, tail = line.rpartition(";")
            text = head if head and tail.strip() in known else line
            yield number, text.strip(), "", consumed


def _csv_records(lines):
    consumed = [0]
    bad: list[int] = []

    def texts():
        for number, line, used in lines:
            consumed[0] = used
            if line is None:
                bad.append(number)
                yield ""
            else:
                yield line

    reader = csv.reader(texts())
    header = next(reader, None)
    if header is None:
        return
    columns = [c.strip().lower() for c in header]
    if "text" not in columns:
        yield reader.line_num, None, "the CSV header has no 'text' column", consumed[0]
        return
    column = columns.index("text")
    try:
        for row in reader:
            while bad:
                yield bad.pop(0), None, "invalid UTF-8", consumed[0]
            if not row:
                continue
            if len(row) <= column or not row[column].strip():
                yield reader.line_num, None, "missing or empty text", consumed[0]
            else:
                yield reader.line_num, row[column], "", consumed[0]
    except csv.Error as exc:
        yield reader.line_num, None, f"malformed CSV ({exc}); stopped reading", consumed[0]


class _Writer:
    """Writes prediction rows as plain lines, JSON lines or CSV."""

    def __init__(self, out: IO[str], fmt: str, labels: list[str]):
        self.out, self.fmt, self.labels = out, fmt, labels
        if fmt == "csv":
            self.csv = csv.writer(out)
            self.csv.writerow(["line", "text", "label", "truncated", *labels])

    def write(self, line: int, text: str, row: dict) -> None:
        if self.fmt == "plain":
            self.out.write(f"{row['label']}\t{text}\n")
        elif self.fmt == "json":
            self.out.write(json.dumps({"text": text, "label": row["label"], "scores": row["scores"]}) + "\n")
        elif self.fmt == "jsonl":
            self.out.write(json.dumps({"line": line, "text": text, **row}) + "\n")
        else:
            self.csv.writerow(
                [line, text, row["label"], row["truncated"], *(f"{row['scores'][n]:.6f}" for n in self.labels)]
            )


def predict_stream(
    clf,
    *,
    texts: list[str] | None = None,
    file: str | None = None,
    output: str | None = None,
    as_json: bool = False,
    batch_size: int = 64,
) -> int:
    from tqdm import tqdm

    if output:
        suffix = Path(output).suffix.lower()
        if suffix not in (".jsonl", ".csv"):
            raise EmodrawError(f"--output {output}: use a .jsonl or .csv file")
        out = open(output, "w", encoding="utf-8", newline="")
        writer = _Writer(out, suffix[1:], clf.labels)
    else:
        out = sys.stdout
        writer = _Writer(out, "json" if as_json else "plain", clf.labels)

    if texts:
        records = ((i, t, "" if t.strip() else "empty text", 0) for i, t in enumerate(texts, start=1))
        source, total, handle = "argument", None, None
    else:
        if file:
            path = Path(file)
            if not path.is_file():
                raise EmodrawError(f"--file {file}: file not found")
            handle, source, total, kind = open(path, "rb"), str(path), path.stat().st_size, path.suffix.lower()
        else:
            if sys.stdin.isatty():
                raise EmodrawError("no texts: give them as arguments, with --file, or on stdin")
            handle, source, total, kind = sys.stdin.buffer, "stdin", None, ".txt"
        records = read_records(handle, kind if kind in (".csv", ".jsonl") else ".txt", clf.labels)

    bar = tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc="predict",
        disable=not (output and sys.stderr.isatty()),
        file=sys.stderr,
    )
    done = skipped = 0
    chunk: list[tuple[int, str]] = []
    last_consumed = 0

    def flush():
        nonlocal done
        rows = clf.details([t for _, t in chunk], batch_size=batch_size)
        for (line, text), row in zip(chunk, rows):
            writer.write(line, text, row)
        done += len(chunk)
        chunk.clear()
        out.flush()

    try:
        for line, text, problem, consumed in records:
            if problem:
                skipped += 1
                print(f"{source}:{line}: {problem} (skipped)", file=sys.stderr)
                continue
            chunk.append((line, text))
            if total:
                bar.update(consumed - last_consumed)
                last_consumed = consumed
            if len(chunk) >= CHUNK:
                flush()
        if chunk:
            flush()
    finally:
        bar.close()
        if handle is not None and handle is not sys.stdin.buffer:
            handle.close()
        if output:
            out.close()
    if output or skipped:
        print(
            f"predicted {done} text(s){f', skipped {skipped} bad line(s)' if skipped else ''}"
            f"{f' -> {output}' if output else ''}",
            file=sys.stderr,
        )
    return 0
