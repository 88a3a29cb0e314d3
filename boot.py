# Runs first on the device: load the charge point's identity from config.json
# into the BootNotification setters. Never touches the network. A bad
# config.json is reported by main.py, which then halts in a safe state.
try:
    import uocpp_loader  # the installed bundle first on sys.path (main.py)

    uocpp_loader.start()
    del uocpp_loader  # boot.py and main.py share globals on a board: let main.py unload it
except ImportError:
    pass

from uocpp.config import provision  # noqa: E402

provision.load()
