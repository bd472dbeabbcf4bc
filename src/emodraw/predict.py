"""One `Classifier` for every way a trained model is stored.

    clf = Classifier.load("runs/default_all-MiniLM-L6-v2")   # a run folder -> its best checkpoint
    clf.predict("i feel wonderful today")                     # -> "joy"
    clf.predict(["a", "b"])                                   # -> ["...", "..."]
    clf.predict_proba("i feel wonderful today")               # -> {"sadness": 0.01, "joy": 0.95, ...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .checkpoint import find_checkpoints, verify_checkpoint
from .errors import CheckpointError


PICKLE_SUFFIXES = (".pth", ".pt", ".bin")


def load_torch_weights(path: Path):
    """A state dict in a PyTorch (.pth) file, read with weights_only=True: plain tensors only, so a file
    that carries code is refused instead of run. The architecture and tokenizer come from the
    config.json and tokenizer files beside it."""
    import pickle
    import zipfile

    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from .backbones import quiet_transformers, register_heads

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()
        detail = next((line for line in reason if "Unsupported global" in line or "GLOBAL" in line), reason[0] if reason else "")
        raise CheckpointError(f"{path}: refused: it holds pickled objects, not just tensors, and emodraw never runs "
                              f"code from a file ({detail.strip()[:160]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch weights file ({str(exc).strip().splitlines()[0][:160]})") from None
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
        raise CheckpointError(f"{path}: does not fit the config.json beside it ({str(exc).strip().splitlines()[0][:160]})") from None
    return model, tokenizer


def load_checkpoint_folder(folder: Path):
    """Model, tokenizer and emodraw metadata of a checkpoint folder, after checking its manifest.
    Weights are read from safetensors only."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .backbones import quiet_transformers, register_heads

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


class Classifier:
    """A trained emotion classifier: PyTorch weights on CPU or GPU."""

    def __init__(self, model, tokenizer, labels: Sequence[str], *, meta: dict[str, Any] | None = None,
                 device: torch.device | None = None, bf16: bool = False, max_length: int = 128, path: Path | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.labels = list(labels)
        self.meta = meta or {}
        self.device = device or torch.device("cpu")
        self.bf16, self.max_length, self.path = bf16, max_length, path

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto", precision: str = "auto", threads: int = 0) -> "Classifier":
        """A checkpoint folder, a run folder (its best checkpoint), an export folder (ONNX) or a .pth file."""
        from .engine import pick_device, set_threads, use_bf16
        from .export import is_export

        folder = resolve_model_folder(path)
        if is_export(folder):
            return OnnxClassifier.load(folder, threads=threads)
        set_threads(threads)
        if folder.is_file():
            if folder.suffix not in PICKLE_SUFFIXES:
                raise CheckpointError(f"{folder}: expected a checkpoint folder (model.safetensors + config.json) or a .pth file")
            (model, tokenizer), meta = load_torch_weights(folder), {}
        else:
            model, tokenizer, meta = load_checkpoint_folder(folder)
        dev = pick_device(device)
        model.to(dev).eval()
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        max_length = int(meta.get("config", {}).get("max_length", 0)) or min(getattr(tokenizer, "model_max_length", 512), 512)
        return cls(model, tokenizer, labels, meta=meta, device=dev, bf16=use_bf16(precision, dev),
                   max_length=max_length, path=folder)

    # -- core -------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]):
        from .engine import encode

        return encode(self.tokenizer, list(texts), max_length=self.max_length).to(self.device)

    def _encoded_logits(self, encoded, batch_size: int) -> np.ndarray:
        from .engine import predict_logits

        return predict_logits(self.model, encoded, batch_size, self.device, self.bf16).numpy()

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Raw scores (N, C) as float32, in the order of `texts` (computed in length-sorted batches)."""
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self._encoded_logits(self.encode(texts), batch_size)

    def details(self, texts: Sequence[str], batch_size: int = 64) -> list[dict[str, Any]]:
        """For each text: label, scores per label, and whether it was cut at the maximum length."""
        if len(texts) == 0:
            return []
        encoded = self.encode(texts)
        probs = torch.softmax(torch.from_numpy(self._encoded_logits(encoded, batch_size)), dim=-1).numpy()
        return [self._row(p, bool(cut)) for p, cut in zip(probs, encoded.truncated)]

    def _row(self, probs: np.ndarray, truncated: bool) -> dict[str, Any]:
        return {"label": self.labels[int(probs.argmax())],
                "scores": {name: float(p) for name, p in zip(self.labels, probs)},
                "truncated": truncated}

    # -- convenience ------------------------------------------------------------------------
    def predict_proba(self, texts: str | Sequence[str]) -> dict[str, float] | list[dict[str, float]]:
        rows = self.details([texts] if isinstance(texts, str) else list(texts))
        scores = [row["scores"] for row in rows]
        return scores[0] if isinstance(texts, str) else scores

    def predict(self, texts: str | Sequence[str]) -> str | list[str]:
        single = isinstance(texts, str)
        logits = self.logits([texts] if single else list(texts))
        labels = [self.labels[i] for i in logits.argmax(axis=-1)]
        return labels[0] if single else labels

    def data_file(self, split: str) -> Path:
        """The file of `split` this model was trained with (or the bundled emotion data)."""
        from .data import bundled_data_dir, find_split_file

        recorded = self.meta.get("data", {}).get(split, {}) or {}
        if recorded.get("path") and Path(recorded["path"]).is_file():
            return Path(recorded["path"])
        found = find_split_file(bundled_data_dir(), split)
        if found is None:
            raise CheckpointError(f"no {split} data recorded for {self.path}; pass --data FILE")
        return found


class OnnxClassifier(Classifier):
    """The same API over an `emodraw export` folder, run by onnxruntime on the CPU."""

    @classmethod
    def load(cls, path: str | Path, *, variant: str | None = None, threads: int = 0, **_ignored) -> "OnnxClassifier":
        import json

        import onnxruntime as ort
        from transformers import AutoTokenizer

        from .backbones import quiet_transformers, register_heads
        from .export import EXPORT_META

        folder = Path(path)
        try:
            meta = json.loads((folder / EXPORT_META).read_text())
        except (OSError, ValueError):
            raise CheckpointError(f"{folder / EXPORT_META}: unreadable export metadata") from None
        name = variant or meta.get("default", "model.onnx")
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder / name}: missing from the export folder")
        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        try:
            session = ort.InferenceSession(str(folder / name), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
            raise CheckpointError(f"{folder / name}: cannot load ({str(exc).splitlines()[0][:200]})") from None
        quiet_transformers()
        register_heads()
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        clf = cls(session, tokenizer, meta["labels"], meta=meta, max_length=int(meta["max_length"]), path=folder)
        clf.variant = name
        return clf

    def _encoded_logits(self, encoded, batch_size: int) -> np.ndarray:
        from .engine import sorted_batches

        out = np.empty((len(encoded), len(self.labels)), dtype=np.float32)
        for rows in sorted_batches(encoded.lengths, batch_size):
            inputs = encoded.batch(rows)
            feeds = {"input_ids": inputs["input_ids"].numpy(), "attention_mask": inputs["attention_mask"].numpy()}
            out[rows] = self.model.run(["logits"], feeds)[0]
        return out
