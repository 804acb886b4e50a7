"""xhal.conform() and xhal.vectors: cases written from Python are replayed by xhal-conform."""
import json
import math
import subprocess

import numpy as np
import pytest

import xhal
import xhal.vectors


def test_conform_ops_on_cpu(tmp_path):
    r = xhal.conform("cpu:0", suite="ops", filter="^(add|rms_norm)/f32/", report_dir=str(tmp_path))
    assert r.ok and r.returncode == 0 and not r.failures
    assert r.totals["passed"] > 0 and r.totals["failed"] == 0
    assert (tmp_path / "report.json").is_file() and (tmp_path / "report.html").is_file()
    assert r.report["schema"] == "xhal-conform-report"


def test_conform_usage_error():
    with pytest.raises(RuntimeError, match="no-such"):
        xhal.conform("no-such:0", suite="ops", filter="^add/f32/")


def _cases(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4,)).astype(np.float32)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    w = rng.standard_normal(8).astype(np.float32)
    m1 = rng.standard_normal((2, 3, 4)).astype(np.float16)
    m2 = rng.standard_normal((4, 5)).astype(np.float16)
    x64 = x.astype(np.float64)
    s = rng.standard_normal((3, 6)).astype(np.float32)
    bf = rng.standard_normal((2, 8)).astype(np.float32)
    bf_bits = (bf.view(np.uint32) >> 16).astype(np.uint16)  # truncation is a valid bf16 value
    bf_vals = (bf_bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return [
        {"name": "add_f32_bcast", "op": "add", "inputs": [a, b], "expected": a.astype(np.float64) + b},
        xhal.vectors.Case(name="rms_norm_f32_w", op="rms_norm", inputs=[x, w],
                          expected=x64 / np.sqrt((x64 ** 2).mean(-1, keepdims=True) + 1e-6) * w,
                          attrs={"eps": np.float64(1e-6)}),
        {"name": "matmul_f16_batched", "op": "matmul", "inputs": [m1, m2],
         "expected": m1.astype(np.float64) @ m2.astype(np.float64)},
        {"name": "argmax_f32", "op": "argmax", "inputs": [s], "expected": s.argmax(1).astype(np.int64),
         "attrs": {"axis": 1}},
        {"name": "silu_bf16", "op": "silu", "dtype": "bf16",
         "inputs": [xhal.from_numpy(bf_bits, dtype="bf16")], "expected": bf_vals / (1 + np.exp(-bf_vals))},
        {"name": "fill_nan", "op": "fill", "dtype": "f32", "expected": np.full((3,), np.nan),
         "attrs": {"value": math.nan}},
    ]


def test_vectors_written_from_python_replay(tmp_path, rng):
    path = xhal.vectors.write(tmp_path / "vec", _cases(rng))
    doc = json.loads(open(path).read())
    assert doc["version"] == 1 and [c["name"] for c in doc["cases"]][0] == "add_f32_bcast"
    silu = doc["cases"][4]
    assert silu["inputs"] == [{"file": "silu_bf16.in0.npy", "dtype": "bf16"}]
    assert doc["cases"][3]["out_dtype"] == "i64" and doc["cases"][5]["attrs"]["value"] == "nan"
    assert doc["cases"][2]["dtype"] == "f16"
    back = xhal.vectors.read(tmp_path / "vec")
    assert back[4].inputs[0].dtype == np.uint16

    # the tool replays them (directly, and through xhal.conform)
    p = subprocess.run([xhal.tool_path("xhal-conform"), "--device", "cpu:0", "--suite", "vectors", "--vectors",
                        str(tmp_path / "vec"), "--report", str(tmp_path / "rep"), "--format", "json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "6 passed, 0 failed" in p.stdout
    r = xhal.conform("cpu:0", suite="vectors", vectors=str(tmp_path / "vec"), report_dir=str(tmp_path / "rep2"))
    assert r.ok and r.totals["passed"] == 6


def test_vectors_a_wrong_expected_value_fails_by_name(tmp_path, rng):
    cases = _cases(rng)
    cases[0]["expected"] = cases[0]["expected"].copy()
    cases[0]["expected"][1, 2] += 0.5
    xhal.vectors.write(tmp_path, cases)
    r = xhal.conform("cpu:0", suite="vectors", vectors=str(tmp_path), report_dir=str(tmp_path / "rep"))
    assert not r.ok and r.returncode == 1
    assert r.totals["failed"] == 1 and r.totals["passed"] == 5
    assert [f["case"] for f in r.failures] == ["vectors/add_f32_bcast"]


def test_vectors_append_and_bad_cases(tmp_path, rng):
    a = np.ones((2, 2), np.float32)
    xhal.vectors.write(tmp_path, [{"name": "one", "op": "neg", "inputs": [a], "expected": -a}])
    xhal.vectors.write(tmp_path, [{"name": "two", "op": "abs", "inputs": [a], "expected": a}], append=True)
    assert [c.name for c in xhal.vectors.read(tmp_path)] == ["one", "two"]
    with pytest.raises(xhal.InvalidArgumentError, match="used twice"):
        xhal.vectors.write(tmp_path, [{"name": "two", "op": "abs", "inputs": [a], "expected": a}], append=True)
    with pytest.raises(xhal.InvalidArgumentError, match="frob"):
        xhal.vectors.write(tmp_path / "x", [{"name": "x", "op": "frob", "inputs": [a], "expected": a}])
    with pytest.raises(xhal.InvalidArgumentError, match="name"):
        xhal.vectors.write(tmp_path / "x", [{"name": "../evil", "op": "neg", "inputs": [a], "expected": a}])
    with pytest.raises(xhal.DtypeMismatchError, match="complex"):
        xhal.vectors.write(tmp_path / "x", [{"name": "c", "op": "neg", "inputs": [a.astype(np.complex64)],
                                             "expected": a}])
    assert not (tmp_path / "x").exists()  # nothing written for a bad case


def test_vectors_from_torch(tmp_path):
    torch = pytest.importorskip("torch")
    x = torch.randn(3, 8, dtype=torch.bfloat16)
    w = torch.randn(8, dtype=torch.bfloat16)
    y = torch.nn.functional.layer_norm(x.double(), (8,), w.double(), None, 1e-6)
    xhal.vectors.write(tmp_path, [{"name": "ln_bf16", "op": "layer_norm", "inputs": [x, w], "expected": y,
                                   "attrs": {"eps": 1e-6}}])
    r = xhal.conform("cpu:0", suite="vectors", vectors=str(tmp_path), report_dir=str(tmp_path / "rep"))
    assert r.ok, r.failures


def test_conform_uses_the_data_installed_with_the_package(tmp_path):
    import os

    r = xhal.conform("cpu:0", suite="vectors,model", report_dir=str(tmp_path))
    assert r.ok, r.failures
    pkg = os.path.dirname(os.path.realpath(xhal.__file__))
    assert os.path.realpath(r.report["options"]["vectors"]).startswith(pkg)
    assert r.totals["passed"] >= 3
