# Host-only launcher for the per-module breakdown (bench/modules.py): runs the
# firmware's main with an __import__ hook that appends every module as it
# finishes loading to the file named by $OCPP_IMPORT_TRACE and, at the first
# heap report (log.heapInterval) once registered (the BootNotification's part
# has left), the line "-- boot" followed by the modules then in sys.modules
# (what stays loaded after boot). The hook costs heap, so
# this run only yields the order; bench/import_cost.py measures.
import builtins
import os
import sys

_out = open(os.getenv("OCPP_IMPORT_TRACE"), "w")
_seen = set(sys.modules)
_import = builtins.__import__
_BOOT_PART = "uocpp.services.boot_notification"


def _hook(name, globals=None, locals=None, fromlist=(), level=0):
    # A module is registered in sys.modules when its import starts, so one
    # counts as loaded only when the call that brought it in returns; nested
    # calls see the modules still loading around them as already there.
    before = set(sys.modules)
    mod = _import(name, globals, locals, fromlist, level)
    new = [m for m in sys.modules if m not in before and m not in _seen]
    # A fromlist import loads submodules the hook never sees by name: in
    # fromlist order, after their package.
    order = list(fromlist) if isinstance(fromlist, (tuple, list)) else []
    new.sort(key=lambda m: (m.count("."), order.index(m.rsplit(".", 1)[1]) if m.rsplit(".", 1)[-1] in order else -1))
    for m in new:
        _seen.add(m)
        _out.write(m + "\n")
        if m.rsplit(".", 1)[-1] == "diag":
            _patch(sys.modules[m])
    if new:
        _out.flush()
    return mod


def _patch(diag):
    heap = diag.heap

    def first_report():
        if _BOOT_PART not in _seen or _BOOT_PART in sys.modules:
            # Not registered yet (the boot's part, loaded at boot, leaves once
            # Accepted): the reply's check may load its module after this
            # report. A part renamed never closes the trace: the bench's wait
            # for it fails, instead of a trace that ends too early.
            return heap()
        diag.heap = heap
        _out.write("-- boot\n" + "\n".join(sys.modules) + "\n")
        _out.close()
        return heap()

    diag.heap = first_report


builtins.__import__ = _hook
if __name__ == "__main__":
    # $OCPP_MAIN: the main.py to run (its directory goes first on the path).
    # The ESP32 twin's boot (harness/twin/board/twin_boot.py) runs this
    # file only for its hook, and then main.py as a board does.
    sys.path.insert(0, os.getenv("OCPP_MAIN").rsplit("/", 1)[0])

    import main  # noqa: E402,F401 - runs the firmware
