"""A faster training forward for ALBERT's encoder, on the model's own parameters.

ALBERT runs one shared transformer layer 12 times. Run as written, every use computes its own weight
gradients with small GEMMs and autograd then adds the 12 partial gradients together: about 180 tiny
kernels per step that do almost no work, on top of three separate Q/K/V projections. On a GPU at
batch 64 x ~24 tokens the step is bound by the number of kernels, not by arithmetic.

This forward computes the same function with fewer, larger kernels:

* Q, K and V come from one GEMM against the three weights concatenated once per forward (not once
  per layer);
* the padding mask is turned into an additive mask once, not in each of the 12 attention calls;
* the four shared linear layers save their inputs and output gradients and compute their weight and
  bias gradients once, at the end of backward, as one GEMM over all 12 uses (K = 12 x tokens), which
  replaces 12 GEMMs + 11 additions per weight and per bias.

Precision follows autocast exactly by default (bf16 GEMMs and attention, LayerNorm and the residual
stream in float32 after the first LayerNorm), so results match the stock forward up to rounding; a test
checks logits and every gradient against it in float32. `residual="compute"` keeps the residual stream
in the compute dtype instead (bf16 under autocast; LayerNorm still normalises in float32 inside the
kernel and keeps float32 weights): four fewer casts per layer and half the memory traffic of the
element-wise work, at the price of rounding the residual stream to bf16 as pure-bf16 training does.
`attention` picks the scaled-dot-product backend (None: PyTorch's choice). The parameters, their names and the saved checkpoints
are untouched: `install` only swaps the encoder's `forward` on this model instance. Anything the fast
path does not cover (dropout inside the encoder while training, several layer groups, chunked
feed-forward, ONNX export or tracing) runs the stock forward.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F


class _Slot:
    """What one shared linear layer keeps during a step: each use's input, and (in reverse order, as
    backward produces them) each use's output gradient."""

    __slots__ = ("inputs", "grads")

    def __init__(self):
        self.inputs: list[torch.Tensor] = []
        self.grads: list[torch.Tensor] = []

    def clear(self) -> None:
        self.inputs.clear()
        self.grads.clear()


class _DeferredLinear(torch.autograd.Function):
    """y = x W^T + b whose backward returns only dx; dW and db are left to `_SharedGrads`."""

    @staticmethod
    def forward(ctx, x, weight, bias, slot):
        ctx.weight, ctx.slot = weight, slot
        slot.inputs.append(x)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        ctx.slot.grads.append(grad_out)
        return grad_out @ ctx.weight, None, None, None


class _SharedGrads(torch.autograd.Function):
    """Identity on the encoder's input hidden states. Its backward runs after every layer's backward
    (all of them lie between it and the loss), so by then each slot holds all 12 uses, and it returns
    the summed weight and bias gradients as one GEMM and one reduction per shared linear layer."""

    @staticmethod
    def forward(ctx, hidden, slots, *weights_and_biases):
        ctx.slots = slots
        return hidden.view_as(hidden)

    @staticmethod
    def backward(ctx, grad_hidden):
        grads = []
        for slot in ctx.slots:
            dy = torch.cat(slot.grads[::-1]).flatten(0, -2)  # (uses * tokens, out)
            x = torch.cat(slot.inputs).flatten(0, -2)  # (uses * tokens, in)
            grads += [dy.t() @ x, dy.sum(0)]
            slot.clear()
        return (grad_hidden, None, *grads)


def supported(encoder) -> bool:
    if type(encoder).__name__ != "AlbertTransformer":
        return False
    config = encoder.config
    return (config.num_hidden_groups == 1
            and config.inner_group_num == 1 and not config.chunk_size_feed_forward)


RESIDUAL_CHOICES = ("float32", "compute")
ATTENTION_CHOICES = (None, "efficient", "cudnn", "math")  # flash takes no padding mask


def install(model: torch.nn.Module, residual: str = "float32", attention: str | None = None) -> int:
    """Give every ALBERT encoder in `model` the fused forward. Returns how many were changed."""
    if residual not in RESIDUAL_CHOICES or attention not in ATTENTION_CHOICES:
        raise ValueError(f"residual must be one of {RESIDUAL_CHOICES}, attention one of {ATTENTION_CHOICES}")
    count = 0
    for module in model.modules():
        if supported(module) and not hasattr(module, "_stock_forward"):
            module._fused_residual, module._fused_attention = residual, attention
            module._stock_forward = module.forward
            module.forward = types.MethodType(_fused_forward, module)
            module._slots = {name: _Slot() for name in ("qkv", "dense", "ffn", "ffn_output")}
            count += 1
    return count


def _needs_stock_path(encoder, layer, kwargs) -> bool:
    attention = layer.attention
    dropout = (attention.attention_dropout.p, attention.output_dropout.p, layer.dropout.p)
    return ((encoder.training and any(dropout)) or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
            or kwargs.get("output_attentions") or kwargs.get("output_hidden_states"))


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
        "qkv": (torch.cat([attention.query.weight, attention.key.weight, attention.value.weight]),
                torch.cat([attention.query.bias, attention.key.bias, attention.value.bias])),
        "dense": (attention.dense.weight, attention.dense.bias),
        "ffn": (layer.ffn.weight, layer.ffn.bias),
        "ffn_output": (layer.ffn_output.weight, layer.ffn_output.bias),
    }
    linears = {name: (w.to(dtype), b.to(dtype)) for name, (w, b) in linears.items()}  # cast once, used 12 times
    for slot in self._slots.values():
        slot.clear()  # a forward whose backward never ran must not leave its tensors behind
    deferred = torch.is_grad_enabled() and any(t.requires_grad for pair in linears.values() for t in pair)
    if deferred:
        names = list(linears)
        hidden = _SharedGrads.apply(hidden, [self._slots[n] for n in names],
                                    *[t for n in names for t in linears[n]])

    def linear(x, name):
        weight, bias = linears[name]
        if deferred:
            return _DeferredLinear.apply(x, weight.detach(), bias.detach(), self._slots[name])
        return F.linear(x, weight, bias)

    batch, width, size = hidden.shape
    heads, head_size = attention.num_attention_heads, attention.attention_head_size
    mask = attention_mask
    if mask is not None and mask.dtype == torch.bool:  # additive once, instead of inside every layer
        mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, torch.finfo(dtype).min)
    elif mask is not None:
        mask = mask.to(dtype)
    norm1, norm2 = attention.LayerNorm, layer.full_layer_layer_norm
    # float32: what autocast does (LayerNorm runs and returns float32); compute: stay in bf16
    stream = torch.float32 if self._fused_residual == "float32" else dtype

    with torch.autocast(device_type, enabled=False), _attention_backend(self._fused_attention):
        for _ in range(self.config.num_hidden_layers):
            qkv = linear(hidden.to(dtype), "qkv").view(batch, width, 3, heads, head_size)
            query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, L, head_size)
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=attention.scaling)
            context = context.transpose(1, 2).reshape(batch, width, size)
            attended = F.layer_norm((hidden + linear(context, "dense")).to(stream), (size,), norm1.weight, norm1.bias, norm1.eps)
            inner = layer.activation(linear(attended.to(dtype), "ffn"))
            hidden = F.layer_norm((linear(inner, "ffn_output") + attended).to(stream), (size,), norm2.weight, norm2.bias,
                                  norm2.eps)
    return BaseModelOutput(last_hidden_state=hidden)


def _attention_backend(name: str | None):
    import contextlib

    if name is None:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {"efficient": SDPBackend.EFFICIENT_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
               "math": SDPBackend.MATH}[name]
    return sdpa_kernel([backend])
