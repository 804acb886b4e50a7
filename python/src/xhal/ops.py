"""The op catalogue (conformance/OPS.md) with outputs allocated for you.

Each function calls the C function of the same name in include/xhal/xhal.h. When ``out`` is
None a new tensor of the result's shape and dtype is made on the device of the first input;
when given, it is written and returned. ``stream=None`` queues the op on the default stream of
``out``'s device (:attr:`Device.default_stream`), which :meth:`Tensor.read`, :meth:`Tensor.numpy`
and DLPack exports also use, so results are ready when read. Validation is xhal's: a wrong
shape, dtype or device raises the :class:`xhal.Error` subclass with the core's message. When
this module cannot work out an output shape (e.g. shapes that do not broadcast) it passes an
output of the first input's shape, so that the error you get is the core's own.
"""
from __future__ import annotations

import builtins
from typing import Any, Optional, Sequence, Union

from . import _xhal
from ._xhal import Stream, Tensor

__all__ = [
    "unary", "neg", "abs", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "silu", "gelu",
    "gelu_tanh", "square", "softplus", "binary", "add", "sub", "mul", "div", "maximum", "minimum", "scale", "reduce", "sum",
    "mean", "max", "argmax", "softmax", "rms_norm", "layer_norm", "matmul", "gather", "topk", "rope", "attention",
    "concat", "copy", "fill", "contiguous", "cast",
]


def _broadcast(*shapes: Sequence[int]) -> Optional[tuple]:
    """numpy's broadcast of shapes, or None when they do not broadcast."""
    nd = builtins.max(len(s) for s in shapes)
    out = []
    for i in range(nd):
        dim = 1
        for s in shapes:
            k = i - (nd - len(s))
            if k < 0:
                continue
            d = s[k]
            if d == 1:
                continue
            if dim not in (1, d):
                return None
            dim = d
        out.append(dim)
    return tuple(out)


def _new_like(x: Tensor, shape: Sequence[int], dtype: Optional[str] = None) -> Tensor:
    return Tensor(x.device, tuple(shape), dtype or x.dtype)


# ------------------------------------------------------------------ unary

def unary(op: Union[str, int], x: Tensor, out: Optional[Tensor] = None, *,
          stream: Optional[Stream] = None) -> Tensor:
    """``out = op(x)`` elementwise; op in neg, abs, exp, log, sqrt, rsqrt, tanh, sigmoid, relu,
    silu, gelu (erf form), gelu_tanh, square, softplus (the UNARY rows of the op table, as
    ``_xhal.unary.__doc__`` lists them). x and out of one dtype and shape."""
    if out is None:
        out = _new_like(x, x.shape)
    _xhal.unary(op, x, out, stream=stream)
    return out


def _make_unary(name: str, what: str):
    def f(x: Tensor, out: Optional[Tensor] = None, *, stream: Optional[Stream] = None) -> Tensor:
        return unary(name, x, out, stream=stream)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``out = {what}`` elementwise (xhal_unary with XHAL_OP_{name.upper()})."
    return f


neg = _make_unary("neg", "-x")
abs = _make_unary("abs", "|x|")
exp = _make_unary("exp", "exp(x)")
log = _make_unary("log", "log(x)")
sqrt = _make_unary("sqrt", "sqrt(x)")
rsqrt = _make_unary("rsqrt", "1/sqrt(x)")
tanh = _make_unary("tanh", "tanh(x)")
sigmoid = _make_unary("sigmoid", "1/(1+exp(-x))")
relu = _make_unary("relu", "max(x, 0)")
silu = _make_unary("silu", "x*sigmoid(x)")
gelu = _make_unary("gelu", "x*Phi(x) (erf form)")
gelu_tanh = _make_unary("gelu_tanh", "gelu, tanh approximation")
square = _make_unary("square", "x*x")
softplus = _make_unary("softplus", "ln(1 + exp(x))")


# ------------------------------------------------------------------ binary

def _binary_out(a: Tensor, b: Tensor, out: Optional[Tensor]) -> Tensor:
    if out is not None:
        return out
    shape = _broadcast(a.shape, b.shape)
    return _new_like(a, shape if shape is not None else a.shape)


