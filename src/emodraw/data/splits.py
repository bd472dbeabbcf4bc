"""The examples of one data file, the train/val/test files of a run, the label map and the stratified
training portion. Reading the files themselves is emodraw.data.records's job; this module decides what
a defect does: it stops the run with DataError("path:line: reason"), or, with skip_invalid, the line is
skipped and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from emodraw.data.columns import Columns
from emodraw.data.label_names import hint, numeric_order, read_label_names
from emodraw.data.records import FORMATS, Record, data_format, open_data_file, read_records
from emodraw.data.targets import joined_labels_hint, targets
from emodraw.errors import DataError

# The conventional CARER / dair-ai ids: sadness=0, joy=1, love=2, anger=3, fear=4, surprise=5.
EMOTIONS = ("sadness", "joy", "love", "anger", "fear", "surprise")
LABELS_FILE = "labels.txt"  # in a data folder: the names of its integer labels, one per line
SPLIT_NAMES = {"train": ("train",), "val": ("val", "validation", "dev"), "test": ("test",)}


@dataclass
class Examples:
    """The valid examples of one file, with the line each came from."""

    path: str
    texts: list[str] = field(default_factory=list)
    labels: list = field(default_factory=list)  # a name each; a tuple of names each when multi-label
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


def folder_label_names(folder: str | Path) -> str | None:
    """A data folder's labels.txt (the names of its integer labels), as --label-names takes it; else None."""
    path = Path(folder) / LABELS_FILE
    return str(path) if path.is_file() else None


def bundled_data_dir() -> Path:
    """The emotion dataset shipped inside the package."""
    return Path(str(resources.files("emodraw") / "resources" / "data" / "emotion"))


def read_examples(
    path: str | Path,
    *,
    skip_invalid: bool = False,
    labels: Iterable[str] | None = None,
    columns: Columns | None = None,
    label_names: str | Sequence[str] | None = None,
    label_separator: str | None = None,
) -> Examples:
    """Read one labelled file. `labels`, when given, is the closed label set (val/test): others are errors.
    `columns`, `label_names` and `label_separator` (multi-label) as emodraw.data.records.read_records takes
    them."""
    path = Path(path)
    fmt = data_format(path)
    with open_data_file(path) as handle:
        records = read_records(
            handle,
            fmt,
            labels=labels,
            source=path,
            columns=columns,
            label_names=label_names,
            label_separator=label_separator,
        )
        return collect_examples(records, path, skip_invalid=skip_invalid)


def collect_examples(records: Iterable[Record], where: str | Path, *, skip_invalid: bool = False) -> Examples:
    """The valid examples of checked records (emodraw.data.records.checked_records) from `where` (a file, or a
    dataset's split, "NAME[train]"): the first problem is DataError("where:line: reason"), or with
    skip_invalid each is skipped and counted; none valid is a DataError too."""
    out = Examples(str(where))
    for record in records:
        if record.problem:
            if not skip_invalid:
                raise DataError(where, record.line, record.problem)
            out.skipped += 1
            continue
        out.texts.append(record.text)
        out.labels.append(record.label)
        out.lines.append(record.line)
    if not out.texts:
        raise DataError(where, None, "no valid examples")
    return out


def label_names_for(labels: Iterable) -> list[str]:
    """The six emotions keep their conventional ids; integer labels are sorted by value (each keeps its
    number as its id when they run from 0); any other label set is sorted alphabetically. Multi-label
    examples' tuples count each of their labels."""
    present = {name for label in labels for name in (label if isinstance(label, tuple) else (label,))}
    if present <= set(EMOTIONS):
        return list(EMOTIONS)
    return numeric_order(present) or sorted(present)


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
    files: dict[str, Path | None]  # or, from a --dataset, a DatasetSplit each (emodraw.data.hub_datasets)
    hint: str | None = None  # one line for the user: how to name integer labels (emodraw.data.label_names)
    multi_label: bool = False  # each example's label is a tuple of names (emodraw.data.targets)

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

    def ids(self, examples: Examples):
        """What the model learns from: label ids (N,), or for multi-label an (N, C) 0/1 float array."""
        return targets(examples.labels, self.label_names, self.multi_label)


def fits_bundled_splits(labels: Iterable[str]) -> bool:
    """Whether the bundled CARER splits can stand in for a split a run or model lacks: only for CARER's labels."""
    return set(labels) == set(EMOTIONS)


def read_split(split: str, path: Path, borrowed: bool, **reading) -> Examples:
    """read_examples, for a split that may be `borrowed`: named files without --data-dir take the splits they
    lack from the bundled CARER data, and when those do not fit the user's data (other labels, other columns)
    the error says where the file came from, instead of naming a file the user never gave."""
    try:
        return read_examples(path, **reading)
    except DataError as error:
        if not borrowed:
            raise
        why = f"this is the bundled CARER {split} split, read because no --{split}-file was given: pass --{split}-file"
        raise DataError(error.path, error.line, f"{error.reason}; {why}") from None


def load_splits(
    data_dir=None,
    train_file=None,
    val_file=None,
    test_file=None,
    *,
    portion: float = 1.0,
    seed: int = 0,
    skip_invalid: bool = False,
    columns: Columns | None = None,
    label_names: str | Sequence[str] | None = None,
    multi_label: bool = False,
    label_separator: str = ",",
) -> Splits:
    """The train/val/test files (resolve_data_files) read with the same `columns`. `label_names` (a file, a
    comma-separated list or a list: read_label_names) name integer labels and fix the label map: its ids are
    their positions; without them, a data folder's labels.txt does (GoEmotions' layout), else the training
    labels (label_names_for). `multi_label`: each label field holds labels joined by `label_separator`."""
    files = resolve_data_files(data_dir, train_file, val_file, test_file)
    if label_names is None and data_dir:
        label_names = folder_label_names(data_dir)
    named = read_label_names(label_names)
    reading = {
        "skip_invalid": skip_invalid,
        "columns": columns,
        "label_names": named,
        "label_separator": label_separator if multi_label else None,
    }
    named_files = {"train": train_file, "val": val_file, "test": test_file}
    borrowed = {s for s, f in named_files.items() if not f and not data_dir and any(named_files.values())}
    train = read_split("train", files["train"], "train" in borrowed, **reading)
    label_map = named if named is not None else label_names_for(train.labels)
    val = read_split("val", files["val"], "val" in borrowed, labels=label_map, **reading)
    # CARER's test split is borrowed only by data with CARER's labels: other labels have no test split, as
    # a --data-dir without a test file has none (the results table is then computed on validation), and the
    # run records none (evaluate then asks for --data rather than read CARER's).
    if "test" in borrowed and not fits_bundled_splits(label_map):
        files["test"] = None
    test = None
    if files["test"]:
        test = read_split("test", files["test"], "test" in borrowed, labels=label_map, **reading)
    if portion < 1.0:
        train = train.subset(stratified_portion(train.labels, portion, seed))
    note = hint(label_map, given=named is not None) or (None if multi_label else joined_labels_hint(label_map))
    return Splits(train, val, test, label_map, files, note, multi_label)
