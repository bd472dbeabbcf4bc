"""What the processes of one run exchange: a path the main process chose, and rows of per-sentence results
that each process computed for its share. With one process both hand their input back unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def broadcast_path(accelerator, path: Path | None) -> Path:
    """Send the main process's path to every process (as bytes in a tensor, no pickling)."""
    if accelerator.num_processes == 1:
        return path
    from accelerate.utils import broadcast

    buffer = torch.zeros(4096, dtype=torch.uint8, device=accelerator.device)
    if accelerator.is_main_process:
        raw = str(path).encode()
        buffer[: len(raw)] = torch.tensor(list(raw), dtype=torch.uint8)
    buffer = broadcast(buffer, from_process=0).cpu()
    return Path(bytes(buffer[buffer != 0].tolist()).decode())


def gather_rows(accelerator, rows: np.ndarray, values: torch.Tensor, n: int) -> torch.Tensor:
    """Each process holds `values` for its `rows` of n; every process gets all n rows back (CPU)."""
    world = accelerator.num_processes
    if world == 1:
        return values
    width = -(-n // world)
    padded = torch.full((width, values.shape[1] + 1), -1.0)
    padded[: len(rows), :-1] = values
    padded[: len(rows), -1] = torch.from_numpy(rows).float()  # the row numbers travel with the values
    gathered = accelerator.gather(padded.to(accelerator.device)).cpu()
    gathered = gathered[gathered[:, -1] >= 0]
    out = torch.empty(n, values.shape[1])
    out[gathered[:, -1].long()] = gathered[:, :-1]
    return out
