"""One optimisation step: forward, loss, backward, clipping, AdamW.

`EagerStep` runs it as ordinary PyTorch. `GraphedStep` records the whole step once per padded
sentence width as a CUDA graph and then replays it: a base-size encoder at batch 64 x ~24 tokens
spends far longer launching its ~1,000 small kernels from Python than computing them, and a replay
launches them all in one call. Semantics are the same; any capture problem falls back to eager.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from emodraw.hardware import autocast
from emodraw.training.distillation import distillation_loss


class EagerStep:
    def __init__(
        self,
        model,
        optimizer,
        *,
        device: torch.device,
        bf16: bool,
        max_grad_norm: float,
        label_smoothing: float,
        world: int = 1,
        class_weights: torch.Tensor | None = None,
        rdrop_alpha: float = 0.0,
        ema=None,
        distill_alpha: float = 0.0,
        distill_temperature: float = 1.0,
    ):
        self.model, self.optimizer = model, optimizer
        self.device, self.bf16 = device, bf16
        self.max_grad_norm, self.label_smoothing, self.world = max_grad_norm, label_smoothing, world
        self.class_weights, self.rdrop_alpha = class_weights, rdrop_alpha
        self.distill_alpha, self.distill_temperature = distill_alpha, distill_temperature
        self.ema = ema  # an averaging.WeightAverage, or None
        self.params = [p for p in model.parameters() if p.requires_grad]

    def _body(self, input_ids, attention_mask, labels, scale: float, soft: torch.Tensor | None = None) -> torch.Tensor:
        """`soft`: the teachers' distribution per sentence (B, C) when distilling, else None."""
        rdrop = self.rdrop_alpha > 0
        if rdrop:  # R-Drop: the batch twice (two dropout draws), in one forward pass
            input_ids, attention_mask, labels = input_ids.repeat(2, 1), attention_mask.repeat(2, 1), labels.repeat(2)
            soft = None if soft is None else soft.repeat(2, 1)
        with autocast(self.device, self.bf16):
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float()  # (B, C)
        if labels.is_floating_point():  # multi-label (B, C) 0/1: each label its own yes/no, as transformers does
            losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(-1)
        else:
            losses = torch.nn.functional.cross_entropy(
                logits, labels, weight=self.class_weights, reduction="none", label_smoothing=self.label_smoothing
            )  # (B,)
        objective = losses
        if soft is not None:  # the reported loss stays the labels' cross-entropy, comparable to validation's
            objective = (1 - self.distill_alpha) * losses + self.distill_alpha * distillation_loss(
                logits, soft, self.distill_temperature
            )
        if rdrop:
            losses = losses.view(2, -1).mean(0)  # per sentence, as reported
            objective = objective.view(2, -1).mean(0)
            first, second = torch.log_softmax(logits, -1).chunk(2)
            kl = torch.nn.functional.kl_div
            symmetric = (
                kl(first, second, log_target=True, reduction="none")
                + kl(second, first, log_target=True, reduction="none")
            ).sum(-1) / 2
            objective = objective + self.rdrop_alpha * symmetric
        (objective.sum() * scale).backward()
        if self.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update()
        return losses.detach().sum()

    def __call__(self, inputs: dict[str, torch.Tensor], labels: torch.Tensor, global_count: int) -> torch.Tensor:
        """Run one step; return the summed (unscaled) loss of this process's sentences, on the device.

        DDP averages gradients over processes; scaling by world / global_count makes the result the
        mean over the global batch, whatever each process's share of it was.
        """
        # Gradients start from nothing: after a CUDA-graph replay `.grad` still points at the graph's
        # buffers, and backward would add to them.
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._body(
            inputs["input_ids"],
            inputs["attention_mask"],
            labels,
            self.world / global_count,
            inputs.get("soft_targets"),
        )
        self.optimizer.zero_grad(set_to_none=True)
        self._count()
        return loss

    def _count(self) -> None:
        if self.ema is not None:
            self.ema.updates += 1


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    soft: torch.Tensor | None  # the teachers' distribution, when distilling
    loss: torch.Tensor


