# Host-only, runs on MicroPython: the live heap each module adds when it is
# imported, modules given in load order (argv), each after gc.collect().
# Every module's own imports come earlier in the list, so each figure is the
# module alone: its code (unless frozen or in a ROMFS image), functions,
# classes, tables and interned names. With $OCPP_ROMFS the image is mounted
# at /rom first, as bench/romfs_main.py does. Prints "name bytes" lines,
# "-- base N" first (the interpreter before any import), each followed by
# micropython.qstr_info()'s line: the bytes of the interned-name pools so far
# (they grow by doubling, so the module that overflows one pays for the next).
import gc
import micropython
import os
import sys

if os.getenv("OCPP_ROMFS"):
    import vfs

    _path = os.getenv("OCPP_ROMFS")
    _image = bytearray(os.stat(_path)[6])
    with open(_path, "rb") as f:
        f.readinto(_image)
    vfs.mount(vfs.VfsRom(_image), "/rom")
    sys.path.insert(0, "/rom")
# "name!" is a module the firmware unloads after boot (config/provision.py
# does so with the config declarations): it is unloaded the same way, and
# what it leaves behind is its figure; "-- peak name N" says what it held.
_names = sys.argv[1:]
gc.collect()
print("-- base", gc.mem_alloc())
micropython.qstr_info()
for _n in _names:
    gc.collect()
    _a = gc.mem_alloc()
    _drop = _n.endswith("!")
    _n = _n.rstrip("!")
    try:
        __import__(_n)
    except ImportError as e:
        print("--", _n, "not importable:", e)
    else:
        if _drop:
            gc.collect()
            print("-- peak", _n, gc.mem_alloc() - _a)
            sys.modules.pop(_n)
            _parent, _, _leaf = _n.rpartition(".")
            if _parent and hasattr(sys.modules[_parent], _leaf):
                delattr(sys.modules[_parent], _leaf)
        gc.collect()
        print(_n, gc.mem_alloc() - _a)
    micropython.qstr_info()
