#!/usr/bin/env python3
"""Generate xhal conformance test vectors (format: conformance/VECTORS.md).

    python3 conformance/vectors/generate.py [OUT_DIR]     (default: conformance/vectors/default)

Needs numpy only. Inputs come from a seeded generator and are rounded to their dtype;
expected outputs are computed here in float64 from those rounded inputs, written
unrounded as '<f8' (integers as '<i8'), following the formulas of conformance/OPS.md.
bf16 has no numpy dtype: bf16 tensors are stored as '<u2' bit patterns and named with
{"file": ..., "dtype": "bf16"} in cases.json. The vectors are committed, so CI does not
need numpy; rerun this only to change them.
"""
import json
import math
import os
import sys

import numpy as np

RNG = np.random.default_rng(20240607)


def to_bf16_bits(x):
    """float64 array -> bf16 bit patterns (via f32, round to nearest even, NaN kept)."""
    f = np.asarray(x, dtype=np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    nan = np.isnan(f)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def from_bf16_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def rounded(x, dt):
    """Values of x as stored in dtype dt (float64 array of the representable values)."""
    x = np.asarray(x, dtype=np.float64)
    if dt == "f32":
        return x.astype(np.float32).astype(np.float64)
    if dt == "f16":
        return x.astype(np.float16).astype(np.float64)
    if dt == "bf16":
        return from_bf16_bits(to_bf16_bits(x))
    if dt == "f64":
        return x
    return np.trunc(x)


def uniform(shape, dt, lo=-1.0, hi=1.0):
    if dt in ("i32", "i64"):
        return RNG.integers(int(lo), int(hi) + 1, size=shape).astype(np.float64)
    return rounded(RNG.uniform(lo, hi, size=shape), dt)


class Writer:
    def __init__(self, out):
        self.out = out
        self.cases = []
        os.makedirs(out, exist_ok=True)

    def tensor(self, name, values, dt):
        fname = name + ".npy"
        path = os.path.join(self.out, fname)
        v = np.asarray(values)
        if dt == "bf16":
            np.save(path, to_bf16_bits(v))
            return {"file": fname, "dtype": "bf16"}
        npdt = {"f32": "<f4", "f16": "<f2", "f64": "<f8", "i32": "<i4", "i64": "<i8"}[dt]
        np.save(path, v.astype(npdt))
        return fname

    def case(self, name, op, dtype, inputs, expected, attrs=None, out_dtype=None, init=None):
        """inputs: list of (values, dtype); expected: float64 values (or ints)."""
        c = {"name": name, "op": op, "dtype": dtype}
        c["inputs"] = [self.tensor("%s.in%d" % (name, i), v, d) for i, (v, d) in enumerate(inputs)]
        exp = np.asarray(expected)
        if out_dtype in ("i32", "i64") or (out_dtype is None and dtype in ("i32", "i64")):
            c["expected"] = self.tensor(name + ".expected", exp, "i64")
        else:
            c["expected"] = self.tensor(name + ".expected", exp.astype(np.float64), "f64")
        if init is not None:
            c["init"] = self.tensor(name + ".init", init[0], init[1])
        if out_dtype:
            c["out_dtype"] = out_dtype
        if attrs:
            c["attrs"] = attrs
        self.cases.append(c)

    def finish(self):
        doc = {"format": "xhal-vectors", "version": 1,
               "generator": "conformance/vectors/generate.py (numpy %s)" % np.__version__,
               "cases": self.cases}
        with open(os.path.join(self.out, "cases.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


def softmax(x, scale=1.0, causal=False):
    x = x * scale
    if causal:
        sq, sk = x.shape[-2], x.shape[-1]
        i = np.arange(sq)[:, None]
        j = np.arange(sk)[None, :]
        x = np.where(j <= i + (sk - sq), x, -np.inf)
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def rope(x, seq_axis, theta, pos_offset, rot, layout):
    d = x.shape[-1]
    rot = rot or d
    out = x.copy()
    shape = [1] * x.ndim
    shape[seq_axis] = x.shape[seq_axis]
    pos = (pos_offset + np.arange(x.shape[seq_axis])).reshape(shape).astype(np.float64)
    for k in range(rot // 2):
        ang = pos * theta ** (-2.0 * k / rot)
        iu, iv = (2 * k, 2 * k + 1) if layout == "interleaved" else (k, k + rot // 2)
        u, v = x[..., iu], x[..., iv]
        c, s = np.cos(ang)[..., 0], np.sin(ang)[..., 0]
        out[..., iu] = u * c - v * s
        out[..., iv] = u * s + v * c
    return out


def attention(q, k, v, mask=None, scale=0.0, causal=False):
    b, hq, sq, d = q.shape
    hkv, sk = k.shape[1], k.shape[2]
    g = hq // hkv
    scale = scale or 1.0 / math.sqrt(d)
    kk = np.repeat(k, g, axis=1)
    vv = np.repeat(v, g, axis=1)
    s = np.einsum("bhid,bhjd->bhij", q, kk) * scale
    if mask is not None:
        s = s + mask
    p = softmax(s, 1.0, causal)
    return np.einsum("bhij,bhjd->bhid", p, vv)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "default")
    w = Writer(out)
    erf = np.vectorize(math.erf)

    # binary, with broadcasting
    a, b = uniform((4, 5), "f32", -10, 10), uniform((5,), "f32", -10, 10)
    w.case("add_f32_bcast_row", "add", "f32", [(a, "f32"), (b, "f32")], a + b)
    a, b = uniform((3, 7), "f16", -10, 10), uniform((3, 7), "f16", -10, 10)
    w.case("sub_f16", "sub", "f16", [(a, "f16"), (b, "f16")], a - b)
    a, b = uniform((6, 1), "bf16", -4, 4), uniform((6, 4), "bf16", -4, 4)
    w.case("mul_bf16_bcast_col", "mul", "bf16", [(a, "bf16"), (b, "bf16")], a * b)
    a = uniform((17,), "f32", -10, 10)
    b = rounded(RNG.uniform(0.5, 2, 17) * RNG.choice([-1, 1], 17), "f32")
    w.case("div_f32", "div", "f32", [(a, "f32"), (b, "f32")], a / b)
    a, b = uniform((8,), "f32"), uniform((8,), "f32")
    a[2], b[5] = np.nan, np.nan
    w.case("maximum_f32_nan", "maximum", "f32", [(a, "f32"), (b, "f32")], np.maximum(a, b))
    a, b = uniform((10,), "i32", -1000, 1000), uniform((10,), "i32", -1000, 1000)
    w.case("minimum_i32", "minimum", "i32", [(a, "i32"), (b, "i32")], np.minimum(a, b))
    a, b = uniform((2, 6), "i64", -10**6, 10**6), uniform((1, 6), "i64", -10**6, 10**6)
    w.case("add_i64_bcast", "add", "i64", [(a, "i64"), (b, "i64")], a + b)

    # unary and scale
    x = uniform((33,), "f16", -8, 8)
    w.case("exp_f16", "exp", "f16", [(x, "f16")], np.exp(x))
    x = uniform((17,), "f32", -6, 6)
    w.case("tanh_f32", "tanh", "f32", [(x, "f32")], np.tanh(x))
    x = uniform((4, 9), "bf16", -6, 6)
    w.case("gelu_bf16", "gelu", "bf16", [(x, "bf16")], 0.5 * x * (1 + erf(x / math.sqrt(2))))
    x = uniform((21,), "f32", -8, 8)
    w.case("silu_f32", "silu", "f32", [(x, "f32")], x / (1 + np.exp(-x)))
    x = uniform((12,), "f32", 0.01, 100)
    w.case("rsqrt_f32", "rsqrt", "f32", [(x, "f32")], 1 / np.sqrt(x))
    x = uniform((3, 5), "f32", -4, 4)
    w.case("scale_f32", "scale", "f32", [(x, "f32")], 0.5 * x + 2, attrs={"alpha": 0.5, "beta": 2})

    # reductions
    x = uniform((5, 17), "f32", -10, 10)
    w.case("sum_f32_axis1", "sum", "f32", [(x, "f32")], x.sum(axis=1), attrs={"axis": 1})
    x = uniform((7, 3), "f16", -10, 10)
    w.case("mean_f16_axis0_keepdims", "mean", "f16", [(x, "f16")], x.mean(axis=0, keepdims=True),
           attrs={"axis": 0, "keepdims": 1})
    x = uniform((4, 6), "bf16", -10, 10)
    w.case("max_bf16_axism1", "max", "bf16", [(x, "bf16")], x.max(axis=-1), attrs={"axis": -1})
    x = uniform((3, 11), "f32", -10, 10)
    w.case("argmax_f32_i64", "argmax", "f32", [(x, "f32")], x.argmax(axis=1), attrs={"axis": 1},
           out_dtype="i64")

    # normalization
    x = uniform((3, 17), "f32", -8, 8)
    w.case("softmax_f32_scale", "softmax", "f32", [(x, "f32")], softmax(x, 0.5), attrs={"scale": 0.5})
    x = uniform((2, 4, 6), "f16", -8, 8)
    w.case("softmax_f16_causal_kv", "softmax", "f16", [(x, "f16")], softmax(x, 1.0, True), attrs={"causal": 1})
    x, g = uniform((4, 32), "f32", -3, 3), uniform((32,), "f32", 0.5, 1.5)
    rms = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-5) * g
    w.case("rms_norm_f32_weight", "rms_norm", "f32", [(x, "f32"), (g, "f32")], rms, attrs={"eps": 1e-5})
    x, g, bb = uniform((3, 16), "bf16", -3, 3), uniform((16,), "bf16", 0.5, 1.5), uniform((16,), "bf16")
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    w.case("layer_norm_bf16_weight_bias", "layer_norm", "bf16", [(x, "bf16"), (g, "bf16"), (bb, "bf16")],
           (x - mu) / np.sqrt(var + 1e-6) * g + bb, attrs={"eps": 1e-6})

    # matmul
    a, b = uniform((5, 7), "f32"), uniform((7, 3), "f32")
    w.case("matmul_f32", "matmul", "f32", [(a, "f32"), (b, "f32")], a @ b)
    a, b, c = uniform((2, 4, 9), "f16"), uniform((2, 6, 9), "f16"), uniform((2, 4, 6), "f16")
    w.case("matmul_f16_batch_tb_alpha_beta", "matmul", "f16", [(a, "f16"), (b, "f16")],
           1.5 * (a @ np.swapaxes(b, -1, -2)) - 0.5 * c,
           attrs={"trans_b": 1, "alpha": 1.5, "beta": -0.5}, init=(c, "f16"))

    # indexing and transformer blocks
    t, idx = uniform((10, 6), "f32"), RNG.integers(0, 10, size=(2, 3))
    w.case("gather_f32_idx_i64", "gather", "f32", [(t, "f32"), (idx, "i64")], t[idx])
    x = uniform((1, 4, 2, 8), "f32")
    w.case("rope_f32_half_pos3", "rope", "f32", [(x, "f32")], rope(x, 1, 10000.0, 3, 0, "half"),
           attrs={"seq_axis": 1, "theta": 10000.0, "pos_offset": 3, "layout": "half"})
    x = uniform((5, 3, 8), "f16")
    w.case("rope_f16_interleaved_rot4", "rope", "f16", [(x, "f16")], rope(x, 0, 500000.0, 11, 4, "interleaved"),
           attrs={"seq_axis": 0, "theta": 500000.0, "pos_offset": 11, "rotary_dims": 4, "layout": "interleaved"})
    q, k, v = uniform((1, 4, 3, 8), "f32", -2, 2), uniform((1, 2, 5, 8), "f32", -2, 2), uniform((1, 2, 5, 8), "f32")
    w.case("attention_f32_gqa_causal", "attention", "f32", [(q, "f32"), (k, "f32"), (v, "f32")],
           attention(q, k, v, None, 0.0, True), attrs={"causal": 1})
    q, k, v = uniform((1, 2, 4, 16), "bf16", -2, 2), uniform((1, 2, 4, 16), "bf16", -2, 2), uniform((1, 2, 4, 16), "bf16")
    m = uniform((4, 4), "bf16", -3, 0)
    w.case("attention_bf16_mask", "attention", "bf16", [(q, "bf16"), (k, "bf16"), (v, "bf16"), (m, "bf16")],
           attention(q, k, v, m, 0.25, False), attrs={"scale": 0.25})
    p0, p1 = uniform((2, 3), "f32"), uniform((2, 5), "f32")
    w.case("concat_f32_axis1", "concat", "f32", [(p0, "f32"), (p1, "f32")], np.concatenate([p0, p1], axis=1),
           attrs={"axis": 1})

    # data movement
    x = RNG.uniform(-70000, 70000, size=(13,))
    x[0], x[1] = 65519.0, 65520.0
    x = rounded(x, "f32")
    with np.errstate(over="ignore"):
        x16 = x.astype(np.float16).astype(np.float64)
    w.case("copy_f32_to_f16_overflow", "copy", "f16", [(x, "f32")], x16,
           attrs={"nan_sign": 1})
    w.case("copy_f32_to_i32_saturate", "copy", "i32", [(rounded([1e10, -1e10, 2.7, -2.7, 0.5], "f32"), "f32")],
           np.array([2147483647, -2147483648, 2, -2, 0]))
    w.finish()
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print("%d cases, %d files, %d bytes in %s" % (len(w.cases), len(os.listdir(out)), total, out))


if __name__ == "__main__":
    main()
