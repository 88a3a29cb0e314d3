"""Pure modules tested directly on MicroPython, in milliseconds.

Each tests/unit/unit_*.py runs in one `micropython` process through
tests/unit/runner.py, as one case here that lists every failing function.
"""

import os
import subprocess
from pathlib import Path

import pytest

from harness.firmware import MICROPYTHON, REPO

UNIT = Path(__file__).resolve().parent / "unit"
MODULES = sorted(p.stem for p in UNIT.glob("unit_*.py"))


def run_module(name):
    env = dict(os.environ, MICROPYPATH=".frozen:%s:%s" % (REPO / "lib", UNIT))
    proc = subprocess.run([MICROPYTHON, str(UNIT / "runner.py"), name], capture_output=True, text=True, timeout=30, env=env, cwd=UNIT)
    return proc


@pytest.mark.parametrize("module", MODULES)
def test_unit_module(module):
    proc = run_module(module)
    out = proc.stdout
    summary = [line for line in out.splitlines() if line.startswith("SUMMARY ")]
    assert summary, "the runner did not finish:\n" + out + proc.stderr
    passed, failed = map(int, summary[-1].split()[1:])
    assert failed == 0, out
    assert passed > 0, "no test in " + module
