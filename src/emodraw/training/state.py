"""The resumable training state, saved atomically at the end of every epoch.

`state/` holds tensors in `training_state.safetensors` (model, optimizer moments, RNG states) and
everything else in `training_state.json` (epoch, best validation loss, scheduler, optimizer
hyper-parameters, Python's RNG). No pickle anywhere, so resuming never runs code from a file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from emodraw.checkpoints import manifested_folder, verify_checkpoint
from emodraw.errors import CheckpointError, EmodrawError

STATE_DIR = "state"


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_state(
    run_dir: Path,
    *,
    model,
    optimizer,
    scheduler,
    progress: dict[str, Any],
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> None:
    """`extra_tensors` (e.g. the weight average) come back from load_state as info["extra_tensors"]."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"extra.{k}": v.detach().cpu().contiguous() for k, v in (extra_tensors or {}).items()})
    opt_tensors, opt_json = _optimizer_tensors(optimizer)
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    np_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    py_version, py_internal, py_gauss = random.getstate()
    info = {
        **progress,
        "optimizer": opt_json,
        "scheduler": scheduler.state_dict(),
        "rng": {
            "numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": [py_version, list(py_internal), py_gauss],
        },
    }
    # Shared weights (ALBERT's tied embeddings) appear under several names; safetensors refuses
    # aliases, so store each storage once and remember the aliases.
    seen: dict[int, str] = {}
    aliases = {}
    for key in list(tensors):
        ptr = tensors[key].untyped_storage().data_ptr() if tensors[key].numel() else -id(tensors[key])
        if ptr in seen and tensors[key].shape == tensors[seen[ptr]].shape:
            aliases[key] = seen[ptr]
            del tensors[key]
        else:
            seen[ptr] = key
    info["aliases"] = aliases
    with manifested_folder(Path(run_dir) / STATE_DIR) as tmp:
        save_file(
            {k: v.clone() if k in aliases.values() else v for k, v in tensors.items()},
            str(tmp / "training_state.safetensors"),
        )
        (tmp / "training_state.json").write_text(json.dumps(info, default=float))


def has_state(run_dir: Path) -> bool:
    return (Path(run_dir) / STATE_DIR / "training_state.json").is_file()


def load_state(run_dir: Path, *, model, optimizer, scheduler) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNGs; return the progress dict that was saved."""
    folder = Path(run_dir) / STATE_DIR
    verify_checkpoint(folder)
    try:
        tensors = load_file(str(folder / "training_state.safetensors"))
        info = json.loads((folder / "training_state.json").read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder}: unreadable training state ({exc})") from None
    for alias, original in info.pop("aliases", {}).items():
        tensors[alias] = tensors[original]
    model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_json = info.pop("optimizer")
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in opt_json["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    groups = opt_json["param_groups"]
    for group, current in zip(groups, optimizer.param_groups):
        if torch.is_tensor(current["lr"]):  # CUDA-graph training keeps lr in a device tensor
            group["lr"] = torch.tensor(group["lr"], device=current["lr"].device)
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    scheduler.load_state_dict(info.pop("scheduler"))
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
    rng = info.pop("rng")
    kind, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))
    info["extra_tensors"] = {k[len("extra.") :]: v for k, v in tensors.items() if k.startswith("extra.")}
    return info


def restore_state(run_dir: Path, *, model, optimizer, scheduler, ema=None) -> dict[str, Any]:
    """--resume: load_state, plus the weight average (`ema`, a WeightAverage) when the run keeps one; the
    progress dict that was saved (epoch, best_loss, best_epoch, bad_epochs)."""
    if not has_state(run_dir):
        raise EmodrawError(f"--resume {run_dir}: no saved training state (it ends after the first epoch)")
    info = load_state(run_dir, model=model, optimizer=optimizer, scheduler=scheduler)
    if ema is not None:
        try:
            ema.load_state_tensors(info["extra_tensors"])
        except KeyError as exc:
            raise EmodrawError(f"--resume {run_dir}: {exc.args[0]}") from None
    return info