def binary(op: Union[str, int], a: Tensor, b: Tensor, out: Optional[Tensor] = None, *,
           stream: Optional[Stream] = None) -> Tensor:
    """``out = a op b`` with numpy broadcasting; op in add, sub, mul, div, maximum, minimum.
    f32/f16/bf16/f64, and i32/i64 for add, sub, mul, maximum, minimum."""
    out = _binary_out(a, b, out)
    _xhal.binary(op, a, b, out, stream=stream)
    return out


def add(a: Tensor, b: Tensor, out: Optional[Tensor] = None, *, stream: Optional[Stream] = None) -> Tensor:
    """``out = a + b`` with numpy broadcasting (xhal_add)."""
    out = _binary_out(a, b, out)
    _xhal.add(a, b, out, stream=stream)
    return out


def mul(a: Tensor, b: Tensor, out: Optional[Tensor] = None, *, stream: Optional[Stream] = None) -> Tensor:
    """``out = a * b`` with numpy broadcasting (xhal_mul)."""
    out = _binary_out(a, b, out)
    _xhal.mul(a, b, out, stream=stream)
    return out


def _make_binary(name: str, what: str):
    def f(a: Tensor, b: Tensor, out: Optional[Tensor] = None, *, stream: Optional[Stream] = None) -> Tensor:
        return binary(name, a, b, out, stream=stream)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``out = {what}`` with numpy broadcasting (xhal_binary with XHAL_OP_{name.upper()})."
    return f


sub = _make_binary("sub", "a - b")
div = _make_binary("div", "a / b")
maximum = _make_binary("maximum", "maximum(a, b)")
minimum = _make_binary("minimum", "minimum(a, b)")


def scale(x: Tensor, alpha: float = 1.0, beta: float = 0.0, out: Optional[Tensor] = None, *,
          stream: Optional[Stream] = None) -> Tensor:
    """``out = alpha * x + beta`` (xhal_scale)."""
    if out is None:
        out = _new_like(x, x.shape)
    _xhal.scale(x, float(alpha), float(beta), out, stream=stream)
    return out


# ------------------------------------------------------------------ reductions

def reduce(op: Union[str, int], x: Tensor, axis: int = -1, keepdims: bool = False,
           out: Optional[Tensor] = None, *, dtype: Any = None, stream: Optional[Stream] = None) -> Tensor:
    """Reduce x over ``axis``: op in sum, mean, max (out in x's dtype) or argmax (out i64 by
    default, or ``dtype="i32"``; the first index of the maximum, NaN counts as the maximum)."""
    if out is None:
        shape = list(x.shape)
        nd = len(shape)
        a = axis + nd if axis < 0 else axis
        if 0 <= a < nd:
            if keepdims:
                shape[a] = 1
            else:
                del shape[a]
        is_argmax = op == "argmax" or op == _xhal.op_from_name("argmax")
        out_dtype = _xhal.dtype_name(dtype) if dtype is not None else ("i64" if is_argmax else x.dtype)
        out = _new_like(x, shape, out_dtype)
    _xhal.reduce(op, x, int(axis), bool(keepdims), out, stream=stream)
    return out


def sum(x: Tensor, axis: int = -1, keepdims: bool = False, out: Optional[Tensor] = None, *,
        stream: Optional[Stream] = None) -> Tensor:
    """Sum over ``axis`` (xhal_reduce with XHAL_OP_SUM)."""
    return reduce("sum", x, axis, keepdims, out, stream=stream)


def mean(x: Tensor, axis: int = -1, keepdims: bool = False, out: Optional[Tensor] = None, *,
         stream: Optional[Stream] = None) -> Tensor:
    """Mean over ``axis`` (xhal_reduce with XHAL_OP_MEAN)."""
    return reduce("mean", x, axis, keepdims, out, stream=stream)


def max(x: Tensor, axis: int = -1, keepdims: bool = False, out: Optional[Tensor] = None, *,
        stream: Optional[Stream] = None) -> Tensor:
    """Maximum over ``axis`` (xhal_reduce with XHAL_OP_MAX); the axis must not be empty."""
    return reduce("max", x, axis, keepdims, out, stream=stream)


