"""Reading and validating labelled text files, the label map and the stratified training portion.

Formats, chosen by the file's suffix:
  .txt    `text;label` per line, split on the LAST `;` (texts may contain `;`)
  .csv    a header row with `text` and `label` columns (any order, other columns ignored)
  .jsonl  one JSON object per line with string fields `text` and `label`
A UTF-8 BOM and CRLF line ends are accepted; blank lines are ignored. Anything else that is wrong
raises DataError("path:line: reason"), or, with skip_invalid, is skipped and counted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from emodraw.errors import DataError

# The conventional CARER / dair-ai ids: sadness=0, joy=1, love=2, anger=3, fear=4, surprise=5.
EMOTIONS = ("sadness", "joy", "love", "anger", "fear", "surprise")
FORMATS = (".txt", ".csv", ".jsonl")
SPLIT_NAMES = {"train": ("train",), "val": ("val", "validation", "dev"), "test": ("test",)}


@dataclass
class Examples:
    """The valid examples of one file, with the line each came from."""

    path: str
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> Examples:
        return Examples(
            self.path,
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
            [self.lines[i] for i in indices],
            self.skipped,
        )


def bundled_data_dir() -> Path:
    """The emotion dataset shipped inside the package."""
    return Path(str(resources.files("emodraw") / "resources" / "data" / "emotion"))


def _physical_lines(path: Path, raw: bytes) -> Iterator[tuple[int, str | None]]:
    """(line number, decoded text or None when the line is not valid UTF-8)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    parts = raw.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    for number, part in enumerate(parts, start=1):
        if part.endswith(b"\r"):
            part = part[:-1]
        try:
            yield number, part.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


def _records_txt(lines) -> Iterator[tuple[int, str, str] | tuple[int, str]]:
    for number, line in lines:
        if line is None:
            yield number, "invalid UTF-8"
        elif not line.strip():
            continue
        elif ";" not in line:
            yield number, "no label: expected 'text;label'"
        else:
            text, label = line.rsplit(";", 1)
            yield number, text, label


def _records_jsonl(lines):
    for number, line in lines:
        if line is None:
            yield number, "invalid UTF-8"
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            yield number, "not valid JSON"
            continue
        if not isinstance(obj, dict):
            yield number, "expected a JSON object with 'text' and 'label'"
        elif not isinstance(obj.get("text"), str):
            yield number, "missing or non-string 'text'"
        elif not isinstance(obj.get("label"), str):
            yield number, "missing or non-string 'label'"
        else:
            yield number, obj["text"], obj["label"]


def _records_csv(lines):
    lines = list(lines)
    bad_utf8 = [number for number, line in lines if line is None]
    # Keep line numbers aligned with the file: an undecodable line becomes an empty one, reported below.
    text = "\n".join("" if line is None else line for _, line in lines)
    for number in bad_utf8:
        yield number, "invalid UTF-8"
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return
        columns = [name.strip().lower() for name in header]
        if "text" not in columns or "label" not in columns:
            yield reader.line_num, "the CSV header must name a 'text' and a 'label' column"
            return
        i_text, i_label = columns.index("text"), columns.index("label")
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield reader.line_num, f"malformed CSV ({exc})"
                return
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(i_text, i_label):
                yield reader.line_num, "row has fewer columns than the header"
                continue
            yield reader.line_num, row[i_text], row[i_label]
    except csv.Error as exc:
        yield reader.line_num, f"malformed CSV ({exc})"


_READERS = {".txt": _records_txt, ".csv": _records_csv, ".jsonl": _records_jsonl}


