"""An exponential moving average (EMA) of the trainable weights, for `--ema-decay`.

Training itself never sees the average: the optimiser keeps stepping the live weights, and after every
step the average moves towards them. Validation, the saved checkpoints and the test scores use the
average, swapped in for the duration and swapped out again, so a run with and without EMA follows the
same training trajectory.

The average starts at zero and is divided by (1 - decay^n) when used (as Adam corrects its moments), so
after n steps it is exactly the decay^(n-i)-weighted mean of the weights after steps i = 1..n, with no
pull towards the initial weights. The update is one multi-tensor kernel with no host synchronisation,
so it is recorded inside the training step's CUDA graph.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch


class WeightAverage:
    def __init__(self, params: Iterable[torch.nn.Parameter], decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.params = [p for p in params if p.requires_grad]
        self.decay = decay
        self.shadow = [torch.zeros_like(p, dtype=torch.float32) for p in self.params]
        self.updates = 0  # counted on the host by the training step, not inside the (graphed) update

    @torch.no_grad()
    def update(self) -> None:
        """shadow <- decay * shadow + (1 - decay) * weights (device work only)."""
        torch._foreach_lerp_(self.shadow, [p.detach().float() for p in self.params], 1.0 - self.decay)

    def averaged(self) -> list[torch.Tensor]:
        scale = 1.0 / (1.0 - self.decay**self.updates)
        return [s * scale for s in self.shadow]

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The averaged weights in the model for the duration; the live ones back afterwards."""
        if self.updates == 0:  # nothing averaged yet: the live weights are the only ones
            yield
            return
        live = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for param, value in zip(self.params, self.averaged()):
                param.copy_(value)
        try:
            yield
        finally:
            with torch.no_grad():
                for param, value in zip(self.params, live):
                    param.copy_(value)

    # -- resumable state ----------------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {f"ema.{i}": s for i, s in enumerate(self.shadow)}
        out["ema.updates"] = torch.tensor(self.updates, dtype=torch.int64)
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "ema.updates" not in tensors or any(f"ema.{i}" not in tensors for i in range(len(self.shadow))):
            raise KeyError("the saved training state has no weight average (was it saved without --ema-decay?)")
        with torch.no_grad():
            for i, s in enumerate(self.shadow):
                s.copy_(tensors[f"ema.{i}"])
        self.updates = int(tensors["ema.updates"])
