"""Scoring for the PyTorch server with a bounded set of input shapes.

Why: on the CPU, PyTorch (oneDNN, all the more under bf16 autocast) builds and keeps kernels and
buffers for every (batch size, sequence length) it meets. A server fed sentences of every length,
batched a few at a time, meets a new shape on most batches, and its memory grew without levelling off
(465 -> 1,540 MB over ~90,000 requests), while the same sentence repeated stayed flat. So here every
model call has a batch size that is a power of two and a length that is a multiple of LENGTH_STEP:
at most log2(batch) x max_length / LENGTH_STEP shapes (6 x 8 = 48 at 32 and 128) ever reach the model.

A batch is split into power-of-two chunks (23 = 16 + 4 + 2 + 1) rather than padded with dummy rows, so
no compute is spent on rows nobody asked for; lengths are padded with the attention mask, which is
exact up to float noise (~1e-6, tests/serve/test_shapes.py).
"""

from __future__ import annotations

import numpy as np
import torch

from emodraw.hardware import autocast

LENGTH_STEP = 16


def chunk_sizes(n: int, batch_size: int) -> list[int]:
    """Powers of two, largest first, each at most `batch_size` (rounded down to a power of two), summing to n."""
    top = 1 << max(0, int(batch_size).bit_length() - 1)
    sizes = [top] * (n // top)
    rest = n % top
    while rest:
        size = 1 << (rest.bit_length() - 1)
        sizes.append(size)
        rest -= size
    return sizes


def padded_width(longest: int, max_length: int) -> int:
    """`longest` rounded up to a multiple of LENGTH_STEP, never past `max_length` (itself the last bucket)."""
    return min(-(-longest // LENGTH_STEP) * LENGTH_STEP, max(max_length, longest))


@torch.inference_mode()
def bucketed_logits(classifier, encoded, batch_size: int = 32) -> np.ndarray:
    """What `classifier._encoded_logits(encoded)` gives (logits (N, C) in the order of `encoded`), computed
    in bounded shapes."""
    model = classifier.model
    model.eval()
    order = np.argsort(encoded.lengths, kind="stable")  # similar lengths together: least padding
    out = torch.empty(len(encoded), len(classifier.labels))
    all_ids = encoded.ids.cpu()
    start = 0
    for size in chunk_sizes(len(encoded), batch_size):
        rows = order[start : start + size]
        start += size
        width = padded_width(int(encoded.lengths[rows].max()), classifier.max_length)
        ids = torch.full((size, width), encoded.pad_id, dtype=torch.long)
        take = min(width, all_ids.shape[1])
        ids[:, :take] = all_ids[torch.from_numpy(rows), :take]
        lengths = torch.from_numpy(encoded.lengths[rows])
        mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
        with autocast(classifier.device, classifier.bf16):
            logits = model(input_ids=ids.to(classifier.device), attention_mask=mask.to(classifier.device)).logits
        out[torch.from_numpy(rows)] = logits.float().cpu()
    return out.numpy()


def scorer(classifier, batch_size: int, long_text: str = "truncate"):
    """texts -> [(logits, truncated) per text], as the server scores them: a PyTorch model in bounded shapes
    (the same classifier with its model calls replaced, so chunking is the same code); an ONNX export
    (onnxruntime keeps no per-shape state: its memory stayed flat) or anything else by its own scores()."""
    if classifier.backend == "pytorch":
        base = classifier
        classifier = base.with_logits(lambda encoded, size: bucketed_logits(base, encoded, size))

    def run(texts: list[str]) -> list[tuple[np.ndarray, bool]]:
        logits, truncated = classifier.scores(texts, batch_size, long_text=long_text)
        return list(zip(logits, (bool(cut) for cut in truncated)))

    return run
