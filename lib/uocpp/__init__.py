# uOCPP: OCPP 1.6J charge-point firmware for MicroPython.
# Layers, bottom to top: link/ (WebSocket, security, back-off) -> rpc
# (OCPP-J frames) -> services/ (boot notification, heartbeat, status) ->
# ops/ (one module per central-system action); model/, store/ and config/
# beside them. platform/ is the only code that touches hardware.
# The one place the version is written: BootNotification's firmwareVersion
# defaults to it (config/provision.py), tools/package_json.py copies it into
# package.json, CHANGELOG.md describes each.
__version__ = "0.3.0"


def snake(action):
    # An OCPP action's module name: StartTransaction -> start_transaction
    # (ops/ and confs/ name their modules so; no table of names needed).
    # In bytes: a character taken out of a str is an interned name for ever
    # in MicroPython (docs/memory.md).
    name = bytearray()
    for c in action.encode():
        if 65 <= c <= 90:  # A to Z
            if name:
                name.append(95)  # _
            c += 32
        name.append(c)
    return name.decode()


def unload(*names):
    # The one way code used once leaves the heap (the config checks after
    # boot, an op after its reply, the loader, a feature's helper): out of
    # sys.modules and out of its package, so nothing holds its functions
    # and tables; the next import loads it afresh. Unknown names are fine.
    import sys

    for name in names:
        sys.modules.pop(name, None)
        parent, _, leaf = name.rpartition(".")
        pkg = sys.modules.get(parent)
        if pkg is not None and leaf in pkg.__dict__:
            delattr(pkg, leaf)
