"""Checkpoint averaging: one checkpoint whose weights are the uniform mean of several (`emodraw average`).

Averaging the weights of the last epochs of one run (kept with `--keep-every-epoch`) is the cheapest
kind of weight averaging: it needs no change to training and costs nothing at inference, unlike an
ensemble. The inputs must share one architecture and label set (the epochs of one run, or runs of one
recipe from the same backbone). The result is an ordinary checkpoint: the first input's config and
tokenizer, the averaged model.safetensors, and emodraw.json saying what was averaged. Its validation
figures are not known until it is evaluated (`emodraw evaluate OUT --split val`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from emodraw.checkpoint_integrity import CONFIG_FILE, label_list, read_json_object
from emodraw.checkpoints import (
    CARD_FILE,
    MANIFEST_FILE,
    METADATA_FILE,
    epoch_checkpoints,
    manifested_folder,
    verify_checkpoint,
    versions,
    write_metadata,
)
from emodraw.errors import CheckpointError, EmodrawError

WEIGHTS_FILE = "model.safetensors"


def parse_epochs(spec: str) -> list[int]:
    """'4-6' -> [4, 5, 6]; '2,4,6' -> [2, 4, 6]; '3-' is not accepted (say the last epoch)."""
    epochs: list[int] = []
    try:
        for part in spec.split(","):
            part = part.strip()
            if "-" in part:
                first, last = (int(x) for x in part.split("-", 1))
                if first > last:
                    raise ValueError
                epochs.extend(range(first, last + 1))
            else:
                epochs.append(int(part))
    except ValueError:
        raise EmodrawError(f"--epochs {spec!r}: give epochs like 4-6 or 2,4,6") from None
    if not epochs or min(epochs) < 1:
        raise EmodrawError(f"--epochs {spec!r}: epochs start at 1")
    return sorted(set(epochs))


def run_epochs(run_dir: str | Path, epochs: Sequence[int]) -> list[Path]:
    """The run's checkpoints of these epochs; a clear error naming the missing ones."""
    if not (Path(run_dir) / "checkpoints").is_dir():
        raise EmodrawError(f"{run_dir}: not a run folder (no checkpoints/ inside)")
    kept = epoch_checkpoints(Path(run_dir))
    missing = [e for e in epochs if e not in kept]
    if missing:
        have = ", ".join(map(str, kept)) or "none"
        gaps = not kept or len(kept) < max(kept)  # earlier epochs were not kept
        raise EmodrawError(
            f"{run_dir}: no checkpoint of epoch {', '.join(map(str, missing))} (kept: {have})"
            + ("; train with --keep-every-epoch to keep every epoch's checkpoint" if gaps else "")
        )
    return [kept[e] for e in epochs]


def _label_names(folder: Path) -> list[str]:
    return label_list(read_json_object(folder / CONFIG_FILE).get("id2label"), folder / CONFIG_FILE)


def average_checkpoints(
    sources: Sequence[str | Path], dest: str | Path, log: Callable[[str], None] = lambda message: None
) -> Path:
    """Write to `dest` a checkpoint with the element-wise mean of the sources' weights."""
    import torch
    from safetensors.torch import load_file, save_file

    sources = [Path(s) for s in sources]
    dest = Path(dest)
    if len(sources) < 2:
        raise EmodrawError("averaging needs at least two checkpoints")
    if dest.exists():
        raise EmodrawError(f"{dest}: already exists; give a new folder")
    # the cheap checks first, before any weights are read
    metas = [verify_checkpoint(source) for source in sources]  # every file against its manifest
    labels = _label_names(sources[0])
    for source in sources:
        if not (source / WEIGHTS_FILE).is_file():
            raise CheckpointError(f"{source}: no {WEIGHTS_FILE}")
        if (theirs := _label_names(source)) != labels:
            raise CheckpointError(f"{source}: labels {theirs} differ from {sources[0]}'s {labels}")
    total: dict[str, torch.Tensor] = {}
    dtypes: dict[str, torch.dtype] = {}
    for i, source in enumerate(sources):
        tensors = load_file(source / WEIGHTS_FILE)  # safetensors: no code runs on load
        if i == 0:
            # floating tensors are summed in double precision; integer ones (counters, ids) have no meaningful
            # mean -- rounding one would invent values -- so they are kept as they are and must agree
            total = {k: v.double() if v.is_floating_point() else v for k, v in tensors.items()}
            dtypes = {k: v.dtype for k, v in tensors.items()}
            continue
        if tensors.keys() != total.keys():
            raise CheckpointError(f"{source}: other weights than {sources[0]} (not the same architecture)")
        for name, value in tensors.items():
            if value.shape != total[name].shape:
                raise CheckpointError(
                    f"{source}: {name} has shape {tuple(value.shape)}, "
                    f"{sources[0]}'s {tuple(total[name].shape)} (not the same architecture)"
                )
            if dtypes[name].is_floating_point:
                total[name] += value.double()
            elif not torch.equal(value, total[name]):
                raise CheckpointError(
                    f"{source}: integer tensor {name} differs from {sources[0]}'s; "
                    "only checkpoints whose integer tensors agree can be averaged"
                )
        log(f"added {source}")
    averaged = {
        k: (v / len(sources)).to(dtypes[k]).contiguous() if dtypes[k].is_floating_point else v
        for k, v in total.items()
    }

    first = metas[0] or {}
    epochs = [m.get("epoch") for m in metas]
    meta = {
        **first,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "saved_from": "Average of " + ", ".join(f"epoch {m.get('epoch')} of {m.get('name', '?')}" for m in metas),
        "epoch": max((e for e in epochs if isinstance(e, int)), default=0),
        "averaged_from": [
            {"checkpoint": str(s), "epoch": m.get("epoch"), "name": m.get("name")} for s, m in zip(sources, metas)
        ],
        "validation": {},
    }  # the sources' figures do not describe the average
    meta.setdefault("name", dest.name)
    meta.setdefault("label_names", labels)
    with manifested_folder(dest) as tmp:
        for path in sources[0].iterdir():  # config, tokenizer files; not the weights, card or records
            if path.is_file() and path.name not in (WEIGHTS_FILE, METADATA_FILE, MANIFEST_FILE, CARD_FILE):
                shutil.copy2(path, tmp / path.name)
        save_file(averaged, tmp / WEIGHTS_FILE, metadata={"format": "pt"})
        write_metadata(tmp, meta)
    return dest
