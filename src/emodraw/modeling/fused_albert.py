"""A faster training forward for ALBERT's encoder, on the model's own parameters.

ALBERT runs one shared transformer layer 12 times. Run as written, every use computes its own weight
gradients with small GEMMs and autograd then adds the 12 partial gradients together: about 180 tiny
kernels per step that do almost no work, on top of three separate Q/K/V projections. On a GPU at
batch 64 x ~24 tokens the step is bound by the number of kernels, not by arithmetic.

This forward computes the same function with fewer, larger kernels:

* Q, K and V come from one GEMM against the three weights concatenated once per forward (not once
  per layer);
* the padding mask is turned into an additive mask once, not in each of the 12 attention calls;
* the four shared linear layers write each use's input and output gradient into one buffer per layer
  (the copy doubles as the cast to bf16 or the head-merging reshape the stock forward does anyway; GELU
  and its backward write straight into the buffers) and compute their weight and bias gradients once,
  at the end of backward, as one GEMM over all 12 uses (K = 12 x tokens), which replaces 12 GEMMs + 11
  additions per weight and per bias;
* optionally (`layernorm_grads="deferred"`), the two shared LayerNorms do the same: each use's
  backward computes only the input gradient, and the scale and shift gradients over all 12 uses come
  from one LayerNorm-backward kernel at the end (instead of 24 weight-gradient kernels and 44
  accumulating additions); and (`bias_grads="gemv"`) the four shared bias gradients are
  matrix-vector products with a vector of ones instead of column reductions;
* attention prefers the memory-efficient kernel: cuDNN's, PyTorch's first choice on H100/H200, builds a
  plan for every new shape (seconds over an epoch's padded widths) and was slower per step here.

Precision follows autocast exactly by default (bf16 GEMMs and attention, LayerNorm and the residual
stream in float32 after the first LayerNorm), so results match the stock forward up to rounding; a test
checks logits and every gradient against it in float32. `residual="bf16"` keeps the residual stream
in the compute dtype instead (bf16 under autocast; LayerNorm still normalises in float32 inside the
kernel): fewer casts and half the memory traffic of the element-wise work, at the price of rounding
the residual stream to bf16 as pure-bf16 training does. `attention` picks the scaled-dot-product
backend tried first (see the note above `install`). The parameters, their names and the saved checkpoints are
untouched: `install` only swaps the encoder's `forward` on this model instance. Anything the fast path
does not cover (dropout inside the encoder while training, several layer groups, chunked feed-forward,
ONNX export or tracing) runs the stock forward.

This module decides where the fused forward applies and runs it; the autograd functions and buffers it
is made of are in emodraw.modeling.deferred_grads.
"""

from __future__ import annotations

import contextlib
import types

import torch
import torch.nn.functional as F

from emodraw.config import ATTENTION_BACKENDS, BIAS_GRADS, LAYERNORM_GRADS, RESIDUAL_STREAMS
from emodraw.modeling.deferred_grads import (
    DeferredFeedForward,
    DeferredLinear,
    DeferredQKV,
    DeferredResidualNorm,
    LinearSlot,
    NormSlot,
    SharedGrads,
    split_heads,
)


def supported(encoder) -> bool:
    """Whether `encoder` is an ALBERT encoder the fused forward covers: one layer group of one layer."""
    from transformers.models.albert.modeling_albert import AlbertTransformer

    if not isinstance(encoder, AlbertTransformer):
        return False
    config = encoder.config
    return config.num_hidden_groups == 1 and config.inner_group_num == 1 and not config.chunk_size_feed_forward