class GraphedStep(EagerStep):
    """Full-size batches replay a captured CUDA graph per width; others (the last, partial batch) run eagerly."""

    def __init__(self, *args, batch_size: int, log=print, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_size, self.log = batch_size, log
        self.graphs: dict[int, _Graph] = {}
        self.pool = None
        self.side = None
        self.disabled = False
        self.capture_seconds = 0.0

    def __call__(self, inputs, labels, global_count):
        batch, width = inputs["input_ids"].shape
        if self.disabled or batch != self.batch_size or self.world != 1:
            return super().__call__(inputs, labels, global_count)
        entry = self.graphs.get(width)
        if entry is None:
            started = time.perf_counter()
            try:
                entry = self.graphs[width] = self._capture(inputs, labels)
                torch.cuda.synchronize()
                self.capture_seconds += time.perf_counter() - started  # for benchmarks: the price of recording
            except Exception as exc:  # an op that cannot be captured: keep training, eagerly
                self.disabled = True
                self.log(f"CUDA graphs off ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); training eagerly")
                torch.cuda.synchronize()
                return super().__call__(inputs, labels, global_count)
        entry.input_ids.copy_(inputs["input_ids"])
        entry.attention_mask.copy_(inputs["attention_mask"])
        entry.labels.copy_(labels)
        if entry.soft is not None:
            entry.soft.copy_(inputs["soft_targets"])
        entry.graph.replay()
        self._count()
        return entry.loss.clone()

    def _capture(self, inputs, labels) -> _Graph:
        soft = inputs.get("soft_targets")
        static = _Graph(
            torch.cuda.CUDAGraph(),
            inputs["input_ids"].clone(),
            inputs["attention_mask"].clone(),
            labels.clone(),
            None if soft is None else soft.clone(),
            torch.zeros((), device=self.device),
        )
        scale = 1.0 / self.batch_size
        # Warm-up and capture run real optimizer steps; keep the weights, moments and weight average
        # to put back after.
        saved = [(p, p.detach().clone()) for p in self.params + (self.ema.shadow if self.ema is not None else [])]
        saved_state = {
            p: {k: v.clone() for k, v in self.optimizer.state[p].items() if torch.is_tensor(v)}
            for p in self.params
            if p in self.optimizer.state
        }
        try:
            if self.side is None:  # one stream for every capture: the shared pool reuses memory best so
                self.side = torch.cuda.Stream()
            side = self.side
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                # The first capture warms up twice (lazy cuBLAS/attention set-up); later widths need once.
                for _ in range(1 if self.graphs else 2):
                    self.optimizer.zero_grad(set_to_none=True)
                    self._body(static.input_ids, static.attention_mask, static.labels, scale, static.soft)
            torch.cuda.current_stream().wait_stream(side)
            self.optimizer.zero_grad(set_to_none=True)  # backward in the graph then writes fresh grads
            # Not `torch.cuda.graph(...)`: on entry it empties the allocator's cache (and, in some
            # versions, runs gc.collect()), so each of the ~10 captures would give back and re-request
            # all cached memory. The capture itself is the same: on a side stream, into one shared pool.
            torch.cuda.synchronize()
            with torch.cuda.stream(side):
                static.graph.capture_begin(*(() if self.pool is None else (self.pool,)), capture_error_mode="global")
                try:
                    static.loss = self._body(
                        static.input_ids, static.attention_mask, static.labels, scale, static.soft
                    )
                finally:
                    static.graph.capture_end()
            torch.cuda.current_stream().wait_stream(side)
            self.pool = static.graph.pool()
        finally:  # also when the capture failed: the eager fallback must start from the real weights
            with torch.no_grad():
                for p, value in saved:
                    p.copy_(value)
                for p in self.params:
                    for key, value in self.optimizer.state[p].items():
                        if torch.is_tensor(value):
                            value.copy_(saved_state[p][key]) if p in saved_state else value.zero_()
        return static
