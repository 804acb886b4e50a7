"""Contexts, devices, buffers, tensors and views, streams, events, errors."""
import numpy as np
import pytest

import xhal


def test_version_and_names():
    assert xhal.version().count(".") == 2
    assert xhal.status_name(4) == "XHAL_ERROR_SHAPE_MISMATCH"
    assert xhal.dtype_name("float32") == "f32" and xhal.dtype_name("bfloat16") == "bf16"
    assert xhal.dtype_size("f16") == 2 and xhal.dtype_size("i64") == 8
    cat = xhal.op_catalogue()
    assert cat["add"] == xhal.op_from_name("add") and xhal.op_name(cat["rms_norm"]) == "rms_norm"
    assert {"matmul", "attention", "rope", "gather", "concat"} <= set(cat)


def test_context_backends_and_devices():
    ctx = xhal.Context()
    names = {b["name"]: b for b in ctx.backends()}
    assert names["cpu"]["state"] == "loaded" and names["cpu"]["abi_version"] >= 1
    assert ctx.device_count == len(ctx.devices()) >= 1
    d = ctx.device("cpu")
    assert d == ctx.device("cpu:0") == ctx.device(d.index) and hash(d) == hash(ctx.device("cpu:0"))
    info = d.info()
    assert info["spec"] == "cpu:0" and info["backend"] == "cpu" and "host_memory" in info["caps"]
    assert "f32" in info["dtypes"] and info["total_memory"] > 0
    assert d.context is ctx


def test_context_without_plugins_has_no_devices():
    ctx = xhal.Context(no_default_plugins=True, ignore_env_path=True)
    assert ctx.device_count == 0
    with pytest.raises(xhal.NotFoundError) as e:
        ctx.device("cpu:0")
    assert "cpu" in str(e.value)


def test_unknown_device_names_the_devices_present():
    with pytest.raises(xhal.NotFoundError) as e:
        xhal.device("cpu:7")
    assert e.value.status == 10 and e.value.status_name == "XHAL_ERROR_NOT_FOUND"
    assert "cpu:0" in e.value.message
    with pytest.raises(xhal.InvalidArgumentError):
        xhal.device("cpu:x")


def test_bad_log_level():
    with pytest.raises(xhal.InvalidArgumentError, match="log_level 'loud'"):
        xhal.Context(log_level="loud")


def test_topology(cpu):
    ctx = cpu.context
    avail, reason = ctx.topology_available()
    text = ctx.topology()
    assert isinstance(text, str) and text
    if avail:
        loc = cpu.locality()
        assert loc["known"] and loc["whole_machine"] and loc["cpuset"]
        assert cpu.relation(cpu) == "SELF"
        assert isinstance(ctx.pci_accelerators(), list)
        import json
        assert json.loads(ctx.topology(json=True))["available"] is True
    else:
        assert reason
        with pytest.raises(xhal.UnavailableError):
            cpu.locality()


def test_buffer_write_read(dev):
    b = xhal.Buffer(dev, 64)
    assert b.size == 64 and b.device == dev
    b.write(bytes(range(16)), offset=8)
    assert b.read(16, offset=8) == bytes(range(16))
    with pytest.raises(xhal.OutOfRangeError):
        b.write(bytes(16), offset=56)
    with pytest.raises(xhal.InvalidArgumentError, match="size is 0"):
        xhal.Buffer(dev, 0)


