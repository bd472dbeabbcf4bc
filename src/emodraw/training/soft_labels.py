"""Soft labels: a teacher's raw scores for training sentences, kept in a file so that distillation needs the
teacher's forward passes once, or not at all.

Two uses of one format: the cache `--distill-from` writes beside a teacher's run (scoring 16,000 sentences
with a 110M-parameter teacher takes minutes on a CPU; every later student reads the file), and the soft labels
the package ships for its bundled training sentences (`--distill-from bundled`), made once by the large
backbone, so that a student learns from it with no large model installed.

The file is safetensors (nothing pickled): `keys`, int64, one per sentence (the first 8 bytes of the
sentence's UTF-8 sha256, so a file never holds the text and any subset of the sentences -- a --portion --
finds its rows), and `logits`, float32 (N, C), the teacher's scores before any temperature. Its metadata
says what made it: the labels (the columns' order), the teacher, the sha256 of the teacher's
model.safetensors, the teacher's recipe, the data. A file that does not read as one is refused in one line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from emodraw.errors import ConfigError

FORMAT = "emodraw-soft-labels/1"
BUNDLED = "bundled"  # --distill-from bundled: the soft labels shipped for the bundled training data
BUNDLED_FILE = "emotion-train.soft-labels.safetensors"
SUFFIX = ".safetensors"


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """One int64 per text: the first 8 bytes of its UTF-8 sha256 (collisions among 10^5 sentences: ~1e-9)."""
    digests = b"".join(hashlib.sha256(t.encode("utf-8")).digest()[:8] for t in texts)
    return np.frombuffer(digests, dtype="<i8").copy()


def bundled_path() -> Path:
    return Path(str(resources.files("emodraw") / "resources" / "soft_labels" / BUNDLED_FILE))


def is_soft_label_file(entry: str) -> bool:
    """A --distill-from entry that names soft labels rather than a teacher's run or checkpoint folder."""
    return entry == BUNDLED or entry.endswith(SUFFIX)


@dataclass
class SoftLabels:
    keys: np.ndarray  # (N,) int64, sorted, unique
    logits: np.ndarray  # (N, C) float32
    labels: list[str]
    meta: dict[str, str] = field(default_factory=dict)  # teacher, teacher_sha256, recipe, data, ...

    @classmethod
    def from_scores(
        cls, texts: Sequence[str], logits: np.ndarray, labels: Sequence[str], meta: Mapping[str, str] | None = None
    ) -> SoftLabels:
        """Rows for `texts` (a repeated text keeps its first row)."""
        keys, first = np.unique(text_keys(texts), return_index=True)
        return cls(keys, np.asarray(logits, dtype=np.float32)[first], list(labels), dict(meta or {}))

    def merged(self, other: SoftLabels) -> SoftLabels:
        """These rows and `other`'s new ones (same labels, same teacher)."""
        new = ~np.isin(other.keys, self.keys)
        keys = np.concatenate([self.keys, other.keys[new]])
        order = np.argsort(keys, kind="stable")
        logits = np.concatenate([self.logits, other.logits[new]])[order]
        return SoftLabels(keys[order], logits, self.labels, self.meta)

    def missing(self, texts: Sequence[str]) -> np.ndarray:
        """A boolean mask: the texts these soft labels have no row for."""
        return ~np.isin(text_keys(texts), self.keys)

    def lookup(self, texts: Sequence[str], label_names: Sequence[str], *, source: str) -> np.ndarray:
        """(len(texts), len(label_names)) float32 logits, columns in the order of `label_names` (mapped by
        name); every text must have a row and the label sets must be the same."""
        if sorted(self.labels) != sorted(label_names):
            raise ConfigError(
                f"--distill-from: {source} holds soft labels for {self.labels}, the training data has "
                f"{list(label_names)}"
            )
        keys = text_keys(texts)
        rows = np.searchsorted(self.keys, keys).clip(max=max(len(self.keys) - 1, 0))
        found = (self.keys[rows] == keys) if len(self.keys) else np.zeros(len(keys), bool)
        if not found.all():
            raise ConfigError(
                f"--distill-from: {source} has soft labels for {int(found.sum())} of the {len(texts)} training "
                "sentences: it was made for other data"
            )
        columns = [self.labels.index(name) for name in label_names]
        return self.logits[rows][:, columns]

    def write(self, path: str | Path) -> Path:
        """Write atomically (a crash leaves the old file or none, never half of one)."""
        from safetensors.numpy import save

        from emodraw.files import atomic_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {**self.meta, "format": FORMAT, "labels": json.dumps(self.labels)}
        tensors = {"keys": self.keys.astype("<i8"), "logits": self.logits.astype(np.float32)}
        with atomic_file(path, "wb") as handle:
            handle.write(save(tensors, metadata=meta))
        return path

    @classmethod
    def read(cls, path: str | Path) -> SoftLabels:
        from safetensors import SafetensorError
        from safetensors.numpy import load

        path = Path(path)
        try:
            data = path.read_bytes()
            tensors = load(data)
            meta = _metadata(data)
            labels = json.loads(meta.get("labels", "null"))
        except FileNotFoundError:
            raise ConfigError(f"--distill-from: {path}: no such soft-label file") from None
        except (OSError, SafetensorError, ValueError) as exc:
            raise ConfigError(f"--distill-from: {path}: not a soft-label file ({exc})") from None
        keys, logits = tensors.get("keys"), tensors.get("logits")
        if (
            meta.get("format") != FORMAT
            or not (isinstance(labels, list) and labels and all(isinstance(name, str) for name in labels))
            or keys is None
            or logits is None
            or keys.ndim != 1
            or logits.shape != (len(keys), len(labels))
            or not np.isfinite(logits).all()
        ):
            raise ConfigError(f"--distill-from: {path}: not a soft-label file of this emodraw ({FORMAT})")
        order = np.argsort(keys, kind="stable")
        return cls(keys[order].astype(np.int64), logits[order].astype(np.float32), labels, meta)


def _metadata(data: bytes) -> dict[str, str]:
    """A safetensors file's own metadata (its header's "__metadata__")."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    return dict(header.get("__metadata__") or {})


def read_source(entry: str) -> SoftLabels:
    """A --distill-from entry that is soft labels: `bundled`, or a file."""
    if entry == BUNDLED:
        path = bundled_path()
        if not path.is_file():
            raise ConfigError("--distill-from bundled: this emodraw was installed without its soft labels")
        return SoftLabels.read(path)
    return SoftLabels.read(entry)
