"""A run's data: the splits read (and audited) as the config names them, and what run.json and the
checkpoints record of each file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from emodraw.config import TrainConfig
from emodraw.data.audit import audit_splits
from emodraw.data.audit import problems as audit_problems
from emodraw.data.columns import Columns
from emodraw.data.hub_datasets import DatasetSplit, load_dataset_splits
from emodraw.data.splits import Splits, load_splits
from emodraw.files import file_sha256


def load_run_data(config: TrainConfig, *, main: bool, log: Callable[[str], None]) -> tuple[Splits, dict | None]:
    """The splits to train on, and the data audit (the main process's; None on the others)."""
    reading = {
        "portion": config.portion,
        "seed": config.seed,
        "skip_invalid": config.skip_invalid,
        "columns": Columns.from_config(config),
        "label_names": config.label_names,
        "multi_label": config.multi_label,
        "label_separator": config.label_separator,
    }
    if config.dataset:  # --dataset: a datasets dataset instead of files
        splits = load_dataset_splits(config.dataset, **reading)
    else:
        splits = load_splits(config.data_dir, config.train_file, config.val_file, config.test_file, **reading)
    if splits.hint and main:
        log(splits.hint)
    for part in (splits.train, splits.val, splits.test):
        if part is not None and part.skipped and main:
            log(f"{part.path}: skipped {part.skipped} invalid line(s)")
    audit = None
    if main:  # before --train-on-val joins the splits: the audit is of the data as read
        audit = {k: v for k, v in audit_splits(splits, max_examples=0).items() if k != "conflicts"}
        problems = audit_problems(audit)
        if problems:
            log("data: " + "; ".join(problems))
    if config.train_on_val:
        splits = splits.with_val_in_training()
    return splits, audit


def describe_data(files: dict[str, Path | DatasetSplit | None]) -> dict[str, dict[str, Any]]:
    """Path, sha256 and line count of each data file: enough to know a rerun sees the same data. A split of a
    --dataset is its DatasetSplit record instead: the dataset, its split, rows, fingerprint (and a folder's
    path and sha256)."""
    out = {}
    for split, path in files.items():
        if isinstance(path, DatasetSplit):
            out[split] = path.record()
        elif path is not None:
            with open(path, "rb") as handle:
                lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
            out[split] = {"path": str(Path(path).resolve()), "sha256": file_sha256(path), "lines": lines}
    return out
