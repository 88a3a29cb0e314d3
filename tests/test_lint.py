"""ruff (pinned in requirements.txt, settings in ruff.toml) finds nothing: the
same check as `make lint`, so CI catches what a developer forgot to run."""

import os
import subprocess
import sys

from harness.firmware import REPO

RUFF = os.path.join(os.path.dirname(sys.executable), "ruff")
LINT_PATHS = ["lib", "tools", "bench", "tests", "harness", "frozen", "boot.py", "main.py"]


def test_ruff_finds_nothing():
    res = subprocess.run([RUFF, "check", "--no-cache", *LINT_PATHS], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_make_lint_runs_the_same_check_with_short_status_lines():
    makefile = (REPO / "Makefile").read_text()
    assert "LINT_PATHS := " + " ".join(LINT_PATHS) in makefile
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    res = subprocess.run(["make", "--no-print-directory", "lint"], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[-1] == "lint: clean"
    # status lines only ("target: what it does"), not the recipes themselves
    assert all(line.split(":")[0] in ("venv", "lint") for line in lines), lines
