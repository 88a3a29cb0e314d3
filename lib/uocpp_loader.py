# The application loader: runs before anything of the uocpp package is
# imported (main.py, and boot.py on a board) and puts the installed
# application bundle first on sys.path. It lives outside the package on
# purpose: a bundle replaces uocpp/, never this file, so a broken bundle
# cannot break the way back. Kept tiny (main.py drops it once it ran): the
# slot and trial decision is in uocpp_slots.py, loaded only when
# <flash>/app/state.json exists, that is once an update was requested.
import os
import sys

# What start() decided: False until it ran (a global name every interpreter
# interns anyway, so that the loader leaves fewer names behind).
update = False


def start():
    # -> None when no update was ever requested, else uocpp_slots.decide():
    # (firmwareVersion of what runs or None, an update is under way, this is
    # a trial boot). Idempotent: boot.py and main.py both call it on a board.
    global update
    if update is False:
        update = None
        # As platform.flash_dir: $OCPP_FLASH_DIR (unix port), else
        # config.json's storage.dir, else ./flash (unix) or / (board).
        env = getattr(os, "getenv", None)
        path = env and env("OCPP_FLASH_DIR")
        if not path:
            try:
                import json

                with open((env and env("OCPP_CONFIG")) or "config.json") as f:
                    path = json.load(f).get("storage", {}).get("dir")
            except Exception:  # a bad config.json is main.py's to report
                pass
        path = (path or ("/" if sys.platform == "esp32" else "flash")).rstrip("/") + "/app/state.json"
        try:
            os.stat(path)
        except OSError:
            # FAT: a power cut between the remove and the rename of an
            # atomic write leaves the new state.json.tmp alone (uocpp_slots).
            try:
                os.stat(path + ".tmp")
            except OSError:
                return None
        from uocpp_slots import decide

        update = decide(path[:-11])  # <flash>/app
    return update
