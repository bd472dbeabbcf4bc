"""A run's folder and the files that describe it: its name (runs/<name>, never an earlier run's), config.yaml,
run.json (what ran, on what, from which data) and metrics.csv (one row per epoch). The checkpoints, the state
and the results tables are written by their own modules. Only the main process calls these."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
import yaml

from emodraw.config import TrainConfig
from emodraw.errors import ConfigError, EmodrawError
from emodraw.files import clean_leftovers
from emodraw.modeling.backbones import resolve_backbone
from emodraw.training.storage import writing

METRICS_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "val_f1_macro", "learning_rate", "seconds")


def default_run_name(config: TrainConfig) -> str:
    return config.name or f"{config.experiment_tag}_{resolve_backbone_name(config.model)}"


def resolve_backbone_name(model: str) -> str:
    try:
        return resolve_backbone(model).short_name
    except EmodrawError:
        return Path(model).name or "model"


# What a run that stopped before training leaves (a data error, a model that would not load): what was asked
# (config.yaml, run.json) and an empty checkpoints/. Nothing was trained, so the same command run again, once
# the cause is fixed, may start in that folder instead of being refused or moving to runs/<name>2.
FAILED_START = {"config.yaml", "run.json", "checkpoints"}


def holds_no_run(path: Path) -> bool:
    """`path` does not exist, is empty, or holds only what a failed start leaves (a running start holds .lock)."""
    if not path.exists():
        return True
    checkpoints = path / "checkpoints"
    return {entry.name for entry in path.iterdir()} <= FAILED_START and not (
        checkpoints.is_dir() and any(checkpoints.iterdir())
    )


def next_free_dir(base: Path) -> Path:
    """runs/<name>, then runs/<name>2, runs/<name>3, ... -- an earlier run is never overwritten."""
    if holds_no_run(base):
        return base
    n = 2
    while not holds_no_run(candidate := base.with_name(f"{base.name}{n}")):
        n += 1
    return candidate


def choose_run_dir(config: TrainConfig) -> Path:
    if config.output_dir:
        path = Path(config.output_dir)
        if not holds_no_run(path):
            raise ConfigError(f"--output-dir {path}: not empty; pick a new folder or use --resume {path}")
        return path
    return next_free_dir(Path("runs") / default_run_name(config))


def prepare_run_dir(run_dir: Path, config: TrainConfig, *, resume: bool) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    clean_leftovers(run_dir / "checkpoints")  # what a killed run left half-written
    clean_leftovers(run_dir)
    if not resume:  # written first, so even a run that fails at once says what was asked
        write_config(run_dir, config)


def write_config(run_dir: Path, config: TrainConfig) -> None:
    replace_file(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False), run_dir)


def replace_file(path: Path, text: str, run_dir: Path) -> None:
    """Write `path` whole or not at all (a temporary file renamed over it): `--resume` reads config.yaml and
    run.json, so neither a crash nor a full disk may leave half of one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with writing(path, run_dir):
            tmp.write_text(text)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _git_commit() -> str | None:
    """The commit of the emodraw checkout this code runs from, if it runs from one (+ '-dirty')."""
    import subprocess

    folder = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        if not commit:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_run_manifest(
    run_dir: Path,
    config: TrainConfig,
    data: dict,
    device: torch.device,
    world: int,
    bf16: bool,
    data_audit: dict | None = None,
) -> None:
    """run.json: everything needed to rerun this run and to know what it ran on (and what its data repeats).
    config.yaml too, when `config` is no longer what it holds (a --max-length clamped to the model's)."""
    from datetime import datetime, timezone

    from emodraw.checkpoints import versions
    from emodraw.hardware import cpu_name

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    manifest = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "git_commit": _git_commit(),
        "versions": versions(),
        "seed": config.seed,
        "config": config.to_dict(),
        "data": data,
        "data_audit": data_audit,
        "device": {
            "type": device.type,
            "name": device_name,
            "processes": world,
            "bf16": bf16,
            "cpu_threads": torch.get_num_threads(),
        },
    }
    saved = run_dir / "config.yaml"
    if not saved.is_file() or yaml.safe_load(saved.read_text()) != config.to_dict():
        write_config(run_dir, config)
    path = run_dir / "run.json"
    if path.exists():  # a resumed run keeps the original and records each resumption
        previous = json.loads(path.read_text())
        previous.setdefault("resumed", []).append(manifest)
        manifest = previous
    replace_file(path, json.dumps(manifest, indent=1, default=str), run_dir)


# -- metrics.csv ---------------------------------------------------------------------------------
def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    """One row, appended and fsynced; on a write error (a full disk) the file is cut back to what it was, so
    no half row is left for a resume to stumble on."""
    fd = os.open(run_dir / "metrics.csv", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=METRICS_COLUMNS)
        if size == 0:
            writer.writeheader()
        writer.writerow(row)
        data = text.getvalue().encode()
        try:
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def read_metrics(run_dir: Path, up_to: int) -> list[dict[str, float]]:
    """metrics.csv's rows of epochs 1..up_to (numbers; the epoch an int), none if there is no file."""
    path = run_dir / "metrics.csv"
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(handle) if float(r["epoch"]) <= up_to]
    return [{**r, "epoch": int(r["epoch"])} for r in rows]


def write_metrics(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    with open(run_dir / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRICS_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
