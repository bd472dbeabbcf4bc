"""`emodraw predict` over arguments, stdin or a big file: read a chunk, predict it, write it.

Memory stays bounded by the chunk size whatever the file size. A bad input line (invalid UTF-8, an
empty text, broken JSON, a text the tokenizer cannot take, a record past the size limit) is reported on
stderr with its number and skipped; the run goes on. Files are read by emodraw.data.records, as training
reads them, so a line is the same text and has the same number and the same problem in both; argument
texts get the same checks, numbered by their position. Only an input refused whole (a UTF-16 file) is an
error, raised before the output is opened. Into a .csv or .jsonl --output, each row keeps the input
file's other columns (an id, a gold label), after the prediction's own; a CSV's columns are the first
record's, since its header comes first.

--output is checked before any work (not a folder, in an existing folder, not the input, not an existing file
unless force) and written atomically: into a temporary file beside it, renamed into place only once whole,
so an interrupted, failed or full-disk run leaves no half file and an older output intact. stdout is
streamed line by line, as a pipe reader wants.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import sys
from pathlib import Path
from typing import IO

from emodraw.data.columns import Columns
from emodraw.data.records import FORMATS, read_records, text_records
from emodraw.errors import DataError, EmodrawError
from emodraw.files import atomic_file, disk_errors

CHUNK = 512


class _Writer:
    """Writes prediction rows as plain lines, JSON lines or CSV; a file's rows also carry the input's other
    columns (`others`), after the prediction's own, an input column named like one of those as input_<name>."""

    def __init__(self, out: IO[str], fmt: str, labels: list[str], explain: bool = False, multi_label: bool = False):
        self.out, self.fmt, self.labels, self.explain = out, fmt, labels, explain
        self.key = "labels" if multi_label else "label"  # a multi-label row's labels: a list, maybe empty
        self.kept: list[str] | None = None  # a CSV's input columns: the first row's, as its header must be fixed
        self.left_out: set[str] = set()  # input columns of later rows that the CSV's header lacks
        if fmt == "csv":
            self.csv = csv.writer(out)
            self.own = ["line", "text", self.key, "truncated", *labels, *(["explanation"] if explain else [])]

    def write(self, line: int, text: str, row: dict, others: dict | None = None) -> None:
        if self.fmt == "plain":
            self.out.write(f"{self._label(row)}\t{text}\n")
            if self.explain:  # the words under the text, each with its weight for the label
                self.out.write("\t" + " ".join(f"{w['word']}:{w['weight']:+.3f}" for w in row["explanation"]) + "\n")
        elif self.fmt == "json":
            extra = {"explanation": row["explanation"]} if self.explain else {}
            shown = {"text": text, self.key: row[self.key], "scores": row["scores"], **extra}
            self.out.write(json.dumps(shown) + "\n")
        elif self.fmt == "jsonl":
            own = {"line": line, "text": text, **row}
            taken = dict.fromkeys(own)
            kept = {_free_name(name, taken): value for name, value in (others or {}).items()}
            # default=str: a Parquet date or decimal is written as its text, not refused
            self.out.write(json.dumps({**own, **kept}, default=str) + "\n")
        else:
            self._header(others)
            scores = (f"{row['scores'][n]:.6f}" for n in self.labels)
            extra = [json.dumps(row["explanation"])] if self.explain else []
            others = others or {}
            self.left_out.update(set(others) - set(self.kept))
            kept = [_cell(others.get(name)) for name in self.kept]
            self.csv.writerow([line, text, self._label(row), row["truncated"], *scores, *extra, *kept])

    def _label(self, row: dict) -> str:
        """The label, or a multi-label row's labels joined by commas ("" for none), as a plain or CSV cell."""
        return ",".join(row["labels"]) if self.key == "labels" else row["label"]

    def _header(self, others: dict | None) -> None:
        if self.fmt == "csv" and self.kept is None:
            self.kept = list(others or ())
            taken = dict.fromkeys(self.own)
            self.csv.writerow([*self.own, *(_free_name(name, taken) for name in self.kept)])

    def finish(self) -> None:
        """The CSV header, if no row has written it (an input without a valid text)."""
        self._header(None)


def _free_name(name: str, taken: dict) -> str:
    """`name`, or input_<name> (repeated) while the output already has a column of that name; then taken."""
    while name in taken:
        name = f"input_{name}"
    taken[name] = None
    return name


