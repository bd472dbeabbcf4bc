"""AdamW parameter groups (weight decay, layer-wise learning-rate decay) and class weights."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import torch

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
