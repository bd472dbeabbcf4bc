"""Safe, atomic, self-describing checkpoints: safetensors + JSON, never pickle.

A checkpoint is a folder that transformers' `from_pretrained` loads as it is (a mean-pooled one once
emodraw.modeling.pooling has registered its type):
  model.safetensors, config.json (with the label names), tokenizer files,
  emodraw.json (resolved config, epoch, validation metrics, versions, data sha256),
  README.md (a model card) and manifest.json (sha256 and size of every other file).
It is written into a hidden temporary folder beside its destination and renamed into place, so a
crash at any moment leaves either the old complete checkpoint or the new complete one.

`load_checkpoint` reads one back for prediction (PyTorch); `emodraw.inference.classifier.Classifier`
builds on it, and on the ONNX export folders of `emodraw.inference.onnx_runtime`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from emodraw.errors import CheckpointError
from emodraw.files import atomic_folder, file_sha256, is_leftover
from emodraw.model_card import model_card
from emodraw.version import __version__

METADATA_FILE = "emodraw.json"
MANIFEST_FILE = "manifest.json"
CARD_FILE = "README.md"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = (".pth", ".pt", ".bin")


def manifested_folder(dest: Path):
    """`files.atomic_folder` that writes the folder's manifest.json (sha256 and size of each file) last."""
    return atomic_folder(dest, finalize=write_manifest)


def versions() -> dict[str, str]:
    import platform

    import torch
    import transformers

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


def write_metadata(folder: Path, meta: dict[str, Any]) -> None:
    """emodraw.json, and the model card (README.md) when `meta` has the training config the card describes."""
    (folder / METADATA_FILE).write_text(json.dumps(meta, indent=1, default=str))
    if "config" in meta:
        (folder / CARD_FILE).write_text(model_card(meta, METADATA_FILE))


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
        write_metadata(tmp, meta)
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


def _complete_checkpoints(run_dir: Path) -> Iterator[Path]:
    """The checkpoint folders of a run folder, without the half-written ones a crash can leave behind."""
    folder = Path(run_dir) / "checkpoints"
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_dir() and path.name.endswith("_checkpoint") and not is_leftover(path.name):
                yield path


def epoch_checkpoints(run_dir: Path) -> dict[int, Path]:
    """{epoch: path} of a run folder's per-epoch checkpoints (only the last one unless --keep-every-epoch)."""
    found: dict[int, Path] = {}
    for path in _complete_checkpoints(run_dir):
        if "_epoch" in path.name:
            epoch = path.name.rsplit("_epoch", 1)[1].split("_")[0]
            if epoch.isdigit():
                found[int(epoch)] = path
    return dict(sorted(found.items()))


def find_checkpoints(run_dir: Path) -> dict[str, Path]:
    """{'best': path, 'last': path} of a run folder (the highest epoch wins for 'last')."""
    found = {"best": path for path in _complete_checkpoints(run_dir) if path.name.endswith("_best_checkpoint")}
    epochs = epoch_checkpoints(run_dir)
    if epochs:
        found["last"] = epochs[max(epochs)]
    return found


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


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name if it has none), for one-line errors."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def load_tokenizer(folder: Path):
    """The tokenizer saved in a checkpoint or export folder, read from local files only."""
    from transformers import AutoTokenizer

    from emodraw.modeling.backbones import quiet_transformers, register_heads

    quiet_transformers()
    register_heads()  # AutoTokenizer reads config.json, whose model type may be emodraw's mean-pooled one
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def load_torch_weights(path: Path):
    """A state dict in a PyTorch (.pth) file, read with weights_only=True: plain tensors only, so a file
    that carries code is refused instead of run. The architecture and tokenizer come from the
    config.json and tokenizer files beside it."""
    import pickle
    import zipfile

    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

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
        raise CheckpointError(f"{path}: not a readable PyTorch weights file ({first_line(exc, 160)})") from None
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
        tokenizer = load_tokenizer(folder)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: does not fit the config.json beside it ({first_line(exc, 160)})") from None
    return model, tokenizer


def load_checkpoint_folder(folder: Path):
    """Model, tokenizer and emodraw metadata of a checkpoint folder, after checking its manifest.
    Weights are read from safetensors only."""
    from transformers import AutoModelForSequenceClassification

    from emodraw.modeling.backbones import quiet_transformers, register_heads

    meta = verify_checkpoint(folder)
    if not (folder / "model.safetensors").is_file() and not list(folder.glob("model-*.safetensors")):
        raise CheckpointError(f"{folder}: no model.safetensors (emodraw loads safetensors weights only)")
    quiet_transformers()
    register_heads()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True, local_files_only=True)
        tokenizer = load_tokenizer(folder)
    except Exception as exc:  # safetensors, tokenizers and transformers each raise their own types
        raise CheckpointError(f"{folder}: cannot load ({first_line(exc)})") from None
    return model, tokenizer, meta


@dataclass
class LoadedCheckpoint:
    """A checkpoint read back for prediction: the model on the CPU in eval mode, its tokenizer, label
    names in output order, the maximum length it was trained with, and its emodraw.json (empty for a
    .pth file or a plain transformers folder)."""

    model: Any
    tokenizer: Any
    labels: list[str]
    max_length: int
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """A checkpoint folder, a run folder (its best checkpoint) or a .pth file beside its config.json."""
    path = resolve_model_folder(path)
    if path.is_file():
        if path.suffix not in PICKLE_SUFFIXES:
            raise CheckpointError(
                f"{path}: expected a checkpoint folder (model.safetensors + config.json) or a .pth file"
            )
        (model, tokenizer), meta = load_torch_weights(path), {}
    else:
        model, tokenizer, meta = load_checkpoint_folder(path)
    model.eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    # the length it was trained with; else what the tokenizer allows, at most BERT's 512 positions
    max_length = int(meta.get("config", {}).get("max_length", 0)) or min(
        getattr(tokenizer, "model_max_length", 512), 512
    )
    return LoadedCheckpoint(model, tokenizer, labels, max_length, path, meta)
