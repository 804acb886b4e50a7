"""DLPack both ways and the numpy helpers: numpy -> xhal (cpu:0, opencl:0) -> numpy."""
import ctypes

import numpy as np
import pytest

import xhal

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.uint8, np.int32, np.int64]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip(dev, rng, dtype):
    a = (rng.standard_normal((3, 5, 7)) * 50).astype(dtype)
    t = xhal.from_dlpack(a, dev)
    assert t.device == dev and t.shape == a.shape and t.dtype == xhal.dtype_name(np.dtype(dtype).name)
    b = np.from_dlpack(t)
    assert b.dtype == a.dtype and np.array_equal(a, b)
    assert np.array_equal(t.numpy(), a)
    assert t.__dlpack_device__() == (1, 0)


def test_round_trip_strided_and_odd_shapes(dev, rng):
    a = rng.standard_normal((6, 8)).astype(np.float32)
    for view in (a.T, a[::2, 1::3], a[::-1], a[:, ::-2], a[2:3, 4], np.float32(2.5) * np.ones(()), a[:0]):
        t = xhal.from_numpy(view, dev)
        assert t.shape == view.shape
        assert np.array_equal(np.from_dlpack(t), view)


def test_round_trip_of_an_xhal_view(dev, rng):
    a = rng.standard_normal((4, 6)).astype(np.float32)
    t = xhal.from_numpy(a, dev).transpose(0, 1).slice(0, 1, 6, 2)
    assert np.array_equal(np.from_dlpack(t), a.T[1:6:2])
    # xhal -> xhal through DLPack, onto the other kind of device
    u = xhal.from_dlpack(t, xhal.device("cpu:0"))
    assert np.array_equal(u.numpy(), a.T[1:6:2])


def test_bf16(dev):
    a = np.array([1.0, -2.5, 3.140625, 1e-3, 65504.0, -0.0], np.float32)
    t = xhal.from_numpy(a, dev, dtype="bf16")
    assert t.dtype == "bf16"
    got = t.numpy()  # numpy has no bf16: widened to f32 exactly
    bits = a.view(np.uint32)
    rne = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
    assert got.dtype == np.float32
    assert np.array_equal(got.view(np.uint32) >> 16, rne.astype(np.uint32))
    # uint16 bit patterns with dtype bf16 are taken as they are
    t2 = xhal.from_numpy(rne, dev, dtype="bf16")
    assert np.array_equal(np.frombuffer(t2.read(), np.uint16), rne)


def test_export_capsules_say_whether_they_copy(dev):
    t = xhal.from_numpy(np.arange(6, dtype=np.float32), dev)
    cap = t.__dlpack__(max_version=(1, 0))
    PyCapsule_GetName = ctypes.pythonapi.PyCapsule_GetName
    PyCapsule_GetName.restype = ctypes.c_char_p
    PyCapsule_GetName.argtypes = [ctypes.py_object]
    assert PyCapsule_GetName(cap) == b"dltensor_versioned"
    PyCapsule_GetPointer = ctypes.pythonapi.PyCapsule_GetPointer
    PyCapsule_GetPointer.restype = ctypes.c_void_p
    PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    p = PyCapsule_GetPointer(cap, b"dltensor_versioned")
    # DLManagedTensorVersioned: version (8 bytes), manager_ctx, deleter, flags
    major, minor = ctypes.cast(p, ctypes.POINTER(ctypes.c_uint32))[0:2]
    flags = ctypes.cast(p + 24, ctypes.POINTER(ctypes.c_uint64))[0]
    assert (major, minor) == (1, 0)
    copied = bool(flags & 2)
    assert copied == (not _lends(t))
    assert copied == (dev.spec != "cpu:0")  # the cpu backend lends its memory; PoCL's is copied
    legacy = t.__dlpack__()
    assert PyCapsule_GetName(legacy) == b"dltensor"
    del cap, legacy  # destructors run the deleters


def _lends(t):
    try:
        t.__dlpack__(copy=False)
        return True
    except BufferError:
        return False


