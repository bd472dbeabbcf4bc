#!/usr/bin/env python
"""Where one training step's time goes: kernels launched and GPU time per step, for the stock and the
fused ALBERT encoder and the fused encoder's options (residual stream dtype, attention backend, how the
shared LayerNorm and bias gradients are summed), eager
and replayed as a CUDA graph (albert-base-v2 architecture, random weights, batch 64, one padded width);
then the seconds it takes to record one graph per padded width.

    python benchmarks/step_profile.py --device cuda [--width 24] [--steps 50]
    python benchmarks/step_profile.py --device cpu --steps 3 --tiny     # mechanics only
"""

from __future__ import annotations

import argparse
import json
import time

import torch

# (label, fused-encoder options or None for the stock forward)
VARIANTS = [
    ("stock", None),
    ("fused (efficient attention)", {}),
    ("fused, PyTorch's attention order (cuDNN)", {"attention": "pytorch"}),
    ("fused, bf16 residual", {"residual": "bf16"}),
    ("fused, deferred LayerNorm grads", {"layernorm_grads": "deferred"}),
    ("fused, bias grads by gemv", {"bias_grads": "gemv"}),
    ("fused, deferred LayerNorm + gemv bias", {"layernorm_grads": "deferred", "bias_grads": "gemv"}),
    (
        "fused, bf16 residual + deferred + gemv",
        {"residual": "bf16", "layernorm_grads": "deferred", "bias_grads": "gemv"},
    ),
]


def build(tiny: bool, device: torch.device, fused: dict | None):
    from transformers import AlbertConfig, AlbertForSequenceClassification

    from emodraw.modeling import fused_albert
    from emodraw.modeling.backbones import shipped_config
    from emodraw.modeling.speedups import fuse_activations

    if tiny:
        config = AlbertConfig(
            vocab_size=1000,
            embedding_size=16,
            hidden_size=64,
            num_hidden_layers=12,
            num_attention_heads=2,
            intermediate_size=128,
        )
    else:
        config = AlbertConfig(**json.loads(shipped_config("albert-base-v2").read_text()))
    config.num_labels = 6
    torch.manual_seed(0)
    model = fuse_activations(AlbertForSequenceClassification(config)).to(device)
    if fused is not None:
        fused_albert.install(model, **fused)
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    p.add_argument("--width", type=int, default=24, help="padded sentence width (the data's mean is ~22)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--top", type=int, default=15, help="list the kernels that take the most GPU time (eager steps)")
    args = p.parse_args()

    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(
        1000 if not args.tiny else 5,
        2000 if not args.tiny else 1000,
        (args.batch_size, args.width),
        generator=generator,
    )
    mask = torch.ones_like(ids)
    mask[::3, args.width // 2 :] = 0  # some padding, as in real batches
    inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    labels = torch.randint(0, 6, (args.batch_size,), generator=generator).to(device)
    tops = []
    for label, fused in VARIANTS:
        for graphs in (False, True) if device.type == "cuda" else (False,):
            try:
                wall_ms, kernels, gpu_ms, top = measure(args, device, fused, graphs, inputs, labels)
            except Exception as exc:  # one variant failing (e.g. a backend this GPU lacks) must not end the run
                print(
                    f"variant={label} cuda_graphs={graphs}: failed: {type(exc).__name__}: {str(exc)[:200]}", flush=True
                )
                continue
            if top:
                tops.append((label, top))
            print(
                f"variant={label:42} cuda_graphs={graphs!s:5} wall_ms_per_step={wall_ms:7.2f} "
                f"kernels_per_step={kernels} kernel_ms_per_step={gpu_ms}",
                flush=True,
            )
    for label, rows in tops:
        print(f"\nvariant={label}: the {len(rows)} kernels with the most GPU time in one eager step")
        for name, count, ms in rows:
            print(f"  {ms:6.3f} ms  {count:4d} x  {name}")
    if device.type == "cuda":
        capture_costs(args, device)


def make_step(args, device, fused, graphs, step_class=None):
    from emodraw.training.optim import make_optimizer, parameter_groups
    from emodraw.training.steps import EagerStep, GraphedStep

    model = build(args.tiny, device, fused)
    optimizer = make_optimizer(parameter_groups(model, 2e-5, 0.01), device, graphs)
    kw = dict(device=device, bf16=device.type == "cuda", max_grad_norm=1.0, label_smoothing=0.0)
    if graphs:
        return (step_class or GraphedStep)(model, optimizer, batch_size=args.batch_size, **kw)
    return EagerStep(model, optimizer, **kw)


def measure(args, device, fused, graphs, inputs, labels):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    step = make_step(args, device, fused, graphs)
    for _ in range(3):
        step(inputs, labels, args.batch_size)
    sync()
    started = time.perf_counter()
    for _ in range(args.steps):
        step(inputs, labels, args.batch_size)
    sync()
    wall_ms = (time.perf_counter() - started) / args.steps * 1e3
    kernels, gpu_ms, top = "n/a", "n/a", None
    if device.type == "cuda" and not graphs:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step(inputs, labels, args.batch_size)
            sync()
        events = [e for e in prof.events() if e.device_type.name == "CUDA"]
        kernels = len(events)
        gpu_ms = f"{sum(e.device_time for e in events) / 1e3:.2f}"
        by_name: dict[str, list[float]] = {}
        for event in events:
            by_name.setdefault(event.name, []).append(event.device_time)
        ranked = sorted(by_name.items(), key=lambda item: -sum(item[1]))[: args.top]
        top = [(name[:90], len(times), sum(times) / 1e3) for name, times in ranked]
    if getattr(step, "disabled", False):
        raise RuntimeError("graph capture failed; the step ran eagerly")
    del step
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return wall_ms, kernels, gpu_ms, top


def capture_costs(args, device) -> None:
    """Seconds to record the graphs of one epoch's padded widths (8, 16, ..., 88), as training does."""
    step = make_step(args, device, {}, True)
    generator = torch.Generator().manual_seed(0)
    seconds = []
    for width in range(8, 96, 8):
        ids = torch.randint(1000, 2000, (args.batch_size, width), generator=generator).to(device)
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        labels = torch.randint(0, 6, (args.batch_size,), generator=generator).to(device)
        torch.cuda.synchronize()
        started = time.perf_counter()
        step(batch, labels, args.batch_size)
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    print(
        f"capture: {len(seconds)} widths in {sum(seconds):.2f} s; first {seconds[0]:.2f} s, "
        f"others {min(seconds[1:]):.3f}-{max(seconds[1:]):.3f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
