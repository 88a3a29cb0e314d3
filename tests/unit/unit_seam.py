# The hardware seam (lib/uocpp/platform/seam.py) against every port module
# and every implementation, by name and arity, and the one-way imports
# (platform -> device drivers). MicroPython has no inspect: the arity comes
# from each module's source (its `def` lines).
import os
import sys

from uocpp.platform import seam

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
_LIB = _HERE + "/../../lib"
# The ESP32 port imports machine and network: the twin's stand-ins
# (they connect to nothing until used).
sys.path.append(_HERE + "/../../harness/twin/board")


def _params(text):
    # "self, n, amps=None, *args" -> (required, total or None for *args)
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    out = [p for p in out if p not in ("self", "cls")]
    if any(p.startswith("*") and not p.startswith("**") for p in out):
        return len([p for p in out if "=" not in p and not p.startswith("*")]), None
    out = [p for p in out if not p.startswith("**")]
    return len([p for p in out if "=" not in p]), len(out)


def signatures(path):
    # {"func": (required, total), "Class.method": ...} of a source file.
    sigs = {}
    cls = None
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if indent == 0 and stripped:
            cls = None
            if stripped.startswith("class "):
                cls = stripped[6:].split("(")[0].split(":")[0].strip()
        for prefix in ("def ", "async def "):
            if stripped.startswith(prefix) and (indent == 0 or (cls and indent == 4)):
                name = stripped[len(prefix) :].split("(")[0]
                text = stripped[stripped.index("(") + 1 :]
                while "):" not in text and ") ->" not in text:
                    i += 1
                    text += lines[i].strip()
                text = text[: text.rindex(")")]
                key = name if indent == 0 else cls + "." + name
                sigs[key] = _params(text)
        i += 1
    return sigs


def _source(module):
    return _LIB + "/" + module.replace(".", "/") + ".py"


def _check(module, cls, protocol, problems):
    sigs = signatures(_source(module))
    for name, args in getattr(seam, protocol):
        key = name if cls is None else cls + "." + name
        if key not in sigs:
            problems.append("%s: %s lacks %s (%s)" % (module, protocol, key, ", ".join(args)))
            continue
        required, total = sigs[key]
        n = len(args)
        if not (required <= n and (total is None or n <= total)):
            problems.append("%s: %s takes %d..%s arguments, the seam gives %d" % (module, key, required, total, n))


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def test_every_implementation_follows_the_seam():
    problems = []
    for module, cls, protocols in seam.IMPLEMENTATIONS:
        if module == "uocpp.device.card_reader" and not _exists(_source(module)):
            continue  # branch `reader` brings it (issue 23): checked from the merge on
        for protocol in protocols:
            _check(module, cls, protocol, problems)
    assert not problems, "\n".join(problems)


def test_the_port_modules_offer_every_function_at_run_time():
    # By name on the imported modules too (what `from ... import *` gives).
    import uocpp.platform.esp32 as esp32
    import uocpp.platform.unix as unix

    for port in (unix, esp32):
        missing = [name for name, _ in seam.PORT if not callable(getattr(port, name, None))]
        assert not missing, "%s lacks %s" % (port.__name__, missing)
    assert callable(getattr(esp32, "ota", None))


def test_evse_attributes_are_set_by_each_evse():
    for module, cls in (("uocpp.platform.evse_sim", "SimEvse"), ("uocpp.platform.esp32_evse", "Esp32Evse")):
        with open(_source(module)) as f:
            text = f.read()
        for attr in seam.EVSE_ATTRIBUTES:
            assert ("self.%s =" % attr) in text, (module, attr)


def test_a_drift_is_caught():
    # The checker itself: a method with the wrong arity and a missing one.
    path = "/tmp/unit_seam_drift.py"
    with open(path, "w") as f:
        f.write("class E:\n    def pilot(self):\n        pass\n\n    async def run(self, firmware, extra):\n        pass\n")
    sigs = signatures(path)
    os.remove(path)
    assert sigs == {"E.pilot": (0, 0), "E.run": (2, 2)}, sigs


def test_device_drivers_never_import_the_platform():
    # Imports run platform -> device, never back up (device/watchdog.py Board gets
    # the platform's watchdog and Wi-Fi station from app.py).
    offenders = []
    base = _LIB + "/uocpp/device"
    for name in sorted(os.listdir(base)):
        if not name.endswith(".py"):
            continue
        with open(base + "/" + name) as f:
            text = f.read()
        if "uocpp.platform" in text or "import platform" in text or ", platform" in text:
            offenders.append(name)
    assert not offenders, offenders


TESTS = (
    test_a_drift_is_caught,
    test_every_implementation_follows_the_seam,
    test_the_port_modules_offer_every_function_at_run_time,
    test_evse_attributes_are_set_by_each_evse,
    test_device_drivers_never_import_the_platform,
)