def read_examples(path: str | Path, *, skip_invalid: bool = False, labels: Iterable[str] | None = None) -> Examples:
    """Read one file. `labels`, when given, is the closed label set (val/test): others are errors."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        raise DataError(path, None, f"unknown format {suffix or '(none)'}; use one of {', '.join(FORMATS)}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, None, "is a folder, expected a file") from None
    except OSError as exc:
        raise DataError(path, None, f"cannot read ({exc.strerror})") from None
    allowed = set(labels) if labels is not None else None
    out = Examples(str(path))
    for record in _READERS[suffix](_physical_lines(path, raw)):
        number, *fields_ = record
        if len(fields_) == 1:
            problem = fields_[0]
        else:
            text, label = fields_[0].strip(), fields_[1].strip()
            if not label:
                problem = "empty label"
            elif not text:
                problem = "empty text"
            elif allowed is not None and label not in allowed:
                problem = f"unknown label {label!r} (the training labels are {', '.join(sorted(allowed))})"
            else:
                out.texts.append(text)
                out.labels.append(label)
                out.lines.append(number)
                continue
        if not skip_invalid:
            raise DataError(path, number, problem)
        out.skipped += 1
    if not out.texts:
        raise DataError(path, None, "no valid examples")
    return out


def label_names_for(labels: Iterable[str]) -> list[str]:
    """The six emotions keep their conventional ids; any other label set is sorted alphabetically."""
    present = set(labels)
    if present <= set(EMOTIONS):
        return list(EMOTIONS)
    return sorted(present)


def stratified_portion(labels: Sequence[str], portion: float, seed: int) -> list[int]:
    """Indices of a seeded subset with each class in proportion (largest remainder rounding).

    Every class that has examples keeps at least one, so a small portion never drops a class.
    """
    if portion >= 1.0:
        return list(range(len(labels)))
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels))
    members = {c: [i for i, y in enumerate(labels) if y == c] for c in classes}
    exact = {c: portion * len(members[c]) for c in classes}
    take = {c: int(exact[c]) for c in classes}
    remaining = round(portion * len(labels)) - sum(take.values())
    for c in sorted(classes, key=lambda c: (-(exact[c] - take[c]), c))[: max(remaining, 0)]:
        take[c] += 1
    chosen: list[int] = []
    for c in classes:
        k = min(max(take[c], 1), len(members[c]))
        chosen.extend(rng.permutation(members[c])[:k].tolist())
    return sorted(chosen)


def find_split_file(folder: Path, split: str) -> Path | None:
    for stem in SPLIT_NAMES[split]:
        for suffix in FORMATS:
            candidate = folder / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def resolve_data_files(data_dir=None, train=None, val=None, test=None) -> dict[str, Path | None]:
    """Paths of train/val/test: explicit files win over --data-dir, which wins over the bundled data."""
    folder = Path(data_dir) if data_dir else bundled_data_dir()
    if data_dir and not folder.is_dir():
        raise DataError(folder, None, "data folder not found")
    files = {}
    for split, explicit in (("train", train), ("val", val), ("test", test)):
        files[split] = Path(explicit) if explicit else find_split_file(folder, split)
    for split in ("train", "val"):
        if files[split] is None:
            names = " / ".join(f"{stem}{{{','.join(FORMATS)}}}" for stem in SPLIT_NAMES[split])
            raise DataError(folder, None, f"no {split} file ({names}); pass --{split}-file")
    return files


@dataclass
class Splits:
    train: Examples
    val: Examples
    test: Examples | None
    label_names: list[str]
    files: dict[str, Path | None]

    def with_val_in_training(self) -> Splits:
        """The validation sentences appended to the training ones (in file order, as one concatenated file
        would give them), for a final model; validation itself is unchanged."""
        train, val = self.train, self.val
        joined = Examples(
            f"{train.path} + {val.path}",
            train.texts + val.texts,
            train.labels + val.labels,
            train.lines + val.lines,
            train.skipped,
        )
        return replace(self, train=joined)

    def ids(self, examples: Examples) -> list[int]:
        index = {name: i for i, name in enumerate(self.label_names)}
        return [index[y] for y in examples.labels]


def load_splits(
    data_dir=None,
    train_file=None,
    val_file=None,
    test_file=None,
    *,
    portion: float = 1.0,
    seed: int = 0,
    skip_invalid: bool = False,
) -> Splits:
    files = resolve_data_files(data_dir, train_file, val_file, test_file)
    train = read_examples(files["train"], skip_invalid=skip_invalid)
    label_names = label_names_for(train.labels)
    val = read_examples(files["val"], skip_invalid=skip_invalid, labels=label_names)
    test = read_examples(files["test"], skip_invalid=skip_invalid, labels=label_names) if files["test"] else None
    if portion < 1.0:
        train = train.subset(stratified_portion(train.labels, portion, seed))
    return Splits(train, val, test, label_names, files)
