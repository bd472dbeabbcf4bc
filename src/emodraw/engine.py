"""The low-level pieces shared by training and prediction: device and precision choice, tokenising
once into one padded tensor, length-bucketed batch plans, and a fast inference pass.

Why one padded tensor: slicing `ids[idx, :L]` on the device costs no host work per step and no
host-device copy, and `L` (the longest sentence in the batch) is known on the host from `lengths`,
so building a batch never waits for the GPU.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .errors import ConfigError


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True on CPUs with bf16 matrix instructions (AMX or AVX512-BF16), where bf16 autocast pays."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"amx_bf16", "avx512_bf16"} & flags)
    except OSError:
        pass
    return False


def cpu_name() -> str:
    """The CPU's model name (Linux), for reports that name the machine."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is visible to torch")
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def use_bf16(precision: str, device: torch.device) -> bool:
    if precision == "fp32":
        return False
    if precision == "bf16":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_fast_bf16()


def autocast(device: torch.device, bf16: bool):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def fuse_activations(model: torch.nn.Module) -> torch.nn.Module:
    """Swap transformers' Python-formula tanh-GELU ("gelu_new", ALBERT's) for PyTorch's one-kernel
    version of the same function: about 7 element-wise kernels become 1, forward and backward."""
    from transformers.activations import NewGELUActivation

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, NewGELUActivation):
                setattr(parent, name, torch.nn.GELU(approximate="tanh"))
    return model


def compile_layers(model: torch.nn.Module) -> int:
    """torch.compile each repeated encoder layer (BertLayer, AlbertLayer, ...) with dynamic sequence
    length. One layer compiles in seconds where the whole model takes far longer, and the compiled
    code is shared by every instance (and, for ALBERT, by all 12 uses of its one layer). Returns the
    number of layer modules compiled. Works inside CUDA-graph capture once warmed up."""
    count = 0
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList):
            for layer in module:
                if type(layer).__name__.endswith("Layer"):
                    layer.compile(dynamic=True)
                    count += 1
    return count


def log_stderr(message: str) -> None:
    """One line to stderr that does not break a tqdm progress bar drawn there."""
    import sys

    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def set_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class Encoded:
    """Tokenised sentences: `ids` (N, L_max) right-padded, `lengths` (N,) on the host, `labels` (N,)."""

    ids: torch.Tensor
    lengths: np.ndarray
    labels: torch.Tensor | None
    pad_id: int
    truncated: np.ndarray

    def __post_init__(self):
        self.lengths_t = torch.from_numpy(self.lengths).to(self.ids.device)

    def __len__(self) -> int:
        return len(self.lengths)

    def to(self, device: torch.device) -> "Encoded":
        labels = None if self.labels is None else self.labels.to(device)
        return Encoded(self.ids.to(device), self.lengths, labels, self.pad_id, self.truncated)

    def batch(self, indices: np.ndarray, pad_to_multiple: int = 8, index: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Inputs for `indices`, padded only to the longest of them (rounded up to a multiple of 8).

        `index` is the same indices already on the device: with it, building a batch copies nothing
        from the host (a copy from pageable memory would make the host wait for the GPU every step).
        """
        longest = int(self.lengths[indices].max())
        width = min(-(-longest // pad_to_multiple) * pad_to_multiple, self.ids.shape[1])
        if index is None:
            index = torch.from_numpy(np.ascontiguousarray(indices)).to(self.ids.device)
        ids = self.ids.index_select(0, index)[:, :width]  # (B, L)
        lengths = self.lengths_t.index_select(0, index)  # (B,)
        mask = torch.arange(width, device=ids.device)[None, :] < lengths[:, None]  # (B, L)
        out = {"input_ids": ids, "attention_mask": mask.long()}
        if self.labels is not None:
            out["labels"] = self.labels.index_select(0, index)
        return out


def device_indices(batches: list[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """All batches' indices moved to the device in one copy; returns one view per batch."""
    if not batches:
        return []
    flat = torch.from_numpy(np.concatenate(batches)).to(device)
    return list(torch.split(flat, [len(b) for b in batches]))


def encode(tokenizer, texts: list[str], labels: list[int] | None = None, max_length: int = 128) -> Encoded:
    """Tokenise all texts in one call of the fast tokenizer; record which were cut at `max_length`."""
    full = tokenizer(texts, truncation=True, max_length=max_length, return_overflowing_tokens=False,
                     return_length=False, add_special_tokens=True)["input_ids"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    lengths = np.fromiter((len(x) for x in full), dtype=np.int64, count=len(full))
    width = int(lengths.max()) if len(lengths) else 1
    ids = torch.full((len(full), width), pad_id, dtype=torch.long)
    for row, seq in enumerate(full):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    truncated = lengths >= max_length
    if truncated.any():
        # A sentence of exactly max_length tokens was not cut; re-tokenise only those to tell.
        suspects = np.flatnonzero(truncated)
        untruncated = tokenizer([texts[i] for i in suspects], truncation=False)["input_ids"]
        truncated[suspects] = [len(x) > max_length for x in untruncated]
    label_tensor = None if labels is None else torch.tensor(labels, dtype=torch.long)
    return Encoded(ids, lengths, label_tensor, pad_id, truncated)


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, bucket_batches: int = 50) -> list[np.ndarray]:
    """A shuffled epoch of batches whose sentences have similar lengths, so padding stays near zero.

    Shuffle, cut into chunks of `bucket_batches` batches, sort each chunk by length, cut into batches,
    then shuffle the batch order. Only the very last batch can be smaller than `batch_size`.
    """
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket_batches
    sorted_order = np.concatenate([
        part[np.argsort(lengths[part], kind="stable")] for part in np.split(order, range(chunk, len(order), chunk))
    ]) if len(order) else order
    batches = [sorted_order[i:i + batch_size] for i in range(0, len(sorted_order), batch_size)]
    full, tail = (batches[:-1], batches[-1:]) if len(batches[-1]) < batch_size else (batches, [])
    return [full[i] for i in rng.permutation(len(full))] + tail


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches in length order for inference (no shuffling needed, least padding)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def predict_logits(model, encoded: Encoded, batch_size: int, device: torch.device, bf16: bool,
                   indices: np.ndarray | None = None) -> torch.Tensor:
    """Logits (N, C) in float32 on the CPU, in the original order of `encoded` (or of `indices`)."""
    model.eval()
    lengths = encoded.lengths if indices is None else encoded.lengths[indices]
    chunks, positions = [], []
    plan = sorted_batches(lengths, batch_size)
    rows_of = [pos if indices is None else indices[pos] for pos in plan]
    for batch_pos, rows, index in zip(plan, rows_of, device_indices(rows_of, encoded.ids.device)):
        inputs = encoded.batch(rows, index=index)
        inputs.pop("labels", None)
        with autocast(device, bf16):
            chunks.append(model(**inputs).logits.float())
        positions.append(batch_pos)
    if not chunks:
        return torch.empty(0, getattr(model.config, "num_labels", 0))
    logits = torch.cat(chunks).cpu()
    out = torch.empty_like(logits)
    out[torch.from_numpy(np.concatenate(positions))] = logits
    return out
