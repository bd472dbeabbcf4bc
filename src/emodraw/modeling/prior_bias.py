"""Start a multi-label head's output biases at each label's prior log-odds (Lin et al., 2017, "Focal Loss
for Dense Object Detection", section 4.1).

Why: with a zero bias every label starts at probability 0.5, while in GoEmotions most labels are on for
1-3 % of the comments. AdamW moves a bias by about the learning rate per step (1e-4), so walking one from
0 to log-odds -4 takes tens of thousands of steps; until then the weights must do it, and the first epoch
is spent learning that most labels are absent. Starting at the prior removes that phase.
"""

from __future__ import annotations

import numpy as np
import torch

# Frequencies are clipped to this far from 0 and 1: a label absent from training gets a large negative
# bias, not an infinite one.
EPSILON = 1e-4


def prior_log_odds(targets) -> np.ndarray:
    """(C,) log(p / (1 - p)) of each label's frequency p in `targets`, an (N, C) 0/1 array."""
    rate = np.clip(np.asarray(targets, dtype=np.float64).mean(axis=0), EPSILON, 1 - EPSILON)
    return np.log(rate / (1 - rate))


def output_layer(model: torch.nn.Module, n_labels: int) -> torch.nn.Linear:
    """The head's last Linear with `n_labels` outputs (BERT's `classifier`, MPNet's `classifier.out_proj`...)."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == n_labels]
    if not layers or layers[-1].bias is None:
        raise ValueError(f"no output layer with {n_labels} outputs and a bias in {type(model).__name__}")
    return layers[-1]


def set_prior_bias(model: torch.nn.Module, targets) -> np.ndarray:
    """Set the output biases to the labels' prior log-odds in `targets` (N, C); returns them."""
    log_odds = prior_log_odds(targets)
    layer = output_layer(model, len(log_odds))
    with torch.no_grad():
        layer.bias.copy_(torch.as_tensor(log_odds, dtype=layer.bias.dtype))
    return log_odds
