"""The classifier a run fine-tunes: the backbone with a fresh head for the run's labels, set up as the config
asks (multi-label problem type, prior biases, frozen embeddings, fused and compiled layers)."""

from __future__ import annotations

import torch

from emodraw.config import TrainConfig
from emodraw.data.splits import Splits
from emodraw.modeling import fused_albert
from emodraw.modeling.backbones import Backbone, load_classifier
from emodraw.modeling.prior_bias import set_prior_bias
from emodraw.modeling.speedups import compile_layers, fuse_activations


def build_model(backbone: Backbone, vocab_size: int, splits: Splits, cfg: TrainConfig, device: torch.device):
    """The classifier to fine-tune: the backbone with a fresh head for `splits`' labels, the speed-ups the config
    asks for applied; with cfg.prior_bias the head's biases start at the training split's label frequencies (a
    resumed run's saved weights replace them)."""
    label_names = splits.label_names
    torch.manual_seed(cfg.seed)  # before the head exists: its initialisation follows the seed
    model = load_classifier(
        backbone, label_names, random_init=cfg.random_init, vocab_size=vocab_size, pooling=cfg.pooling
    )
    if cfg.multi_label:  # in config.json: transformers' pipeline then applies a sigmoid per label, as emodraw does
        model.config.problem_type = "multi_label_classification"
        if cfg.prior_bias:
            set_prior_bias(model, splits.ids(splits.train))
    if cfg.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    fuse_activations(model)
    if cfg.fused_encoder and device.type == "cuda":  # on CPUs it measured no faster
        fused_albert.install(
            model,
            residual=cfg.fused_residual,
            attention=cfg.attention_backend,
            layernorm_grads=cfg.fused_layernorm_grads,
            bias_grads=cfg.fused_bias_grads,
        )
    if cfg.compile:
        compile_layers(model)
    return model
