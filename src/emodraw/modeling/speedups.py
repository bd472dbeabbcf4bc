"""Speed-ups applied to a loaded model that leave its results unchanged: one-kernel activations, compiled layers."""

from __future__ import annotations

import torch


def fuse_activations(model: torch.nn.Module) -> torch.nn.Module:
    """Swap transformers' Python-formula tanh-GELU ("gelu_new", ALBERT's) for PyTorch's one-kernel
    version of the same function: about 7 element-wise kernels become 1, forward and backward."""
    from transformers.activations import NewGELUActivation

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, NewGELUActivation):
                setattr(parent, name, torch.nn.GELU(approximate="tanh"))
    return model


def compile_layers(model: torch.nn.Module) -> int:
    """torch.compile each repeated encoder layer (BertLayer, AlbertLayer, ...) with dynamic sequence
    length. One layer compiles in seconds where the whole model takes far longer, and the compiled
    code is shared by every instance (and, for ALBERT, by all 12 uses of its one layer). Returns the
    number of layer modules compiled. Works inside CUDA-graph capture once warmed up."""
    count = 0
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList):
            for layer in module:
                if _is_encoder_layer(layer):
                    layer.compile(dynamic=True)
                    count += 1
    return count


def _is_encoder_layer(module: torch.nn.Module) -> bool:
    """One block of an encoder's stack. transformers marks these as GradientCheckpointingLayer (BertLayer,
    RobertaLayer, DistilBERT's TransformerBlock, ...); ALBERT's shared AlbertLayer predates the marker.
    A model whose layers carry neither is not compiled: it runs eagerly, with the same results."""
    from transformers.modeling_layers import GradientCheckpointingLayer
    from transformers.models.albert.modeling_albert import AlbertLayer

    return isinstance(module, (GradientCheckpointingLayer, AlbertLayer))
