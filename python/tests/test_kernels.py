"""Custom kernels in the portable dialect, from Python."""
import numpy as np
import pytest

import xhal

AXPY = """
XK_KERNEL void axpy(XK_GLOBAL float *y, XK_GLOBAL const float *x, float a, xk_i64 n)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    if (i < n) y[i] = a * x[i] + y[i];
}
"""


def test_custom_kernel(dev):
    if "custom_kernels" not in dev.info()["caps"]:
        with pytest.raises(xhal.UnsupportedError, match="custom kernels"):
            xhal.Program(dev, AXPY)
        return
    prog = xhal.Program(dev, AXPY)
    x = np.arange(10, dtype=np.float32)
    y = np.ones(10, np.float32)
    ty, tx = xhal.from_numpy(y, dev), xhal.from_numpy(x, dev)
    prog.launch("axpy", [10], [ty, tx, 2.0, 10])
    assert np.array_equal(ty.numpy(), 2 * x + 1)
    prog.launch("axpy", (16,), [ty, tx, ("f32", -1.0), ("i64", 4)], local_size=[16])
    assert np.array_equal(ty.numpy(), np.where(np.arange(10) < 4, x + 1, 2 * x + 1))
    with pytest.raises(xhal.Error):
        prog.launch("no_such_kernel", [1], [ty])
    with pytest.raises(xhal.BackendError):
        xhal.Program(dev, "XK_KERNEL void broken(XK_GLOBAL float *y) { y[0] = undefined_name; }")
    with pytest.raises(TypeError, match="args\\[0\\]"):
        prog.launch("axpy", [1], [object()])
