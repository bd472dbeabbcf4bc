"""Safe, atomic, self-describing checkpoints: safetensors + JSON, never pickle.

A checkpoint is a folder that transformers' `from_pretrained` loads as it is (a mean-pooled one once
emodraw.modeling.pooling has registered its type):
  model.safetensors, config.json (with the label names), tokenizer files,
  emodraw.json (resolved config, epoch, validation metrics, versions, data sha256),
  README.md (a model card) and manifest.json (sha256 and size of every other file).
It is written into a hidden temporary folder beside its destination and renamed into place, so a
crash at any moment leaves either the old complete checkpoint or the new complete one.

`load_checkpoint` reads one back for prediction (PyTorch), once `emodraw.checkpoint_integrity` has checked
it (manifest, required files, metadata, labels) and its weights are exactly the model's;
`emodraw.inference.classifier.Classifier` builds on it, and on the ONNX export folders of
`emodraw.inference.onnx_runtime`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from emodraw.checkpoint_integrity import (
    MANIFEST_FILE,
    METADATA_FILE,
    PICKLE_SUFFIXES,
    VOCABULARY_FILES,
    WEIGHTS_FILE,
    WEIGHTS_INDEX,
    label_list,
    pickle_refusal,
    pickled_weights,
    usable_max_length,
    verify_checkpoint,
)
from emodraw.errors import CheckpointError
from emodraw.files import atomic_folder, file_sha256, is_leftover
from emodraw.hub import display_name, download, is_hub_id
from emodraw.model_card import model_card
from emodraw.version import __version__

CARD_FILE = "README.md"
FORMAT_VERSION = 1
FOREIGN_NOTE = "not an emodraw checkpoint (no emodraw.json): loaded as a plain transformers model, unverified"


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


def resolve_model_folder(path: str | Path, revision: str | None = None) -> Path:
    """A checkpoint folder as given, the best checkpoint of a run folder, or the snapshot folder of a Hugging Face
    Hub id at `revision` (emodraw.hub: downloaded, or found in the local cache offline)."""
    if is_hub_id(path):
        return download(str(path), revision).folder
    path = Path(path)
    if revision is not None and path.exists():
        raise CheckpointError(f"--revision is for Hub ids; {path} is a local {'folder' if path.is_dir() else 'file'}")
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
    """The tokenizer saved in a checkpoint or export folder, read from local files only. Refused when the folder
    has no vocabulary: transformers would build a tokenizer of special tokens only, that reads every word as
    unknown, without an error."""
    from transformers import AutoTokenizer

    from emodraw.modeling.backbones import quiet_transformers, register_heads

    folder = Path(folder)
    if not any((folder / name).is_file() for name in VOCABULARY_FILES):
        raise CheckpointError(f"{folder}: no tokenizer files (one of {', '.join(VOCABULARY_FILES)})")
    quiet_transformers()
    register_heads()  # AutoTokenizer reads config.json, whose model type may be emodraw's mean-pooled one
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as exc:  # tokenizers, sentencepiece and transformers each raise their own types
        raise CheckpointError(f"{folder}: cannot load the tokenizer ({first_line(exc)})") from None
    special = len(set(tokenizer.all_special_ids))
    if len(tokenizer) <= special:
        raise CheckpointError(f"{folder}: the tokenizer has no vocabulary besides its {special} special tokens")
    return tokenizer


def _torch_load_refusal(path: Path, exc: Exception) -> CheckpointError:
    """One line for what torch's weights-only unpickler refused (its own message is a paragraph of advice)."""
    import re

    text = str(exc)
    found = re.search(r"GLOBAL \S+|Unsupported operand \d+", text)
    detail = found.group(0) if found else first_line(exc, 160)
    return CheckpointError(
        f"{path}: refused: it holds pickled objects, not just tensors, and emodraw never runs code from a file "
        f"({detail})"
    )


def load_torch_weights(path: Path):
    """A state dict in a PyTorch (.pth) file, read with weights_only=True: plain tensors only, so a file
    that carries code is refused instead of run. The architecture and tokenizer come from the
    config.json and tokenizer files beside it."""
    import pickle
    import warnings
    import zipfile

    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from emodraw.modeling.backbones import quiet_transformers, register_heads

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": a second line before the refusal
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _torch_load_refusal(path, exc) from None
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
        model.load_state_dict(state, strict=True)  # strict: no missing head, no weights of another model
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: does not fit the config.json beside it ({first_line(exc, 160)})") from None
    return model, load_tokenizer(folder)


def _check_loading_info(folder: Path, info: dict[str, Any]) -> None:
    """Refuse weights that do not fit the model: transformers would fill a missing classifier head with random
    values (another label on every load) and drop unexpected weights, with at most a log line."""
    problems = []
    for key, what in (("missing_keys", "missing"), ("unexpected_keys", "unexpected"), ("mismatched_keys", "resized")):
        names = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get(key) or ())
        if names:
            problems.append(
                f"{what}: {', '.join(names[:4])}" + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            )
    if problems:
        raise CheckpointError(
            f"{folder}: the weights do not fit the model config.json describes ({'; '.join(problems)})"
        )


def load_checkpoint_folder(folder: Path):
    """Model, tokenizer and emodraw metadata of a checkpoint folder, after checking it (checkpoint_integrity).
    Weights are read from safetensors only, and must be exactly the model's."""
    from transformers import AutoModelForSequenceClassification

    from emodraw.modeling.backbones import quiet_transformers, register_heads

    folder = Path(folder)
    meta = verify_checkpoint(folder)
    if not (folder / WEIGHTS_FILE).is_file() and not (folder / WEIGHTS_INDEX).is_file():
        pickled = pickled_weights(folder)
        if pickled is not None:
            raise pickle_refusal(pickled)
        raise CheckpointError(f"{folder}: no {WEIGHTS_FILE} (emodraw loads safetensors weights only)")
    quiet_transformers()
    register_heads()
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=True, local_files_only=True, output_loading_info=True
        )
    except Exception as exc:  # safetensors and transformers each raise their own types
        raise CheckpointError(f"{folder}: cannot load ({first_line(exc)})") from None
    _check_loading_info(folder, info)
    tokenizer = load_tokenizer(folder)
    if not (folder / METADATA_FILE).is_file():
        print(f"{display_name(folder)}: {FOREIGN_NOTE}", file=sys.stderr, flush=True)
    return model, tokenizer, meta


@dataclass
class LoadedCheckpoint:
    """A checkpoint read back for prediction: the model on the CPU in eval mode, its tokenizer, label
    names in output order, the maximum length it was trained with (at most what the model takes), and its
    emodraw.json (empty for a .pth file or a plain transformers folder)."""

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
    labels = label_list(model.config.id2label, path)
    # the length it was trained with (checked by verify_checkpoint), cut to what the model takes
    max_length = usable_max_length(meta.get("config", {}).get("max_length"), model.config, tokenizer, path)
    return LoadedCheckpoint(model, tokenizer, labels, max_length, path, meta)
