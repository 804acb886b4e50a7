"""xhal.conform(): the conformance suite from Python.

It runs the ``xhal-conform`` tool that ships inside this package (``xhal/bin/xhal-conform``,
a thin main over the suite's library, linked to the same libxhal and plugins as the
extension) in a child process and reads the ``report.json`` it writes. A child process keeps a
device or driver that misbehaves in the suite away from the caller, and the tool's command
line is the suite's documented interface (conformance/REPORT.md).
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

_HERE = os.path.dirname(os.path.abspath(__file__))


def tool_path(name: str) -> str:
    """Path of a tool shipped in the package: ``xhal-conform``, ``xhal-run``, ``xhal-info``,
    ``xhal-bench``. Raises FileNotFoundError when it is not there."""
    p = os.path.join(_HERE, "bin", name)
    if not os.path.isfile(p) or not os.access(p, os.X_OK):
        raise FileNotFoundError(f"{name} is not in this xhal package ({p})")
    return p


def shipped_vectors_dir() -> str:
    """The test vectors shipped with the package (conformance/vectors/default)."""
    return os.path.join(_HERE, "share", "xhal", "conformance", "vectors", "default")


@dataclass
class ConformResult:
    """What one run of the suite said.

    ``ok`` is True when every selected suite ran and passed (unsupported cases are shown, not
    failures): the tool's exit status 0. ``returncode`` 1 means a case failed (or an expected
    failure passed), 3 that nothing failed but a selected suite ran nothing on a device. ``report`` is the parsed report.json (schema in
    conformance/REPORT.md); ``totals`` its totals; ``failures`` the failing cases
    (name, device, message); ``report_dir`` holds the files written.
    """

    returncode: int
    ok: bool
    report: Dict[str, Any]
    report_dir: str
    command: List[str]
    stdout: str
    stderr: str
    totals: Dict[str, Any] = field(default_factory=dict)
    failures: List[Dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok


def _failures(report: Dict[str, Any]) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []

    def walk(o: Any, device: Optional[str]) -> None:
        if isinstance(o, dict):
            dev = o.get("spec", device) if isinstance(o.get("spec"), str) else device
            if o.get("outcome") in ("fail", "xpass", "FAIL", "XPASS"):
                out.append({"case": o.get("case"), "device": dev, "outcome": o.get("outcome"),
                            "message": o.get("message", o.get("expected_failure", ""))})
            if o.get("status") == "fail" and "model" in o:
                out.append({"case": "model/" + str(o.get("model")), "device": dev, "outcome": "fail",
                            "message": o.get("message", "")})
            for v in o.values():
                walk(v, dev)
        elif isinstance(o, list):
            for v in o:
                walk(v, device)

    walk(report, None)
    return out


def conform(devices: Union[str, Sequence[str], None] = None, *, suite: Union[str, Sequence[str]] = "all",
            filter: Optional[str] = None, report_dir: Optional[str] = None,
            formats: Union[str, Sequence[str]] = ("json", "md", "html", "junit"),
            expected_failures: Optional[str] = None, vectors: Optional[str] = None,
            models: Optional[str] = None, seed: Optional[int] = None,
            env: Optional[Dict[str, str]] = None, timeout: Optional[float] = None) -> ConformResult:
    """Run the conformance suite on devices and return what it found.

    Arguments mirror ``xhal-conform`` (README, conformance/REPORT.md): ``devices`` specs such as
    ``"cpu:0"`` (default: every device); ``suite`` ``"ops"``, ``"vectors"``, ``"model"``,
    ``"all"`` or a list of them; ``filter`` a POSIX extended regex on case names;
    ``vectors`` a folder with cases.json (see :mod:`xhal.vectors`); ``expected_failures`` a
    file of expected-failure lines; ``report_dir`` where report.json/.md/.html and junit.xml
    go (default: a new temporary folder, whose path is in the result). JSON is always written
    so that the result can be read. The vectors and reference models default to those
    installed with the package. A usage or setup error of the tool (exit status 2) raises
    RuntimeError with its message.
    """
    cmd = [tool_path("xhal-conform")]
    if isinstance(devices, str):
        devices = [devices]
    for d in devices or ():
        cmd += ["--device", str(d)]
    if not isinstance(suite, str):
        suite = ",".join(suite)
    cmd += ["--suite", suite]
    if filter is not None:
        cmd += ["--filter", filter]
    if isinstance(formats, str):
        formats = formats.split(",")
    fmts = list(dict.fromkeys(["json", *formats]))
    if report_dir is None:
        report_dir = tempfile.mkdtemp(prefix="xhal-conform-")
    cmd += ["--report", report_dir, "--format", ",".join(fmts)]
    if expected_failures is not None:
        cmd += ["--expected-failures", os.fspath(expected_failures)]
    if vectors is not None:  # default: the vectors installed with the package, found by the tool
        cmd += ["--vectors", os.fspath(vectors)]
    if models is not None:
        cmd += ["--models", os.fspath(models)]
    if seed is not None:
        cmd += ["--seed", str(int(seed))]
    cmd.append("--quiet")
    run_env = dict(os.environ)
    if env:
        run_env.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True, env=run_env, timeout=timeout)
    if p.returncode not in (0, 1, 3):
        raise RuntimeError(f"xhal-conform exited with {p.returncode}: {p.stderr.strip() or p.stdout.strip()}")
    path = os.path.join(report_dir, "report.json")
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise RuntimeError(f"xhal-conform wrote no readable {path}: {e}; stderr: {p.stderr.strip()}") from e
    totals = report.get("totals", {}) if isinstance(report, dict) else {}
    return ConformResult(returncode=p.returncode, ok=p.returncode == 0, report=report, report_dir=report_dir,
                         command=cmd, stdout=p.stdout, stderr=p.stderr, totals=totals,
                         failures=_failures(report))

