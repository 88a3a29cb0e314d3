"""Map a traceback from a board back to the source (docs/deploying.md,
Tracebacks on a board).

A firmware compiled with `mpy-cross -O3` keeps no line numbers: every frame
of a traceback says `line 1` (or a line that is not in the function), but it
still names the file and the function. This tool reads a traceback (a log
line of the firmware, a GetDiagnostics file, a REPL session: any text with
`File "...", line N, in NAME` lines) and, from the sources of the commit the
board runs, prints for each frame the function's place in its file and, for
every frame but the innermost, the lines of that function that call the
next frame's function: usually one line. A line number that does lie inside
the function (a build without -O3) is printed as it is.

    .venv/bin/python tools/traceback_map.py [--rev COMMIT] [--lib DIR] [FILE]

FILE (default stdin) holds the traceback; --rev reads lib/ from that git
commit (the one the board's update was built from) instead of the working
tree; --lib names another source directory (lib/ by default).
"""

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


class Sources:
    """The .py sources of lib/, from the working tree or one git commit."""

    def __init__(self, lib, rev=None):
        self.lib, self.rev, self._cache = Path(lib), rev, {}

    def relative(self, name):
        """A traceback's file name (/lib/uocpp/log.mpy, lib/uocpp/log.py,
        /rom/uocpp/log.mpy, uocpp/log.py) -> the path under lib/, or None."""
        name = re.sub(r"\.mpy$", ".py", name.replace("\\", "/"))
        for marker in ("/lib/", "/rom/"):
            if marker in "/" + name:
                name = ("/" + name).rsplit(marker, 1)[1]
                break
        name = name.lstrip("/")
        return name if self.text(name) is not None else None

    def text(self, rel):
        if rel not in self._cache:
            if self.rev:
                try:
                    path = (self.lib.resolve().relative_to(REPO) / rel).as_posix()
                except ValueError:
                    path = (Path("lib") / rel).as_posix()
                got = subprocess.run(["git", "-C", str(REPO), "show", "%s:%s" % (self.rev, path)], capture_output=True, text=True)
                self._cache[rel] = got.stdout if got.returncode == 0 else None
            else:
                p = self.lib / rel
                self._cache[rel] = p.read_text() if p.is_file() else None
        return self._cache[rel]


def functions(source, name):
    """The (first line, last line, qualified name) of every function called
    `name` in a module's source (methods and nested functions too); for
    `<module>` the whole file."""
    tree = ast.parse(source)
    if name == "<module>":
        return [(1, len(source.splitlines()), "<module>")]
    found = []

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = prefix + child.name
                if not isinstance(child, ast.ClassDef) and child.name == name:
                    first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                    found.append((first, child.end_lineno, qual))
                walk(child, qual + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return found


def callers(source, first, last, callee):
    """Line numbers between first and last that call `callee` (a name or
    attribute call, await or not)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and first <= node.lineno <= last:
            f = node.func
            called = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if called == callee or (callee == "__init__" and called and called[:1].isupper()):
                lines.append(node.lineno)
    return sorted(set(lines))


def split(text):
    """Its lines: the log on flash keeps a traceback on one line, its
    newlines as " | "."""
    return [part for line in text.splitlines() for part in line.split(" | ")]


def frames(text):
    """The frames of the last traceback in `text`: [(file, line, function)]."""
    out = []
    for line in split(text):
        if "Traceback (most recent call last)" in line:
            out = []
        m = FRAME.search(line)
        if m:
            out.append((m.group(1), int(m.group(2)), m.group(3)))
    return out


def explain(text, sources):
    """The report for a traceback: a list of lines."""
    got = frames(text)
    if not got:
        return ['no "File ..., line N, in NAME" lines found']
    report = []
    for i, (name, number, func) in enumerate(got):
        rel = sources.relative(name)
        report.append('File "%s", line %d, in %s' % (name, number, func))
        if rel is None:
            report.append("    (not a file of lib/: %s)" % name)
            continue
        source = sources.text(rel)
        src_lines = source.splitlines()
        places = functions(source, func)
        if not places:
            report.append("    lib/%s: no function %s (another commit? try --rev)" % (rel, func))
            continue
        callee = got[i + 1][2] if i + 1 < len(got) else None
        for first, last, qual in places:
            report.append("    lib/%s:%d-%d: %s" % (rel, first, last, qual))
            if first <= number <= last and number > 1:
                lines = [number]
            elif callee:
                lines = callers(source, first, last, callee)
            else:
                report.append("    (the innermost frame: the error was raised in these lines)")
                continue
            for n in lines:
                report.append("    lib/%s:%d: %s" % (rel, n, src_lines[n - 1].strip()))
    # The exception itself: the first line after the last frame (and its source line).
    lines = split(text)
    last = max(i for i, line in enumerate(lines) if FRAME.search(line))
    for line in lines[last + 1 :]:
        if line.strip() and not line.startswith("    "):
            report.append(line.strip())
            break
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", help="the traceback (default: stdin)")
    ap.add_argument("--rev", help="read the sources from this git commit (the one the board runs)")
    ap.add_argument("--lib", default=str(REPO / "lib"), help="the source directory (default: lib/)")
    args = ap.parse_args(argv)
    text = Path(args.file).read_text() if args.file else sys.stdin.read()
    print("\n".join(explain(text, Sources(args.lib, args.rev))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
