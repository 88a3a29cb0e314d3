# Host-only launcher for bench/heap_map.py: runs the firmware's main and, at
# the first heap report (log.heapInterval; with HEAPMAP_WHEN, the first after
# that file exists), prints the whole live heap for
# the host to take apart: micropython.mem_info(1)'s block map, the words of
# every used block (uctypes), and the addresses of what can be named (the
# modules, their classes and functions, the app's parts two levels down, the
# supervised tasks). Runs on the unix port only; this launcher's own objects
# are in the heap too (the module __main__), a few hundred bytes.
import builtins
import os
import sys

_import = builtins.__import__
_app = []
_M = 0xFFFFFFFF


def _hook(name, globals=None, locals=None, fromlist=(), level=0):
    mod = _import(name, globals, locals, fromlist, level)
    a = sys.modules.get("uocpp.app")
    d = sys.modules.get("uocpp.extras.diag")
    if a is not None and not _app and hasattr(a, "App"):  # loaded, not loading
        init = a.App.__init__

        def app_init(self, *args):
            _app.append(self)
            init(self, *args)

        a.App.__init__ = app_init
        _app.append(None)
    if d is not None and getattr(d, "report_heap", None) and d.heap is not _dump:  # loaded, not loading
        d.heap = _dump
        builtins.__import__ = _import  # both patched: out of every import
    return mod


def _dump():
    import gc
    import micropython

    from uocpp.extras import diag

    if os.getenv("HEAPMAP_WHEN"):
        # Not at the first report but at the first one after the host made
        # this file (bench/heap_map.py --charging: while a transaction runs).
        try:
            os.stat(os.getenv("HEAPMAP_WHEN"))
        except OSError:
            return _heap()
    diag.heap = _heap
    gc.collect()
    loaded = sorted(sys.modules)
    print("HEAPMAP-BEGIN")
    micropython.mem_info(1)
    _names(_app[-1])
    _words()
    if sorted(sys.modules) != loaded:
        # Naming must not import: what it loaded is in the words, owned by nobody.
        print("HEAPMAP-ERROR naming the heap loaded %s" % [m for m in sys.modules if m not in loaded])
    print("HEAPMAP-END")
    return _heap()


def _heap():
    import gc

    gc.collect()
    return gc.mem_alloc(), gc.mem_free()


def _say(tag, obj, name):
    print("HEAPMAP %s %x %s" % (tag, id(obj) & _M, name))


def _names(app):
    import asyncio

    for mname, m in sorted(sys.modules.items()):
        _say("MODULE", m, mname)
        # The module's dict, not dir(m): MicroPython's dir() probes every
        # interned name as an attribute, and a module __getattr__ (model/
        # identity.py's) would import what it stands for.
        for k, v in m.__dict__.items():
            if isinstance(v, type):
                # Named (and owned) where it is defined, not where imported.
                if v.__dict__.get("__module__", mname) != mname:
                    continue
                _say("TYPE", v, mname + "." + k)
                _say("OWN", v, "module " + mname)
                for kk, vv in v.__dict__.items():
                    if callable(vv) and not isinstance(vv, type):
                        _say("FUNC", vv, "%s.%s.%s" % (mname, k, kk))
            elif callable(v) and getattr(v, "__globals__", None) is m.__dict__:
                _say("FUNC", v, mname + "." + k)
                _say("OWN", v, "module " + mname)
    for k in dir(builtins):
        v = getattr(builtins, k)
        if isinstance(v, type):
            _say("TYPE", v, k)

    def f():
        pass

    def g():
        yield

    def c():
        return f

    class C:
        def m(self):
            pass

    for name, t in (("function", f), ("generator function", g), ("closure", c), ("type", C)):
        _say("TYPE", type(t), name)
    for name, obj in (("generator", g()), ("bound method", C().m), ("Task", asyncio.current_task()), ("module", sys)):
        _say("TYPE", type(obj), name)
    if app is None:
        return
    _say("ROOT", app, "app")
    _parts("app", app, 2)
    sup = getattr(app, "supervisor", None)
    t = getattr(sup, "_tasks", ())
    for i in range(0, len(t), 5):
        _say("ROOT", t[i + 3], "task " + t[i])
        _say("ROOT", t[i + 1], "task " + t[i])
    if sup is not None:
        _say("ROOT", sup._watcher, "task (supervisor watcher)")


def _parts(prefix, obj, depth):
    d = getattr(obj, "__dict__", None)
    if not isinstance(d, dict) or isinstance(obj, type):
        return
    for k, v in d.items():
        _say("ROOT", v, prefix + "." + k)
        if depth:
            _parts(prefix + "." + k, v, depth - 1)


def _words():
    # The pool's words, from a little below the lowest module object (one of
    # the first blocks allocated; below the pool lie its allocation tables,
    # still inside the heap's area) for the pool's size less that margin, so
    # that nothing past the area is read. Run with a small -X heapsize.
    import binascii
    import gc
    import uctypes

    top = min(id(m) & _M for m in sys.modules.values())
    lo = top - 4096 & ~255
    for a in range(lo, top + gc.mem_alloc() + gc.mem_free() - 4096, 256):
        print("HEAPMAP MEM %x %s" % (a, binascii.hexlify(uctypes.bytearray_at(a, 256)).decode()))


builtins.__import__ = _hook
# $OCPP_MAIN: the main.py to run (its directory goes first on the path).
sys.path.insert(0, os.getenv("OCPP_MAIN").rsplit("/", 1)[0])
if os.getenv("OCPP_ROMFS"):
    # The ROMFS build: bench/romfs_main.py mounts the image (its one heap
    # block, module romfs_main's) and puts /rom first, where main.mpy is.
    import romfs_main  # noqa: E402,F401

import main  # noqa: E402,F401 - runs the firmware
