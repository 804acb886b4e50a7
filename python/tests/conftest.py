"""Shared fixtures of the xhal Python tests (numpy only; torch tests skip without torch)."""
import os
from pathlib import Path

import numpy as np
import pytest

import xhal

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "conformance" / "models" / "llama" / "reference"


def _spec_present(spec):
    try:
        xhal.device(spec)
        return True
    except xhal.Error:
        return False


# cpu:0 is always built; opencl:0 is PoCL in CI (build.sh installs it). A machine without an
# OpenCL platform skips the opencl cases, with the reason, rather than failing them.
DEVICE_SPECS = ["cpu:0", "opencl:0"]


@pytest.fixture(params=DEVICE_SPECS)
def dev(request):
    if not _spec_present(request.param):
        pytest.skip(f"{request.param} is not present on this machine")
    return xhal.device(request.param)


@pytest.fixture
def cpu():
    return xhal.device("cpu:0")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
