"""The low-level pieces shared by training and prediction: tokenising once into one padded tensor,
length-bucketed batch plans, and a fast inference pass (device and precision: emodraw.hardware).

Why one padded tensor: slicing `ids[idx, :L]` on the device costs no host work per step and no
host-device copy, and `L` (the longest sentence in the batch) is known on the host from `lengths`,
so building a batch never waits for the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emodraw.hardware import autocast


@dataclass
class Encoded:
    """Tokenised sentences: `ids` (N, L_max) right-padded, `lengths` (N,) on the host, `labels` (N,) ids or,
    multi-label, (N, C) 0/1 floats."""

    ids: torch.Tensor
    lengths: np.ndarray
    labels: torch.Tensor | None
    pad_id: int
    truncated: np.ndarray

    def __post_init__(self):
        self.lengths_t = torch.from_numpy(self.lengths).to(self.ids.device)

    def __len__(self) -> int:
        return len(self.lengths)

    def to(self, device: torch.device) -> Encoded:
        labels = None if self.labels is None else self.labels.to(device)
        return Encoded(self.ids.to(device), self.lengths, labels, self.pad_id, self.truncated)

    def subset(self, rows: np.ndarray) -> Encoded:
        """The sentences `rows`, in that order; `ids` keep their padded width, so a batch of them is built exactly
        as batch() builds it from the whole."""
        index = torch.from_numpy(np.ascontiguousarray(rows)).to(self.ids.device)
        labels = None if self.labels is None else self.labels.index_select(0, index)
        return Encoded(self.ids.index_select(0, index), self.lengths[rows], labels, self.pad_id, self.truncated[rows])

    def batch(
        self, indices: np.ndarray, pad_to_multiple: int = 8, index: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
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


def pad_token_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def padded_ids(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, np.ndarray]:
    """Token id rows as one right-padded (N, longest) tensor, and their lengths (N,) on the host."""
    lengths = np.fromiter((len(x) for x in rows), dtype=np.int64, count=len(rows))
    ids = torch.full((len(rows), int(lengths.max()) if len(lengths) else 1), pad_id, dtype=torch.long)
    for row, seq in enumerate(rows):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return ids, lengths


def encode(tokenizer, texts: list[str], labels=None, max_length: int = 128) -> Encoded:
    """Tokenise all texts in one call of the fast tokenizer; record which were cut at `max_length`. `labels`:
    ids (N,), or a multi-label (N, C) 0/1 array (emodraw.data.targets), kept as floats for the loss."""
    full = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        return_overflowing_tokens=False,
        return_length=False,
        add_special_tokens=True,
    )["input_ids"]
    pad_id = pad_token_id(tokenizer)
    ids, lengths = padded_ids(full, pad_id)
    truncated = lengths >= max_length
    if truncated.any():
        # A sentence of exactly max_length tokens was not cut; re-tokenise only those to tell.
        suspects = np.flatnonzero(truncated)
        untruncated = tokenizer([texts[i] for i in suspects], truncation=False)["input_ids"]
        truncated[suspects] = [len(x) > max_length for x in untruncated]
    label_tensor = None
    if labels is not None:
        values = np.asarray(labels)
        label_tensor = torch.from_numpy(values.astype(np.float32 if values.ndim == 2 else np.int64))
    return Encoded(ids, lengths, label_tensor, pad_id, truncated)


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, bucket_batches: int = 50
) -> list[np.ndarray]:
    """A shuffled epoch of batches whose sentences have similar lengths, so padding stays near zero.

    Shuffle, cut into chunks of `bucket_batches` batches, sort each chunk by length, cut into batches,
    then shuffle the batch order. Only the very last batch can be smaller than `batch_size`.
    """
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket_batches
    sorted_order = (
        np.concatenate(
            [
                part[np.argsort(lengths[part], kind="stable")]
                for part in np.split(order, range(chunk, len(order), chunk))
            ]
        )
        if len(order)
        else order
    )
    batches = [sorted_order[i : i + batch_size] for i in range(0, len(sorted_order), batch_size)]
    full, tail = (batches[:-1], batches[-1:]) if len(batches[-1]) < batch_size else (batches, [])
    return [full[i] for i in rng.permutation(len(full))] + tail


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches in length order for inference (no shuffling needed, least padding)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def predict_logits(
    model, encoded: Encoded, batch_size: int, device: torch.device, bf16: bool, indices: np.ndarray | None = None
) -> torch.Tensor:
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
