"""Keep the numbered table of contents of the long docs/ pages current.

A page longer than LONG lines opens with a `## Contents` list of its `##`
and `###` headings (numbered, linked to GitHub's anchors), after its title
and first paragraph. tests/test_docs.py checks that every long page's
list is what this tool writes.

    .venv/bin/python tools/docs_toc.py            # rewrites docs/*.md in place
    .venv/bin/python tools/docs_toc.py PAGE.md    # those pages only
"""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LONG = 150
_CONTENTS = re.compile(r"\n## Contents\n\n(?:[ ]*\d+\. \[.*\n)+\n")


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces
    to hyphens (inline code and links keep their text)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text.replace("`", ""))
    return text.replace(" ", "-")


def prose(text):
    """The lines of a Markdown text outside fenced code blocks."""
    fenced = False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def with_contents(text):
    """The page with its contents list (re)made; a short page unchanged."""
    text = _CONTENTS.sub("\n", text, count=1)
    if len(text.split("\n")) <= LONG:
        return text
    items, major, minor = [], 0, 0
    for line in prose(text):
        m = re.match(r"^(##|###) (.+?)\s*$", line)
        if not m:
            continue
        title = m.group(2).replace("`", "")
        if m.group(1) == "##":
            major, minor = major + 1, 0
            items.append("%d. [%s](#%s)" % (major, title, slug(m.group(2))))
        else:
            minor += 1
            items.append("   %d. [%s](#%s)" % (minor, title, slug(m.group(2))))
    lines = text.split("\n")
    # After the title and the paragraph under it (if that comes first).
    i = 1
    while i < len(lines) and lines[i] == "":
        i += 1
    if i < len(lines) and not lines[i].startswith("#"):
        while i < len(lines) and lines[i] != "":
            i += 1
    else:
        i = 1
    return "\n".join(lines[:i] + ["", "## Contents", ""] + items + lines[i:])


def main(argv=None):
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or sorted((REPO / "docs").glob("*.md"))
    for path in paths:
        text = path.read_text()
        new = with_contents(text)
        if new != text:
            path.write_text(new)
            print("docs_toc: contents of %s" % path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