def argmax(x: Tensor, axis: int = -1, keepdims: bool = False, out: Optional[Tensor] = None, *,
           dtype: Any = "i64", stream: Optional[Stream] = None) -> Tensor:
    """Index of the first maximum over ``axis`` as i64 (or ``dtype="i32"``)."""
    return reduce("argmax", x, axis, keepdims, out, dtype=dtype, stream=stream)


# ------------------------------------------------------------------ normalization

def softmax(x: Tensor, scale: float = 1.0, causal: bool = False, out: Optional[Tensor] = None, *,
            stream: Optional[Stream] = None) -> Tensor:
    """Softmax over the last axis of ``scale * x``. With ``causal``, x is ``[..., Sq, Sk]`` and row
    i sees columns ``j <= i + (Sk - Sq)``; masked entries become 0."""
    if out is None:
        out = _new_like(x, x.shape)
    _xhal.softmax(x, float(scale), bool(causal), out, stream=stream)
    return out


def rms_norm(x: Tensor, weight: Optional[Tensor] = None, eps: float = 1e-6, out: Optional[Tensor] = None, *,
             stream: Optional[Stream] = None) -> Tensor:
    """``x / sqrt(mean(x^2 over the last axis) + eps) * weight``; weight ``[D]`` or None."""
    if out is None:
        out = _new_like(x, x.shape)
    _xhal.rms_norm(x, weight, float(eps), out, stream=stream)
    return out