def test_tensor_from_buffer_and_views(dev):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    buf = xhal.Buffer(dev, a.nbytes + 16)
    t = xhal.Tensor.from_buffer(buf, "f32", (2, 3, 4), byte_offset=16)
    t.write(a)
    assert t.shape == (2, 3, 4) and t.strides == (12, 4, 1) and t.byte_offset == 16 and t.is_contiguous
    assert t.numel == 24 and t.nbytes == 96 and t.itemsize == 4 and t.dtype == "f32" and t.ndim == 3
    assert np.array_equal(np.frombuffer(t.read(), np.float32).reshape(a.shape), a)
    assert np.array_equal(t.slice(2, 1, 4, 2).numpy(), a[:, :, 1:4:2])
    assert np.array_equal(t.permute([2, 0, 1]).numpy(), a.transpose(2, 0, 1))
    tt = t.transpose(0, 2)
    assert not tt.is_contiguous and np.array_equal(tt.numpy(), a.swapaxes(0, 2))
    assert np.array_equal(t.reshape([6, -1]).numpy(), a.reshape(6, 4))
    assert np.array_equal(t.slice(0, 0, 1).expand([3, 3, 4]).numpy(), np.broadcast_to(a[:1], (3, 3, 4)))
    with pytest.raises(xhal.InvalidArgumentError):
        tt.reshape([24])  # not contiguous: the core says so
    with pytest.raises(xhal.OutOfRangeError):
        xhal.Tensor.from_buffer(buf, "f32", (2, 3, 5))
    # a view keeps the memory alive after the base objects are gone
    v = t.slice(0, 1, 2)
    del t, buf
    assert np.array_equal(v.numpy(), a[1:2])
    assert v.buffer.size == a.nbytes + 16


def test_tensor_write_checks_size(cpu):
    t = xhal.empty((2, 2), "f32", cpu)
    with pytest.raises(xhal.Error) as e:
        t.write(b"\0" * 12)
    assert "16" in str(e.value) and "12" in str(e.value)
    with pytest.raises(TypeError):
        t.write(np.zeros((4, 4), np.float32)[:, ::2])  # not C-contiguous
    with pytest.raises(xhal.InvalidArgumentError, match="unknown dtype 'f33'"):
        xhal.empty((2,), "f33", cpu)
    with pytest.raises(xhal.InvalidArgumentError):
        xhal.empty((2,) * 9, "f32", cpu)
    with pytest.raises(xhal.InvalidArgumentError):
        xhal.empty((-1,), "f32", cpu)


def test_streams_and_events(dev):
    s = xhal.Stream(dev)
    assert s.device == dev
    t = xhal.full((4,), 3.0, "f32", dev, stream=s)
    e0, e1 = xhal.Event(dev), xhal.Event(dev)
    e0.record(s)
    xhal.scale(t, 2.0, 1.0, t, stream=s)
    e1.record(s)
    e1.synchronize()
    s.synchronize()
    assert e0.elapsed_ms(e1) >= 0.0
    dev.default_stream.wait_event(e1)
    assert t.numpy().tolist() == [7.0] * 4
    with pytest.raises(xhal.InvalidArgumentError, match="never recorded"):
        dev.default_stream.wait_event(xhal.Event(dev))


def test_wrong_device(dev, cpu):
    if dev == cpu:
        pytest.skip("needs two devices")
    a = xhal.full((3,), 1.0, "f32", cpu)
    b = xhal.full((3,), 1.0, "f32", dev)
    with pytest.raises(xhal.WrongDeviceError):
        xhal.add(a, b, xhal.empty((3,), "f32", dev))
    # copies go across devices
    xhal.copy(a, b)
    assert b.numpy().tolist() == [1.0, 1.0, 1.0]


def test_exceptions_are_python_exceptions():
    assert issubclass(xhal.ShapeMismatchError, xhal.Error) and issubclass(xhal.ShapeMismatchError, ValueError)
    assert issubclass(xhal.OutOfRangeError, IndexError)
    assert issubclass(xhal.UnsupportedError, xhal.Error)


def test_block_quantized_tensors(cpu, rng):
    info = xhal.dtype_info("q8_0")
    assert info["block_size"] == 32 and info["block_bytes"] == 34 and info["is_quantized"]
    assert xhal.dtype_size("q8_0") == 0 and "q8_0" in cpu.info()["dtypes"]
    a = rng.uniform(-1, 1, (4, 64)).astype(np.float32)
    q = xhal.cast(xhal.from_numpy(a, cpu), "q8_0")  # quantize on the device
    assert q.dtype == "q8_0" and q.itemsize == 0 and q.nbytes == 4 * 2 * 34
    assert len(q.read()) == q.nbytes
    back = q.numpy()  # dequantized to f32
    assert back.dtype == np.float32 and np.abs(back - a).max() <= np.abs(a).max() / 127
    with pytest.raises(xhal.InvalidArgumentError, match="block"):
        q.slice(1, 0, 16)  # splits a block
    with pytest.raises(xhal.DtypeMismatchError):
        q.__dlpack__()  # DLPack has no block types
