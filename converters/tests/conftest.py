"""Shared pytest fixtures: the built `tailor` binary and the converters on sys.path."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


@pytest.fixture(scope="session")
def tailor_bin():
    path = os.environ.get("TAILOR_BIN")
    assert path and os.path.exists(path), "set TAILOR_BIN to the built tailor executable (ctest does)"
    return path


@pytest.fixture
def run_tailor(tailor_bin):
    def run(*args, input=None, check=False):
        r = subprocess.run([tailor_bin, *args], input=input, capture_output=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"tailor {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
        return r
    return run
