#!/usr/bin/env python3
"""Make the committed test data of tests/formats/ with gguf-py, llama.cpp's own Python package.

    python3 -m venv /tmp/qvenv && /tmp/qvenv/bin/pip install gguf numpy
    /tmp/qvenv/bin/python tests/formats/make_gguf.py tests/formats/data

Writes (all little-endian, deterministic for a given gguf version; the version used is stored
in the GGUF file under "xhal.test.gguf_py_version"):
  tiny.gguf          a GGUF v3 file with metadata of every value type and the tensors below
  quant_src.f32      the f32 source (4 x 256) that q8_0 and q4_0 are quantized from
  <type>.bin         the tensor's bytes as stored in tiny.gguf (q8_0, q4_0: gguf's quantizer;
                     q4_k, q6_k: random blocks with finite f16 scales, gguf-py has no quantizer)
  <type>.deq.f32     gguf-py's reference dequantization of <type>.bin
CI needs no Python: the C tests read these files (tests/formats/test_quant.c, test_gguf.c).
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

try:
    from importlib.metadata import version as _pkg_version
    GGUF_VERSION = _pkg_version("gguf")
except Exception:  # pragma: no cover
    GGUF_VERSION = "unknown"


def source_f32(rng):
    """4 rows x 256: blocks of 32 at many scales, an all-zero block, ties in magnitude,
    a negative maximum, values whose scale is an f16 subnormal, exact halves."""
    x = rng.standard_normal((4, 256)).astype(np.float32)
    scales = np.array([1.0, 1e-3, 50.0, 3e-6, 0.25, 1000.0, 1e-5, 7.0], dtype=np.float32)
    for b in range(8):
        x[:, b * 32:(b + 1) * 32] *= scales[b]
    x[0, 0:32] = 0.0                                   # zero block: d = 0
    x[1, 32:64] = np.linspace(-4, 4, 32, dtype=np.float32)
    x[1, 32] = -4.0                                    # tie in |max|: first one wins
    x[1, 63] = 4.0
    x[2, 64:96] = -np.abs(x[2, 64:96])                 # all negative
    x[3, 96:128] = np.arange(32, dtype=np.float32) * 0.5 - 8.0  # exact halves
    return x


def random_k_blocks(rng, qtype, n_blocks):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    # finite, moderately sized f16 scales
    d = (rng.uniform(0.001, 0.1, n_blocks)).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    if qtype == T.Q4_K:
        dmin = (rng.uniform(0.0001, 0.05, n_blocks)).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
        raw[:, 0:2] = d
        raw[:, 2:4] = dmin
    elif qtype == T.Q6_K:
        raw[:, size - 2:size] = d
    else:
        raise ValueError(qtype)
    return raw


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "data")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261202)

    src = source_f32(rng)
    src.tofile(os.path.join(out, "quant_src.f32"))

    tensors = {}
    tensors["q8_0"] = (quantize(src, T.Q8_0), T.Q8_0)
    tensors["q4_0"] = (quantize(src, T.Q4_0), T.Q4_0)
    tensors["q4_k"] = (random_k_blocks(rng, T.Q4_K, 4).reshape(2, 2 * 144), T.Q4_K)  # 2 x 512
    tensors["q6_k"] = (random_k_blocks(rng, T.Q6_K, 4).reshape(4, 210), T.Q6_K)      # 4 x 256

    for name, (data, qtype) in tensors.items():
        data.tofile(os.path.join(out, name + ".bin"))
        ref = dequantize(data, qtype).astype(np.float32)
        ref.tofile(os.path.join(out, name + ".deq.f32"))

    w = gguf.GGUFWriter(os.path.join(out, "tiny.gguf"), "llama")
    w.add_string("general.name", "xhal test")
    w.add_string("xhal.test.gguf_py_version", GGUF_VERSION)
    w.add_uint32("llama.context_length", 64)
    w.add_key_value("xhal.test.u8", 200, gguf.GGUFValueType.UINT8)
    w.add_key_value("xhal.test.i8", -100, gguf.GGUFValueType.INT8)
    w.add_key_value("xhal.test.u16", 60000, gguf.GGUFValueType.UINT16)
    w.add_key_value("xhal.test.i16", -30000, gguf.GGUFValueType.INT16)
    w.add_key_value("xhal.test.i32", -2000000000, gguf.GGUFValueType.INT32)
    w.add_key_value("xhal.test.u64", 2**63 + 5, gguf.GGUFValueType.UINT64)
    w.add_key_value("xhal.test.i64", -(2**62), gguf.GGUFValueType.INT64)
    w.add_key_value("xhal.test.f32", 0.5, gguf.GGUFValueType.FLOAT32)
    w.add_key_value("xhal.test.f64", -2.25, gguf.GGUFValueType.FLOAT64)
    w.add_bool("xhal.test.bool", True)
    w.add_array("xhal.test.strings", ["a", "", "xyz"])
    w.add_key_value("xhal.test.ints", [1, -2, 3], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32)

    plain = rng.standard_normal((3, 5)).astype(np.float32)
    plain.tofile(os.path.join(out, "plain.f32"))
    w.add_tensor("plain_f32", plain)
    w.add_tensor("plain_f16", plain.astype(np.float16))
    for name, (data, qtype) in tensors.items():
        w.add_tensor("w_" + name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", out, "with gguf", GGUF_VERSION)


if __name__ == "__main__":
    main()
