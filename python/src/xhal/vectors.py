"""Test vectors: write cases computed elsewhere (numpy, PyTorch, a reference GPU) in the
cases.json + .npy format of conformance/VECTORS.md, so that ``xhal-conform --vectors DIR``
(or ``xhal.conform(vectors=DIR)``) replays them on any chip.

A model team captures a failing layer from PyTorch like this::

    import xhal.vectors
    xhal.vectors.write("vec", [
        {"name": "ln_bf16", "op": "layer_norm", "inputs": [x, w, b], "expected": y,
         "attrs": {"eps": 1e-6}},
    ])
    xhal.conform("cpu:0", suite="vectors", vectors="vec")

Arrays may be numpy arrays, torch tensors (any device; bf16 included), xhal tensors or
anything ``numpy.asarray`` takes. bf16 inputs are stored as ``<u2`` bit patterns with
``{"file": ..., "dtype": "bf16"}`` as VECTORS.md says; a bf16 expected output is widened to
float32 (exact). Store expected outputs unrounded (float64) where you have them: the suite
rounds them to the output dtype before comparing.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _xhal

__all__ = ["Case", "write", "read"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_.+\-]+$")
_NP_TO_XHAL = {"float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "uint8": "u8",
               "int32": "i32", "int64": "i64"}


@dataclass
class Case:
    """One vector case (the keys of cases.json; arrays instead of file names).

    ``dtype`` defaults to the first input's dtype (the output's for ``copy`` and ``fill``);
    ``out_dtype`` to the expected array's dtype for ``argmax`` (i32/i64).
    """

    name: str
    op: str
    expected: Any
    inputs: Sequence[Any] = ()
    dtype: Optional[str] = None
    out_dtype: Optional[str] = None
    init: Any = None
    attrs: Dict[str, Any] = field(default_factory=dict)


def _to_numpy(x: Any, what: str) -> Tuple[Any, str]:
    """(array, xhal dtype name); bf16 comes back as uint16 bit patterns."""
    import numpy as np

    mod = type(x).__module__ or ""
    if mod.startswith("torch") and hasattr(x, "detach"):
        import torch  # only reached when the caller already uses torch

        t = x.detach().to("cpu").contiguous()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16), "bf16"
        if t.dtype == torch.bool:
            t = t.to(torch.uint8)
        x = t.numpy()
    elif isinstance(x, _xhal.Tensor):
        if x.dtype == "bf16":
            return np.frombuffer(x.read(), dtype="<u2").reshape(x.shape).copy(), "bf16"
        x = x.numpy()
    a = np.asarray(x)
    if a.dtype.name == "bfloat16":  # ml_dtypes' numpy bfloat16
        return np.ascontiguousarray(a).view(np.uint16), "bf16"
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    name = _NP_TO_XHAL.get(a.dtype.name)
    if name is None:
        raise _xhal.DtypeMismatchError(
            f"vectors: {what} has numpy dtype {a.dtype}; vectors hold float16/32/64, bfloat16, int8/32/64 and uint8")
    return a, name


def _save(directory: str, fname: str, a: Any) -> None:
    import numpy as np

    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and not np.little_endian):
        a = a.astype(a.dtype.newbyteorder("<"))
    np.save(os.path.join(directory, fname), a, allow_pickle=False)


def _json_attr(k: str, v: Any) -> Any:
    if hasattr(v, "item") and callable(v.item):  # numpy / torch scalars
        v = v.item()
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        if isinstance(v, float) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(v, str):
        return v
    raise _xhal.InvalidArgumentError(f"vectors: attribute '{k}' = {v!r} is not a number, bool or string")


def _as_case(c: Union[Case, Mapping[str, Any]]) -> Case:
    if isinstance(c, Case):
        return c
    if not isinstance(c, Mapping):
        raise TypeError(f"vectors: a case must be a Case or a dict, got {type(c).__name__}")
    unknown = set(c) - {"name", "op", "expected", "inputs", "dtype", "out_dtype", "init", "attrs"}
    if unknown:
        raise _xhal.InvalidArgumentError(f"vectors: case {c.get('name')!r} has unknown keys {sorted(unknown)}")
    for k in ("name", "op", "expected"):
        if k not in c:
            raise _xhal.InvalidArgumentError(f"vectors: case {c.get('name')!r} has no '{k}'")
    return Case(name=c["name"], op=c["op"], expected=c["expected"], inputs=c.get("inputs", ()) or (),
                dtype=c.get("dtype"), out_dtype=c.get("out_dtype"), init=c.get("init"),
                attrs=dict(c.get("attrs") or {}))


def write(directory: Union[str, "os.PathLike[str]"], cases: Iterable[Union[Case, Mapping[str, Any]]], *,
          append: bool = False) -> str:
    """Write ``cases`` into ``directory`` (created if missing) as cases.json plus one .npy per
    tensor, and return the path of cases.json.

    Each case is a :class:`Case` or a dict with its keys: ``name`` (unique; letters, digits,
    ``_ . + -``), ``op`` (an op name of OPS.md), ``inputs`` (arrays in the op's input order,
    VECTORS.md), ``expected``, and optionally ``dtype``, ``out_dtype``, ``init`` (output
    contents before the op, e.g. matmul with beta != 0) and ``attrs``. With ``append`` the
    cases are added to an existing cases.json of the folder. Bad cases raise
    :class:`xhal.InvalidArgumentError` (or DtypeMismatchError) naming the case, before any
    file is written.
    """
    directory = os.fspath(directory)
    prepared: List[Tuple[Dict[str, Any], List[Tuple[str, Any]]]] = []
    existing: List[Dict[str, Any]] = []
    path = os.path.join(directory, "cases.json")
    if append and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("version") != 1 or not isinstance(doc.get("cases"), list):
            raise _xhal.CorruptDataError(f"vectors: {path} is not a version 1 cases.json")
        existing = doc["cases"]
    names = {c.get("name") for c in existing}
    for raw in cases:
        c = _as_case(raw)
        if not isinstance(c.name, str) or not _NAME_RE.match(c.name):
            raise _xhal.InvalidArgumentError(
                f"vectors: case name {c.name!r} must be letters, digits, '_', '.', '+' or '-'")
        if c.name in names:
            raise _xhal.InvalidArgumentError(f"vectors: case name '{c.name}' is used twice")
        names.add(c.name)
        _xhal.op_from_name(c.op)  # raises InvalidArgumentError with xhal's message
        files: List[Tuple[str, Any]] = []
        inputs_json: List[Any] = []
        in_dtypes: List[str] = []
        for i, x in enumerate(c.inputs):
            a, dt = _to_numpy(x, f"case '{c.name}' input {i}")
            fname = f"{c.name}.in{i}.npy"
            files.append((fname, a))
            inputs_json.append({"file": fname, "dtype": "bf16"} if dt == "bf16" else fname)
            in_dtypes.append(dt)
        exp, exp_dt = _to_numpy(c.expected, f"case '{c.name}' expected")
        if exp_dt == "bf16":
            import numpy as np

            exp = (exp.astype(np.uint32) << 16).view(np.float32)
            exp_dt = "f32"
        files.append((f"{c.name}.expected.npy", exp))
        dtype = c.dtype
        if dtype is None:
            dtype = exp_dt if c.op in ("copy", "fill") or not in_dtypes else in_dtypes[0]
        dtype = _xhal.dtype_name(dtype)
        entry: Dict[str, Any] = {"name": c.name, "op": c.op, "dtype": dtype}
        if inputs_json:
            entry["inputs"] = inputs_json
        entry["expected"] = f"{c.name}.expected.npy"
        out_dtype = c.out_dtype
        if out_dtype is None and c.op == "argmax":
            out_dtype = exp_dt
        if out_dtype is not None:
            entry["out_dtype"] = _xhal.dtype_name(out_dtype)
        if c.init is not None:
            init, init_dt = _to_numpy(c.init, f"case '{c.name}' init")
            if init_dt == "bf16":
                import numpy as np

                init = (init.astype(np.uint32) << 16).view(np.float32)
            files.append((f"{c.name}.init.npy", init))
            entry["init"] = f"{c.name}.init.npy"
        if c.attrs:
            entry["attrs"] = {str(k): _json_attr(str(k), v) for k, v in c.attrs.items()}
        prepared.append((entry, files))
    os.makedirs(directory, exist_ok=True)
    for _, files in prepared:
        for fname, a in files:
            _save(directory, fname, a)
    doc = {"format": "xhal-vectors", "version": 1, "cases": existing + [e for e, _ in prepared]}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read(directory: Union[str, "os.PathLike[str]"]) -> List[Case]:
    """The cases of ``directory``/cases.json with their arrays loaded (bf16 as uint16 bits)."""
    import numpy as np

    directory = os.fspath(directory)
    with open(os.path.join(directory, "cases.json"), encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("version") != 1:
        raise _xhal.CorruptDataError(f"vectors: {directory}/cases.json has version {doc.get('version')!r}, not 1")

    def load(t: Any) -> Any:
        fname = t["file"] if isinstance(t, dict) else t
        return np.load(os.path.join(directory, fname), allow_pickle=False)

    out = []
    for c in doc["cases"]:
        out.append(Case(name=c["name"], op=c["op"], expected=load(c["expected"]),
                        inputs=[load(t) for t in c.get("inputs", [])], dtype=c.get("dtype"),
                        out_dtype=c.get("out_dtype"), init=load(c["init"]) if "init" in c else None,
                        attrs=dict(c.get("attrs", {}))))
    return out