# Attention, "efficient" (the default): memory-efficient attention first. cuDNN attention, which PyTorch
# prefers on H100/H200, builds a plan for every new tensor shape -- for every padded width of training and
# again of validation: recording 11 widths' graphs took 5.3 s with it, 0.7 s without -- and its step was
# slower (4.47 against 4.10 ms at width 24; benchmarks/step_profile.py, docs/PERFORMANCE.md). "pytorch":
# PyTorch's own order. Whatever comes first, the others stay behind it as fallbacks, so a shape one
# kernel does not support still runs. Residual "bf16": the stream in the compute dtype (bf16 under autocast).
# layernorm_grads "deferred" and bias_grads "gemv": fewer or faster kernels for the same gradients, not yet
# timed on a GPU, hence off by default (benchmarks/step_profile.py lists them as variants).
def install(
    model: torch.nn.Module,
    residual: str = "float32",
    attention: str = "efficient",
    layernorm_grads: str = "per-use",
    bias_grads: str = "reduce",
) -> int:
    """Give every ALBERT encoder in `model` the fused forward. Returns how many were changed."""
    for name, value, allowed in (
        ("residual", residual, RESIDUAL_STREAMS),
        ("attention", attention, ATTENTION_BACKENDS),
        ("layernorm_grads", layernorm_grads, LAYERNORM_GRADS),
        ("bias_grads", bias_grads, BIAS_GRADS),
    ):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
    count = 0
    for module in model.modules():
        if supported(module) and not hasattr(module, "_stock_forward"):
            module._fused_residual, module._fused_attention = residual, attention
            module._fused_layernorm_grads, module._fused_bias_grads = layernorm_grads, bias_grads
            module._stock_forward = module.forward
            module.forward = types.MethodType(_fused_forward, module)
            module._slots = {name: LinearSlot() for name in ("qkv", "dense", "ffn", "ffn_output")}
            module._norm_slots = {name: NormSlot() for name in ("attention", "output")}
            count += 1
    return count


def _needs_stock_path(encoder, layer, kwargs) -> bool:
    attention = layer.attention
    dropout = (attention.attention_dropout.p, attention.output_dropout.p, layer.dropout.p)
    return (
        (encoder.training and any(dropout))
        or torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
        or kwargs.get("output_attentions")
        or kwargs.get("output_hidden_states")
    )


