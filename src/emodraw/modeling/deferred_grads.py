"""The autograd pieces of the fused ALBERT forward (emodraw.modeling.fused_albert): buffers that keep each
use of a shared layer, and functions whose backward leaves the shared weights' gradients to one final
GEMM (or LayerNorm backward) over all uses.

Each `Deferred*` function is one use `i` of a shared layer. Its forward writes its input into the
slot's buffer (the copy doubles as the cast and reshape the stock forward does anyway); its backward
returns only the input gradient and writes the output gradient into the slot. `SharedGrads`, an
identity on the encoder's input, runs its backward after all of them and returns every shared weight's
gradient at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class LinearSlot:
    """What one shared linear layer keeps during a step: every use's input, written straight into one
    (uses, batch, width, in) buffer by the op that makes it, and every use's output gradient, likewise
    into a (uses, batch, width, out) buffer -- so the weight gradient over all uses is one GEMM on
    the buffers as they stand, with no concatenation."""

    __slots__ = ("inputs", "grads")

    def __init__(self):
        self.inputs: torch.Tensor | None = None
        self.grads: torch.Tensor | None = None

    def allocate(self, uses: int, batch: int, width: int, size_in: int, size_out: int, like: torch.Tensor) -> None:
        self.inputs = like.new_empty((uses, batch, width, size_in))
        self.grads = like.new_empty((uses, batch, width, size_out))

    def clear(self) -> None:
        self.inputs = self.grads = None


class NormSlot:
    """What one shared LayerNorm keeps during a step when its weight gradients are deferred: every use's
    input (the residual sum, written straight into one (uses, batch, width, size) buffer by the addition
    that makes it), mean and reciprocal standard deviation, and output gradient."""

    __slots__ = ("inputs", "means", "rstds", "grads")

    def __init__(self):
        self.clear()

    def allocate(self, uses: int, batch: int, width: int, size: int, dtype: torch.dtype, like: torch.Tensor) -> None:
        self.inputs = like.new_empty((uses, batch, width, size), dtype=dtype)
        self.means, self.rstds, self.grads = [None] * uses, [None] * uses, [None] * uses

    def clear(self) -> None:
        self.inputs = None
        self.means = self.rstds = self.grads = None


class DeferredResidualNorm(torch.autograd.Function):
    """LayerNorm(residual + update) for use `i` of a shared LayerNorm. The sum is written into the slot's
    buffer (in the buffer's dtype, as the stock forward's `.to(stream)` would leave it); backward returns
    only the input gradient and leaves the scale and shift gradients to `SharedGrads`."""

    @staticmethod
    def forward(ctx, residual, update, weight, bias, eps, slot, i):
        x = slot.inputs[i]
        torch.add(residual, update, out=x)
        out, mean, rstd = torch.native_layer_norm(x, (x.shape[-1],), weight, bias, eps)
        slot.means[i], slot.rstds[i] = mean, rstd
        ctx.slot, ctx.i, ctx.weight, ctx.bias = slot, i, weight, bias
        ctx.dtypes = (residual.dtype, update.dtype)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        slot, i = ctx.slot, ctx.i
        slot.grads[i] = grad_out
        x = slot.inputs[i]
        grad_x = torch.ops.aten.native_layer_norm_backward(
            grad_out, x, (x.shape[-1],), slot.means[i], slot.rstds[i], ctx.weight, ctx.bias, [True, False, False]
        )[0]
        residual_dtype, update_dtype = ctx.dtypes
        return grad_x.to(residual_dtype), grad_x.to(update_dtype), None, None, None, None, None


class DeferredLinear(torch.autograd.Function):
    """y = x W^T + b for use `i` of a shared layer. x may come in any dtype and (B, L, ...) layout: copying
    it into the slot's input buffer is also the cast to the compute dtype and the reshape to (B, L, in),
    which the stock forward does as separate kernels. Backward returns only dx; dW and db are left to
    `SharedGrads`."""

    @staticmethod
    def forward(ctx, x, weight, bias, slot, i):
        ctx.weight, ctx.slot, ctx.i, ctx.x_meta = weight, slot, i, (x.shape, x.dtype)
        buffer = slot.inputs[i]
        buffer.view(x.shape).copy_(x)
        return F.linear(buffer, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        ctx.slot.grads[ctx.i].copy_(grad_out)
        shape, dtype = ctx.x_meta
        return (grad_out @ ctx.weight).view(shape).to(dtype), None, None, None, None


class DeferredQKV(torch.autograd.Function):
    """Use `i` of the Q/K/V projection, returning query, key and value as (B, heads, L, head_size) views.
    Backward writes the three gradients straight into the slot's gradient buffer (what autograd would do
    with a stack and a copy, then the buffer with another)."""

    @staticmethod
    def forward(ctx, x, weight, bias, slot, i, heads):
        ctx.weight, ctx.slot, ctx.i, ctx.x_dtype, ctx.heads = weight, slot, i, x.dtype, heads
        buffer = slot.inputs[i]
        buffer.copy_(x)
        return split_heads(F.linear(buffer, weight, bias), heads)

    @staticmethod
    def backward(ctx, *grads):
        grad = ctx.slot.grads[ctx.i]  # (B, L, 3 * size)
        batch, width, _ = grad.shape
        parts = grad.view(batch, width, 3, ctx.heads, -1)
        for j, g in enumerate(grads):
            if g is None:
                parts[:, :, j].zero_()
            else:
                parts[:, :, j].copy_(g.transpose(1, 2))
        return (grad @ ctx.weight).to(ctx.x_dtype), None, None, None, None, None


class DeferredFeedForward(torch.autograd.Function):
    """Use `i` of the feed-forward block, y = GELU(x W1^T + b1) W2^T + b2. GELU writes straight into the
    second layer's input buffer and its backward straight into the first layer's gradient buffer."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, first, second, i, approximate):
        ctx.w1, ctx.w2, ctx.first, ctx.second, ctx.i, ctx.x_dtype = w1, w2, first, second, i, x.dtype
        ctx.approximate = approximate
        buffer = first.inputs[i]
        buffer.copy_(x)
        h = F.linear(buffer, w1, b1)
        ctx.save_for_backward(h)
        activated = second.inputs[i]
        torch.ops.aten.gelu.out(h, approximate=approximate, out=activated)
        return F.linear(activated, w2, b2)

    @staticmethod
    def backward(ctx, grad_out):
        (h,) = ctx.saved_tensors
        ctx.second.grads[ctx.i].copy_(grad_out)
        grad_h = ctx.first.grads[ctx.i]
        torch.ops.aten.gelu_backward.grad_input(grad_out @ ctx.w2, h, approximate=ctx.approximate, grad_input=grad_h)
        return ((grad_h @ ctx.w1).to(ctx.x_dtype),) + (None,) * 8