def _cell(value) -> str:
    """A kept value as a CSV cell: text as it is, nothing for a missing one, anything else as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def check_output(output: str, *, file: str | None = None, stdin: bool = False, force: bool = False) -> None:
    """Refuse an --output that cannot or must not be written, before the model is loaded or runs. `file` is the
    input file, `stdin` whether the texts are read from stdin instead."""
    path = Path(output)
    if path.is_dir():
        raise EmodrawError(f"{output}: is a folder")
    folder = path.parent
    if not folder.is_dir():
        raise EmodrawError(
            f"{output}: {f'{folder} is not a folder' if folder.exists() else f'no such folder {folder}'}"
        )
    if path.suffix.lower() not in (".jsonl", ".csv"):
        raise EmodrawError(f"--output {output}: use a .jsonl or .csv file")
    if path.exists() and _same_file(path, file, stdin):
        # Even with force: the input would be read while its replacement is written.
        raise EmodrawError(f"{output}: is the input file; choose another --output")
    if path.exists() and not force:
        raise EmodrawError(f"{output}: already exists; give --force to replace it")


def _same_file(path: Path, file: str | None, stdin: bool) -> bool:
    # resolve() catches ./x against x and symlinks; samefile a hard link. stdin may be redirected from the
    # output (`< out.jsonl`).
    if file:
        return path.resolve() == Path(file).resolve() or (Path(file).exists() and os.path.samefile(path, file))
    if not stdin:
        return False
    try:
        return os.path.samestat(os.fstat(sys.stdin.fileno()), path.stat())
    except (OSError, ValueError, AttributeError):  # no real stdin (closed, or replaced as under pytest)
        return False


def predict_stream(
    clf,
    *,
    texts: list[str] | None = None,
    file: str | None = None,
    output: str | None = None,
    as_json: bool = False,
    batch_size: int = 64,
    force: bool = False,
    explain: bool = False,
    long_text: str = "truncate",
    text_column: str | int = "text",
    label_column: str | int = "label",
    no_header: bool = False,
) -> int:
    """Label texts (arguments, a file or stdin) into stdout or `output`; with `explain`, each word's weight too
    (emodraw.inference.explain); `long_text`: "truncate" or "chunk" (emodraw.inference.long_text). A file's
    text is in `text_column` (emodraw.data.columns; the label column is one of its others), and a .csv/.jsonl
    `output` keeps the other columns of a .csv, .tsv, .jsonl or .parquet input, so ids survive."""
    scoring = {"batch_size": batch_size, "explain": explain, "long_text": long_text}
    if output:
        check_output(output, file=None if texts else file, stdin=not texts and not file, force=force)
    if texts:
        records, source, total, handle = text_records(texts), "argument", None, None
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
        # Any other suffix (.log, none) is read as plain lines of text, as stdin is.
        fmt = kind if kind in FORMATS else ".txt"
        reading = {"columns": Columns.of(text_column, label_column, no_header), "keep_others": bool(output)}
        records = read_records(handle, fmt, labelled=False, labels=clf.labels, source=source, **reading)
    try:
        # The first record is read before the output is opened: an input refused whole leaves no output behind.
        first = next(records, None)
        records = itertools.chain([] if first is None else [first], records)
        return _predict_records(clf, records, source, total, output, as_json, scoring)
    finally:
        if handle is not None and handle is not sys.stdin.buffer:
            handle.close()


def _predict_records(clf, records, source: str, total: int | None, output, as_json, scoring: dict) -> int:
    explain = scoring["explain"]
    if output:
        # disk_errors outside atomic_file: the temporary file is removed before the one-line error is raised.
        with disk_errors(output, "nothing written"), atomic_file(output) as out:
            writer = _Writer(out, Path(output).suffix.lower()[1:], clf.labels, explain, clf.multi_label)
            done, skipped = _predict_into(clf, records, source, total, out, writer, True, scoring)
            writer.finish()
    else:
        writer = _Writer(sys.stdout, "json" if as_json else "plain", clf.labels, explain, clf.multi_label)
        done, skipped = _predict_into(clf, records, source, total, sys.stdout, writer, False, scoring)
    if writer.left_out:
        shown = ", ".join(repr(name) for name in sorted(writer.left_out)[:5])
        print(f"note: {shown} of some records left out: the CSV has the first record's columns", file=sys.stderr)
    if output or skipped:
        print(
            f"predicted {done} text(s){f', skipped {skipped} bad line(s)' if skipped else ''}"
            f"{f' -> {output}' if output else ''}",
            file=sys.stderr,
        )
    return 0


def _predict_into(clf, records, source: str, total: int | None, out, writer, to_file, scoring: dict):
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc="predict",
        disable=not (to_file and sys.stderr.isatty()),
        file=sys.stderr,
    )
    done = skipped = 0
    chunk: list[tuple[int, str, dict | None]] = []
    last_consumed = 0

    def score(texts: list[str]) -> list[dict]:
        rows = clf.details(texts, batch_size=scoring["batch_size"], long_text=scoring["long_text"])
        if scoring["explain"]:
            for row, explained in zip(rows, clf.explain(texts, long_text=scoring["long_text"])):
                row["explanation"] = explained["explanation"]
        return rows

    def flush():
        nonlocal done, skipped
        try:
            rows = score([t for _, t, _ in chunk])
        except DataError:
            # A text the model refuses though the reader took it (one too long for --long-text chunk, too many
            # words to explain): each text again alone, so only that line is skipped, as a bad line is.
            rows = []
            for line, text, _ in chunk:
                try:
                    rows.append(score([text])[0])
                except DataError as exc:
                    rows.append(None)
                    skipped += 1
                    print(f"{source}:{line}: {exc.reason} (skipped)", file=sys.stderr)
        for (line, text, others), row in zip(chunk, rows):
            if row is not None:
                writer.write(line, text, row, others)
                done += 1
        chunk.clear()
        out.flush()  # each chunk reaches a pipe reader (stdout) at once

    try:
        for record in records:
            if record.problem:
                skipped += 1
                print(f"{source}:{record.line}: {record.problem} (skipped)", file=sys.stderr)
                continue
            chunk.append((record.line, record.text, record.others))
            if total:
                bar.update(record.offset - last_consumed)
                last_consumed = record.offset
            if len(chunk) >= CHUNK:
                flush()
        if chunk:
            flush()
    finally:
        bar.close()
    return done, skipped
