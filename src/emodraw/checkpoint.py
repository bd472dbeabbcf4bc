"""Safe, atomic, self-describing checkpoints: safetensors + JSON, never pickle.

A checkpoint is a folder that transformers' `from_pretrained` loads as it is (a mean-pooled one once
emodraw.pooling has registered its type):
  model.safetensors, config.json (with the label names), tokenizer files,
  emodraw.json (resolved config, epoch, validation metrics, versions, data sha256),
  README.md (a model card) and manifest.json (sha256 and size of every other file).
It is written into a hidden temporary folder beside its destination and renamed into place, so a
crash at any moment leaves either the old complete checkpoint or the new complete one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .data import file_sha256
from .errors import CheckpointError

METADATA_FILE = "emodraw.json"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1
_TMP, _OLD = ".tmp-", ".old-"


def versions() -> dict[str, str]:
    import platform

    import torch
    import transformers

    from . import __version__

    out = {"emodraw": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "transformers": transformers.__version__}
    try:
        import accelerate

        out["accelerate"] = accelerate.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    with contextlib.suppress(OSError):  # directories cannot be fsynced on every platform
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_manifest(folder: Path) -> None:
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST_FILE:
            name = path.relative_to(folder).as_posix()
            files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    (folder / MANIFEST_FILE).write_text(json.dumps({"format": FORMAT_VERSION, "files": files}, indent=1))


@contextlib.contextmanager
def atomic_folder(dest: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `dest` (manifest added), on error it vanishes."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f"{_TMP}{dest.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        write_manifest(tmp)
        _fsync_tree(tmp)
        old = dest.parent / f"{_OLD}{dest.name}"
        if dest.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)  # a crash from here until the next rename is undone by clean_leftovers
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clean_leftovers(folder: Path) -> None:
    """Remove half-written folders of an interrupted run; restore a replaced one the crash left aside."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name.startswith(_TMP):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(_OLD):
            original = folder / path.name[len(_OLD):]
            if original.exists():
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.replace(path, original)


def model_card(meta: dict[str, Any]) -> str:
    cfg, val = meta["config"], meta.get("validation", {})
    labels = ", ".join(f"{i} {name}" for i, name in enumerate(meta["label_names"]))
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in val.items() if isinstance(v, (int, float)))
    mean_note = (" after `import emodraw.pooling`, which registers this mean-pooled head (`--pooling mean`); "
                 "without it transformers refuses the folder" if cfg.get("pooling") == "mean" else "")
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags: [emodraw, emotion, text-classification]
---
# {meta['name']}

An emotion classifier fine-tuned by [emodraw](https://github.com/) from `{cfg['model']}`
({'random initialisation' if cfg.get('random_init') else 'pretrained weights'}).
Saved from: {meta['saved_from']} (epoch {meta['epoch']}).

**Labels:** {labels}

## Validation metrics at this epoch
| metric | value |
|---|---|
{rows}

## Training
experiment `{cfg['experiment']}`, {cfg['epochs']} epochs, batch size {cfg['batch_size']}, learning rate {cfg['learning_rate']},
{cfg['portion'] * 100:g} % of the training data, seed {cfg['seed']}, max length {cfg['max_length']}.
The full resolved configuration, data checksums and package versions are in `{METADATA_FILE}`.

## Use
```python
from emodraw import Classifier
Classifier.load("this-folder").predict("i feel wonderful today")
```
It also loads with `transformers.AutoModelForSequenceClassification.from_pretrained("this-folder")`{mean_note}.

## Intended use and limits
Detecting one of the labels above in short English sentences, for research and education.
The default training data is the CARER emotion dataset (Saravia et al., EMNLP 2018), whose
dataset card states it is for **educational and research use only**; a model trained on it
inherits those terms. Labels come from hashtags and are noisy; love and surprise are rare classes
with lower recall. Do not use it to make decisions about people.
"""


def save_checkpoint(dest: Path, model, tokenizer, meta: dict[str, Any]) -> Path:
    """Write model + tokenizer + metadata + card atomically to `dest`."""
    meta = {"format": FORMAT_VERSION, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(), **meta}
    with atomic_folder(dest) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=1, default=str))
        (tmp / "README.md").write_text(model_card(meta))
    return dest


def verify_checkpoint(folder: Path) -> dict[str, Any]:
    """Check every file against the manifest; return emodraw.json. Raises CheckpointError naming the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: checkpoint folder not found")
    manifest_path = folder / MANIFEST_FILE
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
            listed = manifest["files"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise CheckpointError(f"{manifest_path}: unreadable manifest") from None
        for name, entry in listed.items():
            path = folder / name
            if not path.is_file():
                raise CheckpointError(f"{path}: missing (listed in {MANIFEST_FILE})")
            if path.stat().st_size != entry.get("bytes"):
                raise CheckpointError(f"{path}: {path.stat().st_size} bytes, expected {entry.get('bytes')} (truncated or altered)")
            if file_sha256(path) != entry.get("sha256"):
                raise CheckpointError(f"{path}: sha256 does not match {MANIFEST_FILE} (altered or corrupted)")
    meta_path = folder / METADATA_FILE
    if not meta_path.is_file():
        return {}  # a plain transformers folder (e.g. saved by another tool): no emodraw metadata
    try:
        return json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{meta_path}: not valid JSON") from None


def epoch_checkpoints(run_dir: Path) -> dict[int, Path]:
    """{epoch: path} of a run folder's per-epoch checkpoints (only the last one unless --keep-every-epoch)."""
    folder = Path(run_dir) / "checkpoints"
    found: dict[int, Path] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith((_TMP, _OLD)) or not path.is_dir() or not path.name.endswith("_checkpoint"):
                continue
            if "_epoch" in path.name:
                epoch = path.name.rsplit("_epoch", 1)[1].split("_")[0]
                if epoch.isdigit():
                    found[int(epoch)] = path
    return dict(sorted(found.items()))


def find_checkpoints(run_dir: Path) -> dict[str, Path]:
    """{'best': path, 'last': path} of a run folder (the highest epoch wins for 'last')."""
    folder = Path(run_dir) / "checkpoints"
    found: dict[str, Path] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_dir() and path.name.endswith("_best_checkpoint") and not path.name.startswith((_TMP, _OLD)):
                found["best"] = path
    epochs = epoch_checkpoints(run_dir)
    if epochs:
        found["last"] = epochs[max(epochs)]
    return found