class SharedGrads(torch.autograd.Function):
    """Identity on the encoder's input hidden states. Its backward runs after every layer's backward
    (all of them lie between it and the loss), so by then each slot holds all 12 uses, and it returns
    the summed weight and bias gradients as one GEMM and one reduction per shared linear layer (or one
    GEMM and one matrix-vector product, `bias_grads="gemv"`), and, for deferred LayerNorms, one
    LayerNorm backward per norm over all uses."""

    @staticmethod
    def forward(ctx, hidden, slots, norm_slots, bias_grads, *weights_and_biases):
        ctx.slots, ctx.norm_slots, ctx.bias_grads = slots, norm_slots, bias_grads
        ctx.norm_weights = weights_and_biases[2 * len(slots) :]
        return hidden.view_as(hidden)

    @staticmethod
    def backward(ctx, grad_hidden):
        grads = []
        for slot in ctx.slots:
            dy = slot.grads.flatten(0, -2)  # (uses * tokens, out)
            x = slot.inputs.flatten(0, -2)  # (uses * tokens, in)
            if ctx.bias_grads == "gemv":  # reads dy at GEMM speed instead of a column reduction's
                db = dy.t() @ dy.new_ones(dy.shape[0])
            else:
                db = dy.sum(0)
            grads += [dy.t() @ x, db]
            slot.clear()
        for k, slot in enumerate(ctx.norm_slots):
            weight, bias = ctx.norm_weights[2 * k], ctx.norm_weights[2 * k + 1]
            x = slot.inputs
            _, dweight, dbias = torch.ops.aten.native_layer_norm_backward(
                torch.stack(slot.grads),
                x,
                (x.shape[-1],),
                torch.stack(slot.means),
                torch.stack(slot.rstds),
                weight,
                bias,
                [False, True, True],
            )
            grads += [dweight, dbias]
            slot.clear()
        return (grad_hidden, None, None, None, *grads)


def split_heads(qkv: torch.Tensor, heads: int) -> tuple[torch.Tensor, ...]:
    """(B, L, 3 * size) -> query, key, value, each a (B, heads, L, head_size) view."""
    batch, width, _ = qkv.shape
    return qkv.view(batch, width, 3, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
