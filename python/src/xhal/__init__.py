"""xhal for Python: one tensor and kernel API over many accelerators.

The native part (``xhal._xhal``, a CPython extension over libxhal's public C API) gives
contexts, devices, buffers, tensors, streams, events, the op catalogue and custom kernels;
this package adds a default context, numpy helpers, ops that allocate their output, DLPack
import, the conformance suite (:func:`conform`), test vectors (:mod:`xhal.vectors`) and the
Llama-family port (:mod:`xhal.llama`, ``python -m xhal.run``).

Quick start::

    import numpy as np, xhal
    cpu = xhal.device("cpu:0")
    a = xhal.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3), cpu)
    b = xhal.add(a, a)                  # runs on cpu:0
    np.from_dlpack(b)                   # DLPack back to numpy

Every failing xhal call raises :class:`xhal.Error` (or a subclass per status, e.g.
:class:`xhal.ShapeMismatchError`) whose ``str()`` is xhal's own message and whose
``status`` / ``status_name`` give the ``xhal_status``.
"""
from __future__ import annotations

import threading
from typing import Any, Optional, Sequence, Union

from . import _xhal
from ._xhal import (  # noqa: F401  (re-exported)
    AbiMismatchError,
    BackendError,
    Buffer,
    Context,
    CorruptDataError,
    Device,
    DtypeMismatchError,
    Error,
    Event,
    FileIOError,
    InternalError,
    InvalidArgumentError,
    InvalidHandleError,
    LlamaModel,
    NotFoundError,
    OutOfMemoryError,
    OutOfRangeError,
    Program,
    ShapeMismatchError,
    SizeOverflowError,
    Stream,
    Tensor,
    UnavailableError,
    UnsupportedError,
    WrongDeviceError,
    dtype_info,
    dtype_name,
    dtype_size,
    link_name,
    op_catalogue,
    op_from_name,
    op_name,
    status_name,
)
from ._xhal import version as _c_version
from .ops import (  # noqa: F401
    abs,
    add,
    argmax,
    attention,
    binary,
    cast,
    concat,
    contiguous,
    copy,
    div,
    exp,
    fill,
    gather,
    gelu,
    gelu_tanh,
    layer_norm,
    log,
    matmul,
    max,
    maximum,
    mean,
    minimum,
    mul,
    neg,
    reduce,
    relu,
    rms_norm,
    rope,
    rsqrt,
    scale,
    sigmoid,
    silu,
    softmax,
    softplus,
    sqrt,
    square,
    sub,
    sum,
    tanh,
    topk,
    unary,
)
from ._conform import ConformResult, conform, tool_path  # noqa: F401

__version__ = "0.1.0"

DTYPES = ("f32", "f16", "bf16", "f64", "i8", "u8", "i32", "i64", "q8_0", "q4_0", "q4_k", "q6_k")
"""The element types xhal knows, by name (the last four block-quantized: :func:`dtype_info`)."""

DeviceLike = Union[Device, str, None]

_lock = threading.Lock()
_default: Optional[Context] = None


def version() -> str:
    """libxhal's version, ``"MAJOR.MINOR.PATCH"``."""
    return _c_version()


def default_context() -> Context:
    """The context that :func:`device` and the helpers use when given a spec string.

    Created on first use with the default plugin search (``XHAL_PLUGIN_PATH``, then the
    plugins installed with this package) and kept for the life of the process.
    """
    global _default
    with _lock:
        if _default is None:
            _default = Context()
        return _default


def device(spec: Union[str, int] = "cpu:0") -> Device:
    """A device of the default context: ``"cpu:0"``, ``"opencl:0"``, ``"cuda:1"`` or an index.

    Raises :class:`NotFoundError` (the message lists the devices present) or
    :class:`UnavailableError` (the backend's reason) when there is no such device.
    """
    return default_context().device(spec)


def devices() -> list:
    """Every device of the default context."""
    return default_context().devices()


def as_device(dev: DeviceLike) -> Device:
    """``dev`` itself when it is a :class:`Device`, else ``device(dev or "cpu:0")``."""
    if isinstance(dev, Device):
        return dev
    if dev is None:
        return device("cpu:0")
    if isinstance(dev, (str, int)):
        return device(dev)
    raise TypeError(f"expected an xhal.Device or a device spec such as 'cpu:0', got {dev!r}")


