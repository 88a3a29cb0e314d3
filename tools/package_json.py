"""Regenerate package.json (for `mip install`) from the .py files under lib/uocpp.

    python tools/package_json.py        # rewrite package.json
The test suite checks that package.json lists exactly these files.
"""

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main():
    version = re.search(r'__version__ = "([^"]+)"', (REPO / "lib/uocpp/__init__.py").read_text()).group(1)
    doc = json.loads((REPO / "package.json").read_text())
    sources = sorted(str(p.relative_to(REPO / "lib")) for p in (REPO / "lib/uocpp").rglob("*.py"))
    doc["urls"] = [[s, "lib/" + s] for s in sources]
    doc["version"] = version
    (REPO / "package.json").write_text(json.dumps(doc, indent=2).replace('[\n      "', '["').replace('",\n      "', '", "').replace('"\n    ]', '"]') + "\n")


if __name__ == "__main__":
    main()
