# The application loader: runs before anything of the uocpp package is
# imported (main.py, and boot.py on a board) and puts the installed
# application bundle first on sys.path. It lives outside the package on
# purpose: a bundle replaces uocpp/, never this file, so a broken bundle
# cannot break the way back.
#
# <flash>/app/state.json (written by services/firmware_update.py, absent
# until the first UpdateFirmware) says which slot runs:
#   slot     "a" or "b": the confirmed bundle in <flash>/app/<slot>/; None:
#            the application that came with the board (lib/, or frozen)
#   trial    {"slot", "version", "boots", "kind"}: a new install on trial
#   outcome  the FirmwareStatusNotification still to send after this boot
# A trial boots once. Booting it a second time means it was never confirmed
# (it crashed, was killed, or its BootNotification was not Accepted in
# time): the loader returns to the confirmed slot and notes the failure.
import os
import sys

state = None  # the state after this boot's decision, or None: no file
version = None  # the firmwareVersion of what runs, when an update installed it
_done = False


def flash_dir():
    # As platform.flash_dir: $OCPP_FLASH_DIR (unix port), else config.json's
    # storage.dir, else ./flash (unix) or / (board).
    path = os.getenv("OCPP_FLASH_DIR") if hasattr(os, "getenv") else None
    if path:
        return path
    try:
        import json

        cfg = (os.getenv("OCPP_CONFIG") if hasattr(os, "getenv") else None) or "config.json"
        with open(cfg) as f:
            path = json.load(f).get("storage", {}).get("dir")
    except Exception:  # a bad config.json is main.py's to report
        path = None
    return path or ("/" if sys.platform == "esp32" else "flash")


def app_dir():
    return flash_dir().rstrip("/") + "/app"


def write(path, obj):
    # Atomic, as store/json_file.py (not imported: it is part of the bundle).
    import json

    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    try:
        os.rename(path + ".tmp", path)
    except OSError:
        os.remove(path)
        os.rename(path + ".tmp", path)


def start():
    global state, version, _done
    if _done:
        return
    _done = True
    base = app_dir()
    path = base + "/state.json"
    try:
        import json

        with open(path) as f:
            st = json.load(f)
    except Exception:
        return  # no update ever installed (or a torn file: the built-in app)
    slot = st.get("slot")
    version = st.get("version")
    trial = st.get("trial")
    if trial:
        if trial.get("boots"):
            # Second boot of an unconfirmed trial: back to the old one.
            st["trial"] = None
            st["outcome"] = "InstallationFailed"
            st["undo"] = trial  # an image may still be the boot partition
            print("loader: %s was never confirmed: back to %s" % (trial.get("version"), slot or "the built-in application"))
        else:
            trial["boots"] = 1
            slot = trial.get("slot")
            version = trial.get("version")
            print("loader: trying %s (slot %s)" % (version, slot))
        write(path, st)
    if slot:
        sys.path.insert(0, base + "/" + slot)
    state = st


def on_trial():
    return bool(state and state.get("trial"))


def crashed(e):
    # The trial's application raised: reboot (the next boot reverts).
    sys.print_exception(e)
    print("loader: the new version crashed on its trial boot: rebooting")
    if sys.platform == "esp32":
        import machine

        machine.reset()
    sys.exit(75)  # the unix port's hard reset (platform/unix.py EXIT_HARD_RESET)