def test_export_arguments(cpu):
    t = xhal.from_numpy(np.ones(3, np.float32), cpu)
    with pytest.raises(BufferError, match="kDLCPU"):
        t.__dlpack__(dl_device=(2, 0))
    with pytest.raises(BufferError, match="stream"):
        t.__dlpack__(stream=7)
    assert t.__dlpack__(copy=True) is not None  # a copy is always possible


def test_import_refuses_device_memory_and_unknown_dtypes(cpu):
    class OnGpu:
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, **kw):
            raise AssertionError("must not be asked for a capsule")

    with pytest.raises(BufferError, match="host memory"):
        xhal.from_dlpack(OnGpu(), cpu)
    with pytest.raises(xhal.DtypeMismatchError, match="complex"):
        xhal.from_dlpack(np.zeros(3, np.complex64), cpu)
    with pytest.raises(TypeError, match="not a DLPack producer"):
        xhal.from_dlpack([1, 2, 3], cpu)
    with pytest.raises(xhal.InvalidArgumentError, match="at most 8"):
        xhal.from_dlpack(np.zeros((1,) * 9, np.float32), cpu)


def test_numpy_helpers(dev):
    t = xhal.tensor([[1, 2], [3, 4]], "f64", dev)
    assert t.dtype == "f64" and xhal.to_numpy(t).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert xhal.zeros((2, 3), "i32", dev).numpy().tolist() == [[0, 0, 0]] * 2
    assert xhal.full(4, 2.5, "f16", dev).numpy().tolist() == [2.5] * 4
    b = xhal.from_numpy(np.array([True, False]), dev)
    assert b.dtype == "u8" and b.numpy().tolist() == [1, 0]


def test_torch_round_trip(dev):
    torch = pytest.importorskip("torch")
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t = xhal.from_dlpack(x, dev)
    y = torch.from_dlpack(t)
    assert torch.equal(x, y)
    xb = x.to(torch.bfloat16)
    tb = xhal.from_dlpack(xb, dev)
    assert tb.dtype == "bf16" and torch.equal(torch.from_dlpack(tb), xb)


def test_zero_copy_on_cpu_both_ways(cpu):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = xhal.from_numpy(a, cpu)
    assert t.is_foreign  # numpy's memory, used in place
    a[0, 0] = 42.0
    assert t.numpy()[0, 0] == 42.0
    xhal.add(t, t, out=t)  # an op writes the caller's array
    assert a[1, 1] == 10.0
    b = np.from_dlpack(t)  # and lends it back without a copy
    assert np.shares_memory(a, b)
    del a, b
    assert t.numpy()[0, 0] == 84.0  # the tensor keeps the array alive
    # views of numpy arrays with non-negative strides are wrapped too; negative strides are copied
    c = np.arange(24, dtype=np.float64).reshape(4, 6)
    v = xhal.from_numpy(c[1:, ::2], cpu)
    assert v.is_foreign and v.strides == (6, 2) and np.array_equal(v.numpy(), c[1:, ::2])
    assert not xhal.from_numpy(c[::-1], cpu).is_foreign
    # an xhal tensor made by xhal is lent to numpy
    z = xhal.zeros((2, 2), "f32", cpu)
    zn = np.from_dlpack(z)
    zn[0, 1] = 7.0
    assert z.numpy()[0, 1] == 7.0 and not z.is_foreign


def test_copy_argument(dev):
    a = np.ones(4, np.float32)
    if dev.spec == "cpu:0":
        assert not xhal.from_dlpack(a, dev, copy=True).is_foreign
        assert xhal.from_dlpack(a, dev, copy=False).is_foreign
        ro = a.copy()
        ro.flags.writeable = False
        assert not xhal.from_dlpack(ro, dev).is_foreign  # read-only memory is copied
        with pytest.raises(BufferError, match="read-only"):
            xhal.from_dlpack(ro, dev, copy=False)
    else:
        with pytest.raises(BufferError, match="cannot use host memory in place"):
            xhal.from_dlpack(a, dev, copy=False)
        t = xhal.from_dlpack(a, dev)
        assert not t.is_foreign
        with pytest.raises(BufferError, match="copy=False"):
            t.__dlpack__(copy=False)