# ------------------------------------------------------------------ creation helpers

def empty(shape: Union[int, Sequence[int]], dtype: Any = "f32", device: DeviceLike = None) -> Tensor:
    """A new row-major tensor (contents undefined)."""
    return Tensor(as_device(device), shape, dtype)


def full(shape: Union[int, Sequence[int]], value: float, dtype: Any = "f32", device: DeviceLike = None,
         *, stream: Optional[Stream] = None) -> Tensor:
    """A new tensor with every element ``value`` (converted as by xhal_copy)."""
    t = Tensor(as_device(device), shape, dtype)
    _xhal.fill(t, float(value), stream=stream)
    return t


def zeros(shape: Union[int, Sequence[int]], dtype: Any = "f32", device: DeviceLike = None,
          *, stream: Optional[Stream] = None) -> Tensor:
    """A new tensor of zeros."""
    return full(shape, 0.0, dtype, device, stream=stream)


def from_dlpack(obj: Any, device: DeviceLike = None, *, stream: Optional[Stream] = None,
                copy: Optional[bool] = None) -> Tensor:
    """Import any object with ``__dlpack__`` (numpy, torch, another xhal tensor) onto ``device``.

    The producer's memory must be host memory (DLPack kDLCPU). It is used without a copy when
    ``device`` keeps its memory in the host and its backend can wrap foreign memory (the
    returned tensor's ``is_foreign`` is then True and it shares memory with ``obj``); otherwise
    the elements are copied into a new tensor on ``device`` (``is_foreign`` False).
    ``copy=True`` always copies; ``copy=False`` raises :class:`BufferError` when a copy would
    be needed. Accepts f16/f32/f64, bf16, i8/i32/i64 and u8 arrays of up to 8 dims, any
    strides.
    """
    return _xhal.from_dlpack(obj, as_device(device), stream, copy)


def from_numpy(array: Any, device: DeviceLike = None, dtype: Any = None, *,
               stream: Optional[Stream] = None, copy: Optional[bool] = None) -> Tensor:
    """A tensor on ``device`` holding ``array`` (any numpy array or array-like).

    With ``dtype`` the values are converted on the device (``"bf16"`` from a float array, as
    xhal_copy rounds: to nearest even); a ``uint16`` array with ``dtype="bf16"`` is taken as
    bf16 bit patterns (the .npy convention of conformance/VECTORS.md).
    """
    import numpy as np

    a = np.asarray(array)
    dev = as_device(device)
    want = None if dtype is None else dtype_name(dtype)
    if want == "bf16" and a.dtype == np.uint16:
        t = Tensor(dev, a.shape, "bf16")
        t.write(np.ascontiguousarray(a), stream=stream)
        return t
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    t = from_dlpack(a, dev, stream=stream, copy=copy)
    if want is not None and want != t.dtype:
        t = _xhal.contiguous(t, want, stream=stream)
    return t


def tensor(data: Any, dtype: Any = None, device: DeviceLike = None) -> Tensor:
    """A tensor from nested lists, scalars or arrays (through numpy), like ``numpy.asarray``."""
    import numpy as np

    return from_numpy(np.asarray(data), device, dtype)


def to_numpy(t: Tensor) -> Any:
    """``t.numpy()``: a numpy array through DLPack (bf16 comes back as float32)."""
    return t.numpy()


__all__ = [
    "Buffer", "Context", "Device", "Event", "Program", "Stream", "Tensor", "LlamaModel",
    "Error", "InvalidArgumentError", "InvalidHandleError", "DtypeMismatchError", "ShapeMismatchError",
    "OutOfRangeError", "SizeOverflowError", "OutOfMemoryError", "UnsupportedError", "UnavailableError",
    "NotFoundError", "WrongDeviceError", "FileIOError", "CorruptDataError", "AbiMismatchError",
    "BackendError", "InternalError",
    "version", "default_context", "device", "devices", "as_device", "empty", "full", "zeros",
    "from_dlpack", "from_numpy", "tensor", "to_numpy", "conform", "ConformResult", "tool_path",
    "dtype_info", "dtype_name", "dtype_size", "op_name", "op_from_name", "op_catalogue", "status_name", "link_name",
    "DTYPES",
]
