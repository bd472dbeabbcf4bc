"""Safe, atomic, self-describing checkpoints: safetensors + JSON, never pickle.

A checkpoint is a folder that transformers' `from_pretrained` loads as it is (a mean-pooled one once
emodraw.modeling.pooling has registered its type):
  model.safetensors, config.json (with the label names), tokenizer files,
  emodraw.json (resolved config, epoch, validation metrics, versions, data sha256),
  README.md (a model card) and manifest.json (sha256 and size of every other file).
It is written into a hidden temporary folder beside its destination and renamed into place, so a
crash at any moment leaves either the old complete checkpoint or the new complete one.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from emodraw.errors import CheckpointError
from emodraw.files import atomic_folder, file_sha256, is_leftover
from emodraw.model_card import model_card

METADATA_FILE = "emodraw.json"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


def manifested_folder(dest: Path):
    """`files.atomic_folder` that writes the folder's manifest.json (sha256 and size of each file) last."""
    return atomic_folder(dest, finalize=write_manifest)


def versions() -> dict[str, str]:
    import platform

    import torch
    import transformers

    from emodraw import __version__

    out = {
        "emodraw": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    try:
        import accelerate

        out["accelerate"] = accelerate.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def write_manifest(folder: Path) -> None:
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST_FILE:
            name = path.relative_to(folder).as_posix()
            files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    (folder / MANIFEST_FILE).write_text(json.dumps({"format": FORMAT_VERSION, "files": files}, indent=1))


def save_checkpoint(dest: Path, model, tokenizer, meta: dict[str, Any]) -> Path:
    """Write model + tokenizer + metadata + card atomically to `dest`."""
    meta = {
        "format": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        **meta,
    }
    with manifested_folder(dest) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=1, default=str))
        (tmp / "README.md").write_text(model_card(meta, METADATA_FILE))
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
                raise CheckpointError(
                    f"{path}: {path.stat().st_size} bytes, expected {entry.get('bytes')} (truncated or altered)"
                )
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
            if is_leftover(path.name) or not path.is_dir() or not path.name.endswith("_checkpoint"):
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
            if path.is_dir() and path.name.endswith("_best_checkpoint") and not is_leftover(path.name):
                found["best"] = path
    epochs = epoch_checkpoints(run_dir)
    if epochs:
        found["last"] = epochs[max(epochs)]
    return found


PICKLE_SUFFIXES = (".pth", ".pt", ".bin")


def load_torch_weights(path: Path):
    """A state dict in a PyTorch (.pth) file, read with weights_only=True: plain tensors only, so a file
    that carries code is refused instead of run. The architecture and tokenizer come from the
    config.json and tokenizer files beside it."""
    import pickle
    import zipfile

    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from emodraw.modeling.backbones import quiet_transformers, register_heads

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()
        detail = next(
            (line for line in reason if "Unsupported global" in line or "GLOBAL" in line), reason[0] if reason else ""
        )
        raise CheckpointError(
            f"{path}: refused: it holds pickled objects, not just tensors, and emodraw never runs "
            f"code from a file ({detail.strip()[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(
            f"{path}: not a readable PyTorch weights file ({str(exc).strip().splitlines()[0][:160]})"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict (parameter name -> tensor)")
    folder = path.parent
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{path}: needs the model's config.json and tokenizer files in the same folder")
    quiet_transformers()
    register_heads()
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        model = AutoModelForSequenceClassification.from_config(config)
        model.load_state_dict(state, strict=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: does not fit the config.json beside it ({str(exc).strip().splitlines()[0][:160]})"
        ) from None
    return model, tokenizer


def load_checkpoint_folder(folder: Path):
    """Model, tokenizer and emodraw metadata of a checkpoint folder, after checking its manifest.
    Weights are read from safetensors only."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from emodraw.modeling.backbones import quiet_transformers, register_heads

    meta = verify_checkpoint(folder)
    if not (folder / "model.safetensors").is_file() and not list(folder.glob("model-*.safetensors")):
        raise CheckpointError(f"{folder}: no model.safetensors (emodraw loads safetensors weights only)")
    quiet_transformers()
    register_heads()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as exc:  # safetensors, tokenizers and transformers each raise their own types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{folder}: cannot load ({first[:200]})") from None
    return model, tokenizer, meta


def resolve_model_folder(path: str | Path) -> Path:
    """A checkpoint folder as given, or the best checkpoint of a run folder."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint, export or run folder")
    if path.is_dir() and (path / "checkpoints").is_dir():
        found = find_checkpoints(path)
        if "best" not in found and "last" not in found:
            raise CheckpointError(f"{path}: the run folder holds no complete checkpoint")
        return found.get("best", found.get("last"))
    return path