def _fused_forward(self, hidden_states, attention_mask=None, **kwargs):
    from transformers.modeling_outputs import BaseModelOutput

    layer = self.albert_layer_groups[0].albert_layers[0]
    if _needs_stock_path(self, layer, kwargs):
        return self._stock_forward(hidden_states, attention_mask, **kwargs)
    attention = layer.attention
    device_type = hidden_states.device.type
    amp = torch.is_autocast_enabled(device_type)
    # Under autocast the first mapping gives the compute dtype, exactly as in the stock forward.
    hidden = self.embedding_hidden_mapping_in(hidden_states)
    dtype = torch.get_autocast_dtype(device_type) if amp else hidden.dtype

    linears = {
        "qkv": (
            torch.cat([attention.query.weight, attention.key.weight, attention.value.weight]),
            torch.cat([attention.query.bias, attention.key.bias, attention.value.bias]),
        ),
        "dense": (attention.dense.weight, attention.dense.bias),
        "ffn": (layer.ffn.weight, layer.ffn.bias),
        "ffn_output": (layer.ffn_output.weight, layer.ffn_output.bias),
    }
    linears = {name: (w.to(dtype), b.to(dtype)) for name, (w, b) in linears.items()}  # cast once, used 12 times
    norm1, norm2 = attention.LayerNorm, layer.full_layer_layer_norm
    # float32: what autocast does (LayerNorm runs and returns float32); bf16: stay in the compute dtype
    stream = torch.float32 if self._fused_residual == "float32" else dtype  # "bf16": the compute dtype
    # LayerNorm's weights in the stream's dtype: CUDA's kernel takes no bf16 input with float32 weights
    norms = {
        "attention": (norm1.weight.to(stream), norm1.bias.to(stream)),
        "output": (norm2.weight.to(stream), norm2.bias.to(stream)),
    }
    for slot in (*self._slots.values(), *self._norm_slots.values()):
        slot.clear()  # a forward whose backward never ran must not leave its tensors behind
    deferred = torch.is_grad_enabled() and any(t.requires_grad for pair in linears.values() for t in pair)
    batch, width, size = hidden.shape
    heads = attention.num_attention_heads
    uses = self.config.num_hidden_layers
    gelu = _gelu_approximation(layer.activation)
    slots = self._slots
    defer_norms = (
        deferred
        and self._fused_layernorm_grads == "deferred"
        and all(t.requires_grad for pair in norms.values() for t in pair)
    )
    norm_slots = self._norm_slots if defer_norms else {}
    if deferred:
        names = list(linears)
        for name, (weight, _) in linears.items():
            slots[name].allocate(uses, batch, width, weight.shape[1], weight.shape[0], weight)
        for slot in norm_slots.values():
            slot.allocate(uses, batch, width, size, stream, hidden)
        hidden = SharedGrads.apply(
            hidden,
            [slots[n] for n in names],
            list(norm_slots.values()),
            self._fused_bias_grads,
            *[t for n in names for t in linears[n]],
            *[t for n in norm_slots for t in norms[n]],
        )
        # the deferred functions get the weights without autograd history: their gradients come from SharedGrads
        linears = {name: (w.detach(), b.detach()) for name, (w, b) in linears.items()}
        if defer_norms:
            norms = {name: (w.detach(), b.detach()) for name, (w, b) in norms.items()}

    def qkv_heads(x, i):
        weight, bias = linears["qkv"]
        if deferred:
            return DeferredQKV.apply(x, weight, bias, slots["qkv"], i, heads)
        return split_heads(F.linear(x.to(dtype), weight, bias), heads)

    def dense(context, i):  # context: (B, L, heads, head_size)
        weight, bias = linears["dense"]
        if deferred:
            return DeferredLinear.apply(context, weight, bias, slots["dense"], i)
        return F.linear(context.reshape(batch, width, size), weight, bias)

    def feed_forward(x, i):
        (w1, b1), (w2, b2) = linears["ffn"], linears["ffn_output"]
        if deferred and gelu is not None:
            return DeferredFeedForward.apply(x, w1, b1, w2, b2, slots["ffn"], slots["ffn_output"], i, gelu)
        if deferred:  # another activation: the generic deferred layers, one copy each
            inner = layer.activation(DeferredLinear.apply(x, w1, b1, slots["ffn"], i))
            return DeferredLinear.apply(inner, w2, b2, slots["ffn_output"], i)
        return F.linear(layer.activation(F.linear(x.to(dtype), w1, b1)), w2, b2)

    def residual_norm(residual, update, name, eps, i):
        weight, bias = norms[name]
        if defer_norms:
            return DeferredResidualNorm.apply(residual, update, weight, bias, eps, norm_slots[name], i)
        return F.layer_norm((residual + update).to(stream), (size,), weight, bias, eps)

    mask = attention_mask
    if mask is not None and mask.dtype == torch.bool:  # additive once, instead of inside every layer
        mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, torch.finfo(dtype).min)
    elif mask is not None:
        mask = mask.to(dtype)

    with torch.autocast(device_type, enabled=False), _attention_backend(self._fused_attention):
        for i in range(uses):
            query, key, value = qkv_heads(hidden, i)  # each (B, heads, L, head_size)
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=attention.scaling)
            attended = residual_norm(hidden, dense(context.transpose(1, 2), i), "attention", norm1.eps, i)
            hidden = residual_norm(attended, feed_forward(attended, i), "output", norm2.eps, i)
    return BaseModelOutput(last_hidden_state=hidden)


def _gelu_approximation(activation) -> str | None:
    """'tanh' or 'none' for PyTorch's GELU (what fuse_activations makes of ALBERT's gelu_new), else None."""
    return activation.approximate if isinstance(activation, torch.nn.GELU) else None


def _attention_backend(name: str):
    if name == "pytorch":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    first = {
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "math": SDPBackend.MATH,
    }[name]
    order = [first] + [
        b
        for b in (
            SDPBackend.EFFICIENT_ATTENTION,
            SDPBackend.CUDNN_ATTENTION,
            SDPBackend.FLASH_ATTENTION,
            SDPBackend.MATH,
        )
        if b != first
    ]
    return sdpa_kernel(order, set_priority=True)
