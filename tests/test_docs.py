"""The README and the docs/ pages: a first screen and a map (issue 26).

Every relative link in README.md and docs/*.md points at a file that exists
and, with a #fragment, at a heading (or an explicit anchor) of that file,
as GitHub renders it; the README stays under 300 lines; a page longer than
about 150 lines opens with a numbered table of contents; the bench's marked
blocks are where the bench writes them, once each.
"""

import re
from pathlib import Path

from bench.common import BENCH_BLOCKS, doc_files
from tools.docs_toc import LONG, prose, slug, with_contents

REPO = Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
ANCHOR = re.compile(r"<a (?:id|name)=\"([^\"]+)\"")


def anchors(path):
    """Every anchor of a Markdown file: its headings' (with GitHub's -1, -2
    for repeats) and explicit <a id=...>."""
    seen = {}
    found = set()
    for line in prose(path.read_text()):
        m = re.match(r"^#{1,6} (.+?)\s*$", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            found.add(s if n == 0 else "%s-%d" % (s, n))
        found.update(ANCHOR.findall(line))
    return found


def links(path):
    """(line number, target) of each relative link outside code."""
    out = []
    for number, line in enumerate(path.read_text().split("\n"), 1):
        line = re.sub(r"`[^`]*`", "", line)
        for target in LINK.findall(line):
            if not re.match(r"^[a-z]+:", target):
                out.append((number, target))
    return out


def test_doc_files_are_the_readme_and_the_docs_pages():
    files = doc_files()
    assert files[0] == REPO / "README.md"
    assert REPO / "docs" / "performance.md" in files and REPO / "docs" / "requirements.md" in files


def test_every_relative_link_resolves():
    broken = []
    for path in doc_files():
        for number, target in links(path):
            name, _, fragment = target.partition("#")
            dest = (path.parent / name).resolve() if name else path
            where = "%s:%d: %s" % (path.relative_to(REPO), number, target)
            if not dest.exists():
                broken.append(where + " (no such file)")
            elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                broken.append(where + " (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_link_checker_catches_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n## The `config.json` keys\n\n[ok](#the-configjson-keys) [bad](#nothing) `[code](#x)`\n")
    assert links(page) == [(5, "#the-configjson-keys"), (5, "#nothing")]
    assert anchors(page) == {"a-page", "the-configjson-keys"}


def test_readme_is_a_first_screen_under_300_lines():
    readme = (REPO / "README.md").read_text()
    assert len(readme.split("\n")) < 300
    for page in sorted((REPO / "docs").glob("*.md")):
        assert "docs/%s" % page.name in readme, "README's map does not link " + page.name


def test_long_pages_open_with_a_numbered_table_of_contents():
    """Every page over LONG lines opens with its contents, current (what
    tools/docs_toc.py writes: run it after adding a page or a heading)."""
    for path in doc_files()[1:]:
        text = path.read_text()
        if len(text.split("\n")) > LONG:
            assert "\n## Contents\n\n1. [" in "\n".join(text.split("\n")[:40]), path.name + ": no numbered contents at the top"
            assert with_contents(text) == text, path.name + ": contents out of date: run .venv/bin/python tools/docs_toc.py"


def test_contents_are_made_once_and_follow_the_headings():
    body = "\n".join("line %d" % i for i in range(LONG))
    page = "# Page\n\nWhat it is.\n\n## First `x.json`\n\n### Sub\n\n## Second\n\n" + body + "\n"
    made = with_contents(page)
    assert "## Contents\n\n1. [First x.json](#first-xjson)\n   1. [Sub](#sub)\n2. [Second](#second)\n\n## First" in made
    assert made.startswith("# Page\n\nWhat it is.\n\n## Contents")
    assert with_contents(made) == made
    assert with_contents(made.replace("## Second", "## Third")).count("## Contents") == 1
    assert "2. [Third](#third)" in with_contents(made.replace("## Second", "## Third"))


def test_bench_blocks_are_each_in_one_place():
    """The bench writes every figure: each marked block is in exactly one
    file, begin before end (bench/common.py write_blocks fills them)."""
    texts = {p: p.read_text() for p in doc_files()}
    for begin, end in BENCH_BLOCKS.values():
        holders = [p for p, t in texts.items() if begin in t]
        assert len(holders) == 1, (begin, holders)
        text = texts[holders[0]]
        assert text.count(begin) == 1 and text.find(end) > text.find(begin), begin
