"""Regenerate package.json (for `mip install`) from the .py files under lib/uocpp.

    python tools/package_json.py        # rewrite package.json
The test suite checks that package.json lists exactly these files, and after
them microdot (the web page's library: MICRODOT_VERSION and MICRODOT_FILES
of the Makefile, the same files `make` fetches into lib/microdot/), from its
release on GitHub.
"""

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


MICRODOT_URL = "https://raw.githubusercontent.com/miguelgrinberg/microdot/v%s/src/microdot/%s"


def microdot_urls():
    make = (REPO / "Makefile").read_text()
    version = re.search(r"^MICRODOT_VERSION := (\S+)$", make, re.M).group(1)
    files = re.search(r"^MICRODOT_FILES := (.+)$", make, re.M).group(1).split()
    return [["microdot/" + f, MICRODOT_URL % (version, f)] for f in files]


def main():
    version = re.search(r'__version__ = "([^"]+)"', (REPO / "lib/uocpp/__init__.py").read_text()).group(1)
    doc = json.loads((REPO / "package.json").read_text())
    sources = sorted(str(p.relative_to(REPO / "lib")) for p in (REPO / "lib/uocpp").rglob("*.py"))
    doc["urls"] = [[s, "lib/" + s] for s in sources] + microdot_urls()
    doc["version"] = version
    (REPO / "package.json").write_text(json.dumps(doc, indent=2).replace('[\n      "', '["').replace('",\n      "', '", "').replace('"\n    ]', '"]') + "\n")


if __name__ == "__main__":
    main()
