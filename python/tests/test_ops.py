"""Every op of the catalogue called from Python, against numpy, on cpu:0 and opencl:0."""
import math

import numpy as np
import pytest

import xhal

TOL = dict(rtol=2e-5, atol=2e-5)


def X(a, dev):
    return xhal.from_numpy(np.ascontiguousarray(a), dev)


def erf(x):
    return np.vectorize(math.erf)(x)


UNARY = {
    "neg": lambda x: -x, "abs": np.abs, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x), "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0), "silu": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
    "square": np.square, "softplus": lambda x: np.logaddexp(0, x),
}


def test_unary_doc_lists_the_op_table():
    """_xhal.unary's docstring is made from the op table's UNARY rows: each name there is an op
    xhal_unary takes, has its xhal.<name> function, is tested above and is in xhal.unary's doc."""
    doc = xhal._xhal.unary.__doc__
    listed = doc.split("one of ", 1)[1].split(";", 1)[0].split(", ")
    assert set(listed) == set(UNARY), doc
    for name in listed:
        assert name in xhal.op_catalogue()
        assert callable(getattr(xhal, name)) and name in xhal.ops.__all__
        assert name in xhal.unary.__doc__


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(dev, rng, op):
    a = rng.uniform(0.1, 3.0, (4, 9)) * (1 if op in ("log", "sqrt", "rsqrt") else rng.choice([-1, 1], (4, 9)))
    a = a.astype(np.float32)
    got = getattr(xhal, op)(X(a, dev)).numpy()
    np.testing.assert_allclose(got, UNARY[op](a.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op,ref", [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                                    ("div", np.divide), ("maximum", np.maximum), ("minimum", np.minimum)])
def test_binary_broadcast(dev, rng, op, ref):
    a = rng.standard_normal((2, 3, 5)).astype(np.float32)
    b = rng.uniform(0.5, 2, (3, 1)).astype(np.float32)
    got = getattr(xhal, op)(X(a, dev), X(b, dev))
    assert got.shape == (2, 3, 5)
    np.testing.assert_allclose(got.numpy(), ref(a, b), **TOL)
    got2 = xhal.binary(op, X(a, dev), X(b, dev))
    np.testing.assert_allclose(got2.numpy(), ref(a, b), **TOL)


def test_integer_add_and_out(dev):
    a = np.array([[1, 2, 3]], np.int64)
    b = np.array([[10], [20]], np.int64)
    out = xhal.empty((2, 3), "i64", dev)
    r = xhal.add(X(a, dev), X(b, dev), out)
    assert r is out and out.numpy().tolist() == (a + b).tolist()
    assert xhal.mul(X(a, dev), X(b, dev)).numpy().tolist() == (a * b).tolist()


def test_scale_and_reductions(dev, rng):
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    t = X(a, dev)
    np.testing.assert_allclose(xhal.scale(t, 2.0, -1.0).numpy(), 2 * a - 1, **TOL)
    np.testing.assert_allclose(xhal.sum(t, axis=1).numpy(), a.sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xhal.mean(t, axis=-1, keepdims=True).numpy(), a.mean(-1, keepdims=True), **TOL)
    np.testing.assert_allclose(xhal.max(t, axis=0).numpy(), a.max(0))
    am = xhal.argmax(t, axis=2)
    assert am.dtype == "i64" and np.array_equal(am.numpy(), a.argmax(2))
    assert xhal.argmax(t, 1, dtype="i32").dtype == "i32"


def softmax_ref(x, scale=1.0, causal=False):
    s = x.astype(np.float64) * scale
    if causal:
        sq, sk = s.shape[-2:]
        mask = np.arange(sk)[None, :] > np.arange(sq)[:, None] + (sk - sq)
        s = np.where(mask, -np.inf, s)
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_softmax(dev, rng):
    a = rng.standard_normal((2, 3, 5)).astype(np.float32)
    np.testing.assert_allclose(xhal.softmax(X(a, dev), 0.5).numpy(), softmax_ref(a, 0.5), **TOL)
    np.testing.assert_allclose(xhal.softmax(X(a, dev), causal=True).numpy(), softmax_ref(a, 1.0, True), **TOL)


def test_norms(dev, rng):
    x = rng.standard_normal((4, 16)).astype(np.float32)
    w = rng.standard_normal(16).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    x64 = x.astype(np.float64)
    rms = x64 / np.sqrt((x64 ** 2).mean(-1, keepdims=True) + 1e-6) * w
    np.testing.assert_allclose(xhal.rms_norm(X(x, dev), X(w, dev), 1e-6).numpy(), rms, **TOL)
    mu, var = x64.mean(-1, keepdims=True), x64.var(-1, keepdims=True)
    ln = (x64 - mu) / np.sqrt(var + 1e-5) * w + b
    np.testing.assert_allclose(xhal.layer_norm(X(x, dev), X(w, dev), X(b, dev)).numpy(), ln, **TOL)
    np.testing.assert_allclose(xhal.layer_norm(X(x, dev)).numpy(), (x64 - mu) / np.sqrt(var + 1e-5), **TOL)


def test_matmul(dev, rng):
    a = rng.standard_normal((2, 5, 7)).astype(np.float32)
    b = rng.standard_normal((7, 3)).astype(np.float32)
    np.testing.assert_allclose(xhal.matmul(X(a, dev), X(b[None], dev)).numpy(), a @ b, rtol=1e-5, atol=1e-5)
    bt = np.ascontiguousarray(b.T)
    c = rng.standard_normal((2, 5, 3)).astype(np.float32)
    ref = 0.5 * (a @ b) + 2 * c
    out = X(c, dev)  # on cpu:0 this is c itself (zero copy), which the op overwrites
    xhal.matmul(X(a, dev), X(bt[None], dev), trans_b=True, alpha=0.5, beta=2.0, out=out)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_gather(dev, rng):
    table = rng.standard_normal((10, 4)).astype(np.float32)
    idx = np.array([[3, 0], [9, 3]], np.int32)
    np.testing.assert_array_equal(xhal.gather(X(table, dev), X(idx, dev)).numpy(), table[idx])
    out = xhal.gather(X(table, dev), X(np.array([1, 10], np.int64), dev))  # queued, not checked here
    with pytest.raises(xhal.OutOfRangeError, match=r"indices\[1\] = 10 is outside \[0, 10\)"):
        out.numpy()
    np.testing.assert_array_equal(out.numpy(), np.stack([table[1], np.zeros(4, np.float32)]))


def topk_ref(a, k, axis, largest):
    """numpy's TopK, sorted, ties in ascending index order (a stable sort); no NaN in a."""
    idx = np.take(np.argsort(-a if largest else a, axis=axis, kind="stable"), np.arange(k), axis=axis)
    return np.take_along_axis(a, idx, axis=axis), idx


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("axis,index_dtype", [(-1, "i64"), (0, "i32"), (1, "i64")])
def test_topk(dev, rng, largest, axis, index_dtype):
    # few distinct values (ties within every row), -0 and +0 among them
    a = rng.integers(-4, 5, (5, 9, 6)).astype(np.float32) * 0.5
    a[a == 0] = np.where(rng.random(int((a == 0).sum())) < 0.5, -0.0, 0.0)
    k = 3
    v, i = xhal.topk(X(a, dev), k, axis=axis, largest=largest, index_dtype=index_dtype)
    rv, ri = topk_ref(a, k, axis, largest)
    assert v.shape == rv.shape and i.shape == ri.shape and v.dtype == "f32" and i.dtype == index_dtype
    np.testing.assert_array_equal(v.numpy(), rv)
    np.testing.assert_array_equal(i.numpy(), ri)


def test_topk_nan_and_given_outputs(dev):
    a = np.array([[1.0, np.nan, 3.0, -np.inf, np.inf, 2.0]], np.float32)
    v, i = xhal.topk(X(a, dev), 3)
    np.testing.assert_array_equal(i.numpy(), [[1, 4, 2]])  # NaN ranks above +Inf
    assert np.isnan(v.numpy()[0, 0]) and list(v.numpy()[0, 1:]) == [np.inf, 3.0]
    # smallest: NaN last; outputs given are written and returned
    vals, idx = xhal.zeros((1, 6), "f32", dev), xhal.zeros((1, 6), "i32", dev)
    rv, ri = xhal.topk(X(a, dev), 6, largest=False, values=vals, indices=idx)
    assert rv is vals and ri is idx
    np.testing.assert_array_equal(idx.numpy(), [[3, 0, 5, 2, 4, 1]])
    np.testing.assert_array_equal(vals.numpy()[0, :5], [-np.inf, 1.0, 2.0, 3.0, np.inf])


def test_topk_bad_inputs(dev):
    a = xhal.zeros((4, 9), "f32", dev)
    with pytest.raises(xhal.InvalidArgumentError, match=r"k 10 must be in \[1, 9\]"):
        xhal.topk(a, 10)
    with pytest.raises(xhal.InvalidArgumentError, match=r"k 0 must be in \[1, 4\]"):
        xhal.topk(a, 0, axis=0)
    with pytest.raises(xhal.InvalidArgumentError, match="axis 2 is out of range"):
        xhal.topk(a, 1, axis=2)
    with pytest.raises(xhal.DtypeMismatchError, match="indices are f32"):
        xhal.topk(a, 2, index_dtype="f32")
    with pytest.raises(xhal.DtypeMismatchError):
        xhal.topk(xhal.zeros((4, 9), "i32", dev), 2)
    with pytest.raises(xhal.ShapeMismatchError, match="values is"):
        xhal.topk(a, 2, values=xhal.zeros((4, 3), "f32", dev))


def rope_ref(x, seq_axis, theta, pos_offset, rot, layout):
    d = x.shape[-1]
    rot = rot or d
    out = x.astype(np.float64).copy()
    shape = [1] * x.ndim
    shape[seq_axis] = x.shape[seq_axis]
    pos = (pos_offset + np.arange(x.shape[seq_axis])).reshape(shape).astype(np.float64)
    for k in range(rot // 2):
        ang = pos * theta ** (-2.0 * k / rot)
        iu, iv = (2 * k, 2 * k + 1) if layout == "interleaved" else (k, k + rot // 2)
        u, v = x[..., iu].astype(np.float64), x[..., iv].astype(np.float64)
        c, s = np.cos(ang)[..., 0], np.sin(ang)[..., 0]
        out[..., iu] = u * c - v * s
        out[..., iv] = u * s + v * c
    return out


@pytest.mark.parametrize("layout,rot", [("half", 0), ("interleaved", 4)])
def test_rope(dev, rng, layout, rot):
    x = rng.standard_normal((2, 5, 3, 8)).astype(np.float32)
    got = xhal.rope(X(x, dev), seq_axis=1, theta=10000.0, pos_offset=3, rotary_dims=rot, layout=layout)
    np.testing.assert_allclose(got.numpy(), rope_ref(x, 1, 10000.0, 3, rot, layout), rtol=1e-5, atol=1e-5)


def test_attention_gqa_causal(dev, rng):
    q = rng.standard_normal((1, 4, 3, 8)).astype(np.float32)
    k = rng.standard_normal((1, 2, 5, 8)).astype(np.float32)
    v = rng.standard_normal((1, 2, 5, 6)).astype(np.float32)
    kk, vv = np.repeat(k, 2, axis=1), np.repeat(v, 2, axis=1)
    s = np.einsum("bhid,bhjd->bhij", q, kk).astype(np.float64) / math.sqrt(8)
    ref = np.einsum("bhij,bhjd->bhid", softmax_ref(s, 1.0, True), vv)
    got = xhal.attention(X(q, dev), X(k, dev), X(v, dev), causal=True)
    assert got.shape == (1, 4, 3, 6)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_concat_copy_fill_contiguous(dev, rng):
    p0 = rng.standard_normal((2, 3)).astype(np.float32)
    p1 = rng.standard_normal((2, 5)).astype(np.float32)
    np.testing.assert_array_equal(xhal.concat([X(p0, dev), X(p1, dev)], axis=1).numpy(), np.concatenate([p0, p1], 1))
    src = X(np.array([1e10, -1e10, 2.7, -2.7], np.float32), dev)
    dst = xhal.empty(4, "i32", dev)
    assert xhal.copy(src, dst).numpy().tolist() == [2147483647, -2147483648, 2, -2]
    assert xhal.fill(xhal.empty((2,), "f64", dev), -1.5).numpy().tolist() == [-1.5, -1.5]
    t = X(p1, dev).transpose(0, 1)
    c = xhal.contiguous(t)
    assert c.is_contiguous and np.array_equal(c.numpy(), p1.T)
    h = xhal.cast(X(np.array([1.0, 65520.0], np.float32), dev), "f16")
    assert h.dtype == "f16" and h.numpy().tolist() == [1.0, np.inf]


def test_bad_inputs_raise_xhal_messages(dev):
    a = xhal.zeros((4, 8), "f32", dev)
    b = xhal.zeros((7, 3), "f32", dev)
    with pytest.raises(xhal.ShapeMismatchError) as e:
        xhal.matmul(a, b)
    assert e.value.status == 4 and "[4,8]" in str(e.value) and "[7,3]" in str(e.value)
    with pytest.raises(xhal.ShapeMismatchError) as e:
        xhal.add(a, xhal.zeros((3,), "f32", dev))
    assert "add" in str(e.value)
    with pytest.raises(xhal.DtypeMismatchError):
        xhal.add(a, xhal.zeros((4, 8), "f16", dev))
    with pytest.raises(xhal.InvalidArgumentError):
        xhal.unary("add", a)
    with pytest.raises(xhal.InvalidArgumentError, match="frobnicate"):
        xhal.unary("frobnicate", a)
    with pytest.raises(TypeError, match="xhal.Tensor"):
        xhal.add(a, np.zeros((4, 8), np.float32))
    with pytest.raises(xhal.InvalidArgumentError):
        xhal.reduce("sum", a, axis=5)
