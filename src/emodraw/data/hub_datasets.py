"""`--dataset NAME_OR_PATH`: a Hugging Face `datasets` dataset as a run's splits, read through the same checks
as a data file (emodraw.data.records.checked_records) and collected as a file's examples are.

NAME_OR_PATH is a folder written by `DatasetDict.save_to_disk` (datasets.load_from_disk), any other folder
(datasets.load_dataset's own data-files discovery: train.parquet, validation.csv, data/train-*.jsonl, ...) or
a Hub name (datasets.load_dataset, from the local cache when offline). Its `train` split trains, `validation`
(or `val`, `dev`) validates, `test` is optional. The text and label columns are --text-column and
--label-column (a name or a position, as in a file). A ClassLabel label's names are the label map, in id order
(--label-names renames the ids); a plain integer label is its digits, as in a file; a List(ClassLabel) (or
Sequence) label column holds a multi-label row's labels (--multi-label).

A defective row is `NAME[split]:ROW: reason`, ROW its index in the split (dataset[split][ROW]), and stops the
run or, with --skip-invalid, is skipped and counted. What a run records of each split (DatasetSplit) is the
dataset as given, its split name, rows and fingerprint, and for a folder its resolved path and a sha256 of its
files; `emodraw evaluate --split` reloads the split from that record (recorded_examples).

`datasets` is imported only when a dataset is opened.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emodraw.data import records as _records
from emodraw.data.columns import Columns
from emodraw.data.label_names import hint, is_integer, read_label_names
from emodraw.data.lines import too_long
from emodraw.data.record import Record
from emodraw.data.records import checked_records
from emodraw.data.splits import SPLIT_NAMES, Examples, Splits, collect_examples, label_names_for, stratified_portion
from emodraw.data.targets import joined_labels_hint
from emodraw.errors import DataError
from emodraw.files import file_sha256

HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
SAVED_MARKERS = ("dataset_dict.json", "state.json")  # what save_to_disk writes (a DatasetDict; one Dataset)
BATCH_ROWS = 1024


@dataclass(frozen=True)
class DatasetSplit:
    """One split of a dataset as run.json and a checkpoint's emodraw.json record it, where a file records its
    path, sha256 and lines: the dataset as given, the split's own name, its rows and fingerprint, and for a
    local folder its resolved path and a sha256 of the folder's files (folder_sha256)."""

    dataset: str
    split: str
    rows: int
    fingerprint: str
    path: str | None = None
    sha256: str | None = None

    def record(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def folder_sha256(folder: Path) -> str:
    """One sha256 of a folder's files: their relative paths and contents, in path order (hidden ones aside)."""
    digest = hashlib.sha256()
    found = [path for path in folder.rglob("*") if path.is_file()]
    for rel, path in sorted((p.relative_to(folder).as_posix(), p) for p in found):
        if not any(part.startswith(".") for part in rel.split("/")):
            digest.update(f"{rel}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def _errors():
    from datasets.exceptions import DatasetsError

    return (OSError, ValueError, DatasetsError)


def _open_folder(folder: Path):
    import datasets

    try:
        if any((folder / marker).is_file() for marker in SAVED_MARKERS):
            loaded = datasets.load_from_disk(str(folder))
        else:
            loaded = datasets.load_dataset(str(folder))
    except _errors() as exc:
        raise DataError(folder, None, f"not a dataset that datasets can load ({_first_line(exc)})") from None
    if not isinstance(loaded, datasets.DatasetDict):
        raise DataError(folder, None, "holds one split, not a DatasetDict (train, validation and test splits)")
    return loaded


def _open_hub(name: str):
    import datasets

    try:
        return datasets.load_dataset(name)
    except ConnectionError:
        raise DataError(
            name,
            None,
            "no such folder here, and the Hugging Face Hub cannot be reached (offline?) for a dataset not in the "
            "local datasets cache: load it once with network access, or give a folder written by save_to_disk "
            "or of train/validation/test data files",
        ) from None
    except _errors() as exc:
        raise DataError(name, None, f"cannot load the dataset ({_first_line(exc)})") from None


def open_dataset(spec: str):
    """(the DatasetDict, its resolved folder or None for a Hub name); DataError in one line for anything else."""
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return _open_folder(folder), folder.resolve()
    if folder.exists():
        raise DataError(spec, None, "is a file; --dataset takes a folder or a Hub name (a file: --train-file ...)")
    if not HUB_NAME.fullmatch(spec) or ".." in spec:
        raise DataError(spec, None, "dataset folder not found")
    return _open_hub(spec), None


def split_names(loaded, where: str) -> dict[str, str | None]:
    """The dataset's own name of each of train, val (validation, val or dev) and test (None: there is none)."""
    present = list(loaded.keys())
    out = {split: next((name for name in stems if name in present), None) for split, stems in SPLIT_NAMES.items()}
    for split, wanted in (("train", "train"), ("val", "validation")):
        if out[split] is None:
            has = ", ".join(present) or "none"
            raise DataError(where, None, f"no {wanted} split (it has {has}); name them train, validation and test")
    return out


def _kind(feature) -> str:
    """A feature's kind: "class" (a ClassLabel), "text", "id" (a whole-number Value), "list" (List, LargeList,
    or Sequence, List's older name) or "" (anything else)."""
    import datasets

    lists = tuple(getattr(datasets, n) for n in ("List", "LargeList", "Sequence") if hasattr(datasets, n))
    if isinstance(feature, datasets.ClassLabel):
        return "class"
    if isinstance(feature, lists):
        return "list"
    dtype = feature.dtype if isinstance(feature, datasets.Value) else ""
    return "text" if dtype in ("string", "large_string") else "id" if re.fullmatch(r"u?int\d+", dtype) else ""


def _element(feature):
    """A list feature's element feature, else None."""
    return feature.feature if _kind(feature) == "list" else None


def dataset_columns(ds, columns: Columns, where: str, multi_label: bool) -> tuple[str, str]:
    """The names of the text and label columns of a split, checked to hold text and labels."""
    used, why = columns.indices(ds.column_names, ("text", "label"), "dataset")
    if why:
        raise DataError(where, None, why)
    text, label = (ds.column_names[i] for i in used)
    features = ds.features
    if _kind(features[text]) != "text":
        raise DataError(where, None, f"column {text!r} holds {features[text]}, not text")
    element = _element(features[label])
    if _kind(element if element is not None else features[label]) not in ("class", "text", "id"):
        raise DataError(where, None, f"column {label!r} holds {features[label]}, not text or whole numbers")
    if element is not None and not multi_label:
        why = f"column {label!r} holds lists of labels; to train on several labels per text, give --multi-label"
        raise DataError(where, None, why)
    return text, label


def class_names(feature) -> list[str] | None:
    """A ClassLabel's (or a list of them's) names, in id order, when they can name labels (words, each once,
    at least 2); else None, and the labels are read as they are."""
    element = _element(feature)
    feature = element if element is not None else feature
    if _kind(feature) != "class":
        return None
    names = [str(name) for name in feature.names]
    usable = len(names) >= 2 and len(set(names)) == len(names) and all(n.strip() and not is_integer(n) for n in names)
    return names if usable else None


def _label_reader(feature, ids: bool, multi_label: bool) -> Callable[[Any], tuple[Any, str]]:
    """A function from a row's label value to (the label as a record holds it, "") or (None, its problem): a
    ClassLabel id is its name (its digits, to be an id, when `ids`: --label-names), a list a tuple of them."""
    element = _element(feature)
    scalar = element if element is not None else feature
    classes = scalar if _kind(scalar) == "class" else None

    def one(value) -> tuple[str | None, str]:
        if value is None:
            return None, "missing label"
        if classes is None or not isinstance(value, int):
            return str(value), ""
        if value < 0:
            return None, f"no label (ClassLabel id {value}, datasets' mark of an unlabelled row)"
        if value >= classes.num_classes:
            return None, f"label id {value} out of range: the ClassLabel has ids 0-{classes.num_classes - 1}"
        return (str(value) if ids else classes.names[value]), ""

    def read(value) -> tuple[Any, str]:
        if not isinstance(value, list):
            label, problem = one(value)
            return ((label,) if multi_label and classes is not None and label is not None else label), problem
        out = []
        for item in value:
            label, problem = one(item)
            if problem:
                return None, problem
            out.append(label)
        return tuple(out), ""

    return read


def dataset_records(ds, text: str, label: str, read_label: Callable[[Any], tuple[Any, str]]) -> Iterator[Record]:
    """A split's rows as Records, unchecked (checked_records checks them), numbered by their index from 0."""
    limit = _records.MAX_RECORD_BYTES  # read at the call, as the file readers do
    rows = ds.select_columns([text, label]).with_format(None)
    number = 0
    for batch in rows.iter(batch_size=BATCH_ROWS):
        for value, raw in zip(batch[text], batch[label]):
            row, number = number, number + 1
            if value is not None and len(value.encode("utf-8", "surrogatepass")) > limit:
                yield Record(row, problem=too_long(limit))
                continue
            labelled, problem = read_label(raw)
            yield Record(row, value or "", labelled, problem=problem)


def read_split(
    ds,
    where: str,
    columns: Columns,
    *,
    labels: Sequence[str] | None = None,
    label_names: list[str] | None = None,
    multi_label: bool = False,
    label_separator: str = ",",
    skip_invalid: bool = False,
) -> Examples:
    """The examples of one split, as read_examples gives a file's: `labels` the closed label set (None: any),
    `label_names` --label-names (ClassLabel ids are then ids into them)."""
    text, label = dataset_columns(ds, columns, where, multi_label)
    read_label = _label_reader(ds.features[label], label_names is not None, multi_label)
    checked = checked_records(
        dataset_records(ds, text, label, read_label),
        labels=labels,
        label_names=label_names,
        label_separator=label_separator if multi_label else None,
    )
    return collect_examples(checked, where, skip_invalid=skip_invalid)


def load_dataset_splits(
    spec: str,
    *,
    portion: float = 1.0,
    seed: int = 0,
    skip_invalid: bool = False,
    columns: Columns | None = None,
    label_names: str | Sequence[str] | None = None,
    multi_label: bool = False,
    label_separator: str = ",",
) -> Splits:
    """The splits of a dataset, as emodraw.data.splits.load_splits gives a run's files: the label map is
    `label_names` (--label-names), else the ClassLabel's names, else the training labels (label_names_for);
    `files` holds a DatasetSplit for each split (describe_data records it)."""
    columns = columns if columns is not None else Columns()
    loaded, folder = open_dataset(spec)
    names = split_names(loaded, spec)
    given = read_label_names(label_names)
    reading = {
        "columns": columns,
        "label_names": given,
        "multi_label": multi_label,
        "label_separator": label_separator,
        "skip_invalid": skip_invalid,
    }
    train_ds, where = loaded[names["train"]], f"{spec}[{names['train']}]"
    fixed = given or class_names(train_ds.features[dataset_columns(train_ds, columns, where, multi_label)[1]])
    train = read_split(train_ds, where, labels=fixed, **reading)
    label_map = fixed if fixed is not None else label_names_for(train.labels)
    read = {
        split: read_split(loaded[name], f"{spec}[{name}]", labels=label_map, **reading)
        for split, name in names.items()
        if split != "train" and name is not None
    }
    if portion < 1.0:
        train = train.subset(stratified_portion(train.labels, portion, seed))
    local = (str(folder), folder_sha256(folder)) if folder is not None else (None, None)
    files = {
        split: DatasetSplit(spec, name, loaded[name].num_rows, loaded[name]._fingerprint, *local) if name else None
        for split, name in names.items()
    }
    note = hint(label_map, given=fixed is not None) or (None if multi_label else joined_labels_hint(label_map))
    return Splits(train, read["val"], read.get("test"), label_map, files, note, multi_label)


def recorded_examples(
    record: dict[str, Any],
    split: str,
    trained: str,
    *,
    labels: Sequence[str],
    columns: Columns | None = None,
    label_names: list[str] | None = None,
    multi_label: bool = False,
    label_separator: str = ",",
    skip_invalid: bool = False,
) -> tuple[str, Examples]:
    """("NAME[split]", the examples) of the split a model was trained with, reloaded from its DatasetSplit
    record, as long as it is the same data: a folder's sha256, a Hub dataset's fingerprint. `trained` names
    the model in a message; `labels` are its labels."""
    name, own = str(record["dataset"]), str(record["split"])
    if record.get("path"):
        folder = Path(str(record["path"]))
        if not folder.is_dir():
            raise DataError(
                folder, None, f"not found: the {split} data {trained} was trained with is gone; pass --data FILE"
            )
        if record.get("sha256") and folder_sha256(folder) != record["sha256"]:
            raise DataError(
                folder, None, f"changed since training (sha256 differs from {trained}'s record); pass --data FILE"
            )
        loaded = _open_folder(folder)
    else:
        loaded = _open_hub(name)
    if own not in loaded:
        raise DataError(name, None, f"has no {own} split any more ({trained} was trained with it); pass --data FILE")
    if not record.get("path") and record.get("fingerprint") not in (None, loaded[own]._fingerprint):
        raise DataError(
            name, None, f"the {own} split changed since training (its fingerprint differs); pass --data FILE"
        )
    where = f"{name}[{own}]"
    examples = read_split(
        loaded[own],
        where,
        columns if columns is not None else Columns(),
        labels=labels,
        label_names=label_names,
        multi_label=multi_label,
        label_separator=label_separator,
        skip_invalid=skip_invalid,
    )
    return where, examples
