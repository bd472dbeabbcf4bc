"""A run's optimisation: AdamW parameter groups (weight decay, layer-wise learning-rate decay), class weights,
and the optimiser, schedule, weight average and training step they make up (`build_optimisation`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import torch

from emodraw.training.ema import WeightAverage
from emodraw.training.steps import EagerStep, GraphedStep

_LAYER = re.compile(r"\.layers?\.(\d+)\.")


def layer_depth(name: str, n_layers: int) -> int:
    """0 for embeddings, k+1 for encoder layer k, n_layers+1 for everything above (pooler, head).

    ALBERT's one shared layer has no index and counts as the top, so for it only the embeddings decay.
    """
    match = _LAYER.search(name)
    if match:
        return int(match.group(1)) + 1
    return 0 if "embeddings" in name else n_layers + 1


def parameter_groups(
    model: torch.nn.Module, lr: float, weight_decay: float, layer_lr_decay: float = 1.0
) -> list[dict]:
    """Groups keyed by (learning-rate scale, decay or not); biases and LayerNorm weights get no decay."""
    n_layers = int(getattr(model.config, "num_hidden_layers", 0))
    groups: dict[tuple[float, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        scale = layer_lr_decay ** (n_layers + 1 - layer_depth(name, n_layers))
        decays = not (param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name)
        group = groups.setdefault(
            (scale, decays), {"params": [], "lr": lr * scale, "weight_decay": weight_decay if decays else 0.0}
        )
        group["params"].append(param)
    return list(groups.values())


def make_optimizer(groups: list[dict], device: torch.device, graphs: bool) -> torch.optim.Optimizer:
    if device.type != "cuda":
        return torch.optim.AdamW(groups)
    if graphs:
        # Under CUDA graphs each learning rate lives in a device tensor that the scheduler updates
        # in place, so every replay reads the current value.
        for group in groups:
            group["lr"] = torch.tensor(group["lr"], device=device)
    # Fused: one kernel for all parameters instead of several per tensor.
    return torch.optim.AdamW(groups, fused=True, capturable=graphs)


def class_weights(labels: Sequence[int], n_classes: int, mode: str) -> torch.Tensor | None:
    """Loss weights w_c proportional to 1/n_c ("balanced") or 1/sqrt(n_c) ("sqrt"), scaled so that
    the average weight over the training sentences is 1 (the learning rate keeps its meaning)."""
    if mode == "none":
        return None
    counts = Counter(labels)
    n = torch.tensor([max(counts.get(c, 0), 1) for c in range(n_classes)], dtype=torch.float32)
    weights = 1.0 / n if mode == "balanced" else 1.0 / n.sqrt()
    present = torch.tensor([float(counts.get(c, 0)) for c in range(n_classes)])
    return weights * present.sum() / (weights * present).sum()


def build_optimisation(
    model,
    config,
    *,
    unwrapped,
    device: torch.device,
    bf16: bool,
    world: int,
    steps_per_epoch: int,
    train_labels: Sequence[int],
    n_classes: int,
    log: Callable[[str], None],
):
    """(optimizer, scheduler, weight average or None, step) for `model` (DDP-wrapped or not; `unwrapped` is
    the model itself) trained with TrainConfig `config`. The step is a CUDA-graphed one where it can be."""
    from transformers import get_linear_schedule_with_warmup

    graphs = config.cuda_graphs and device.type == "cuda" and world == 1
    groups = parameter_groups(unwrapped, config.learning_rate, config.weight_decay, config.layer_lr_decay)
    optimizer = make_optimizer(groups, device, graphs)
    total = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)
    # Base rates as host floats: with device-tensor rates each scheduler step would otherwise
    # compute on (and copy between) device tensors.
    scheduler.base_lrs = [float(lr) for lr in scheduler.base_lrs]
    weights = class_weights(train_labels, n_classes, config.class_weights)
    ema = WeightAverage(unwrapped.parameters(), config.ema_decay) if config.ema_decay > 0 else None
    common = dict(
        device=device,
        bf16=bf16,
        max_grad_norm=config.max_grad_norm,
        label_smoothing=config.label_smoothing,
        world=world,
        rdrop_alpha=config.rdrop_alpha,
        ema=ema,
        class_weights=None if weights is None else weights.to(device),
        distill_alpha=config.distill_alpha,
        distill_temperature=config.distill_temperature,
    )
    if graphs:
        step = GraphedStep(model, optimizer, batch_size=config.batch_size, log=log, **common)
    else:
        step = EagerStep(model, optimizer, **common)
    return optimizer, scheduler, ema, step