def layer_norm(x: Tensor, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None, eps: float = 1e-5,
               out: Optional[Tensor] = None, *, stream: Optional[Stream] = None) -> Tensor:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the last axis (population variance)."""
    if out is None:
        out = _new_like(x, x.shape)
    _xhal.layer_norm(x, weight, bias, float(eps), out, stream=stream)
    return out


# ------------------------------------------------------------------ linear algebra, indexing

def matmul(a: Tensor, b: Tensor, trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0,
           beta: float = 0.0, out: Optional[Tensor] = None, *, stream: Optional[Stream] = None) -> Tensor:
    """``out = alpha * op(a) @ op(b) + beta * out``; op transposes the last two axes when asked.
    a ``[..., M, K]``, b ``[..., K, N]`` (after the transposes), batch dims broadcast; with
    ``beta == 0`` out is not read."""
    if out is None:
        sa, sb = a.shape, b.shape
        shape = sa
        if len(sa) >= 2 and len(sb) >= 2:
            m = sa[-1] if trans_a else sa[-2]
            n = sb[-2] if trans_b else sb[-1]
            batch = _broadcast(sa[:-2], sb[:-2])
            if batch is not None:
                shape = batch + (m, n)
        out = _new_like(a, shape)
    _xhal.matmul(a, b, bool(trans_a), bool(trans_b), float(alpha), float(beta), out, stream=stream)
    return out


def gather(table: Tensor, indices: Tensor, out: Optional[Tensor] = None, *,
           stream: Optional[Stream] = None) -> Tensor:
    """``out[i..., :] = table[indices[i...], :]``; indices i32/i64. The device checks the indices
    as the op runs: an index outside ``[0, V)`` gives zeros in its rows and raises
    :class:`xhal.OutOfRangeError` naming it at the next wait on the stream (a read such as
    ``.numpy()``, or a synchronize), not in this call."""
    if out is None:
        out = _new_like(table, tuple(indices.shape) + tuple(table.shape[1:]))
    _xhal.gather(table, indices, out, stream=stream)
    return out


def topk(x: Tensor, k: int, axis: int = -1, largest: bool = True, values: Optional[Tensor] = None,
         indices: Optional[Tensor] = None, *, index_dtype: str = "i64",
         stream: Optional[Stream] = None) -> tuple:
    """``(values, indices)``: the k largest (``largest=True``) or smallest elements of x along
    ``axis``, sorted (ONNX TopK with sorted=1; xhal_topk). Both have x's shape with k at
    ``axis``; values x's dtype (float), indices ``index_dtype`` (i32 or i64) unless given. Equal
    values keep ascending index order; NaN ranks above every number (first when largest, last
    otherwise)."""
    nd = len(x.shape)
    ax = axis + nd if axis < 0 else axis
    shape = list(x.shape)
    if 0 <= ax < nd and k >= 1:
        shape[ax] = k
    if values is None:
        values = _new_like(x, shape)
    if indices is None:
        indices = _new_like(x, shape, index_dtype)
    _xhal.topk(x, k, axis, largest, values, indices, stream=stream)
    return values, indices


_LAYOUTS = {"half": _xhal.ROPE_HALF, "interleaved": _xhal.ROPE_INTERLEAVED}


def rope(x: Tensor, seq_axis: Optional[int] = None, theta: float = 10000.0, pos_offset: int = 0,
         rotary_dims: int = 0, layout: Union[str, int] = "half", out: Optional[Tensor] = None, *,
         stream: Optional[Stream] = None) -> Tensor:
    """Rotary position embedding of x ``[..., S, H, D]``. ``seq_axis`` names the S axis (default:
    the third from last); token s has position ``pos_offset + s``; ``rotary_dims`` 0 means D;
    ``layout`` "half" (Hugging Face) or "interleaved" (GPT-J, llama.c). out may be x."""
    if seq_axis is None:
        seq_axis = x.ndim - 3
    lay = _LAYOUTS.get(layout, layout) if isinstance(layout, str) else layout
    if isinstance(lay, str):
        raise _xhal.InvalidArgumentError(f"rope: layout '{layout}' is not 'half' or 'interleaved'")
    if out is None:
        out = _new_like(x, x.shape)
    _xhal.rope(x, int(seq_axis), float(theta), int(pos_offset), int(rotary_dims), int(lay), out, stream=stream)
    return out


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor] = None, scale: float = 0.0,
              causal: bool = False, out: Optional[Tensor] = None, *, stream: Optional[Stream] = None) -> Tensor:
    """Scaled dot-product attention with grouped-query heads: q ``[B, Hq, Sq, D]``, k
    ``[B, Hkv, Sk, D]``, v ``[B, Hkv, Sk, Dv]`` -> ``[B, Hq, Sq, Dv]``. mask is additive and
    broadcasts to ``[B, Hq, Sq, Sk]``; ``scale`` 0 means ``1/sqrt(D)``."""
    if out is None:
        shape = tuple(q.shape[:-1]) + (v.shape[-1],) if q.ndim >= 1 and v.ndim >= 1 else q.shape
        out = _new_like(q, shape)
    _xhal.attention(q, k, v, mask, float(scale), bool(causal), out, stream=stream)
    return out


def concat(inputs: Sequence[Tensor], axis: int = 0, out: Optional[Tensor] = None, *,
           stream: Optional[Stream] = None) -> Tensor:
    """Concatenate tensors along ``axis`` (equal shapes elsewhere, one dtype)."""
    inputs = list(inputs)
    if out is None:
        if not inputs:
            raise _xhal.InvalidArgumentError("concat: no inputs")
        shape = list(inputs[0].shape)
        nd = len(shape)
        a = axis + nd if axis < 0 else axis
        if 0 <= a < nd:
            shape[a] = builtins.sum(t.shape[a] if t.ndim == nd else 0 for t in inputs)
        out = _new_like(inputs[0], shape)
    _xhal.concat(inputs, int(axis), out, stream=stream)
    return out


# ------------------------------------------------------------------ data movement

def copy(src: Tensor, dst: Tensor, *, stream: Optional[Stream] = None) -> Tensor:
    """``dst = src`` elementwise with a cast when dtypes differ (floats to f16/bf16 round to
    nearest even; to integers truncate and saturate); any strides; across devices too.
    Returns dst."""
    _xhal.copy(src, dst, stream=stream)
    return dst


def fill(t: Tensor, value: float, *, stream: Optional[Stream] = None) -> Tensor:
    """Set every element of t to ``value``; returns t."""
    _xhal.fill(t, float(value), stream=stream)
    return t


def contiguous(t: Tensor, dtype: Any = None, *, stream: Optional[Stream] = None) -> Tensor:
    """A new row-major tensor on t's device with t's elements (cast to ``dtype`` if given)."""
    return _xhal.contiguous(t, dtype, stream=stream)


def cast(t: Tensor, dtype: Any, *, stream: Optional[Stream] = None) -> Tensor:
    """``contiguous(t, dtype)``."""
    return _xhal.contiguous(t, dtype, stream=stream)
