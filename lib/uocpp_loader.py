# The application loader: runs before anything of the uocpp package is
# imported (main.py, and boot.py on a board) and puts the installed
# application bundle first on sys.path. It lives outside the package on
# purpose: a bundle replaces uocpp/, never this file, so a broken bundle
# cannot break the way back. main.py drops it from memory once it ran.
#
# <flash>/app/state.json (written by services/firmware_update.py, absent
# until the first UpdateFirmware) says which slot runs:
#   slot     "a" or "b": the confirmed bundle in <flash>/app/<slot>/; None:
#            the application that came with the board (lib/, or frozen)
#   version  its firmwareVersion, when an update installed it
#   trial    {"slot", "version", "boots", "kind"}: a new install on trial
#   outcome  the FirmwareStatusNotification still to send after this boot
#   pending  an UpdateFirmware request not yet installed
# A trial boots once. Booting it a second time means it was never confirmed
# (it crashed, was killed, or its BootNotification was not Accepted in
# time): the loader returns to the confirmed slot and notes the failure.
import os
import sys

_result = None
_done = False


def app_dir():
    # As platform.flash_dir: $OCPP_FLASH_DIR (unix port), else config.json's
    # storage.dir, else ./flash (unix) or / (board); then app/.
    import json

    env = getattr(os, "getenv", None)
    path = env and env("OCPP_FLASH_DIR")
    if not path:
        try:
            with open((env and env("OCPP_CONFIG")) or "config.json") as f:
                path = json.load(f).get("storage", {}).get("dir")
        except Exception:  # a bad config.json is main.py's to report
            pass
    return (path or ("/" if sys.platform == "esp32" else "flash")).rstrip("/") + "/app"


def start():
    # -> None when no update was ever installed, else (firmwareVersion of
    # what runs or None, an update is under way, this is a trial boot).
    # Idempotent: boot.py and main.py both call it on a board.
    global _result, _done
    if _done:
        return _result
    _done = True
    import json

    base = app_dir()
    path = base + "/state.json"
    try:
        with open(path) as f:
            st = json.load(f)
    except Exception:
        return None  # no update ever installed (or a torn file: the built-in app)
    slot, version, trial = st.get("slot"), st.get("version"), st.get("trial")
    if trial:
        if trial.get("boots"):
            # Second boot of an unconfirmed trial: back to the old one.
            st["trial"], st["outcome"], st["undo"] = None, "InstallationFailed", trial
            print("loader: %s was never confirmed: back to %s" % (trial.get("version"), slot or "the built-in application"))
        else:
            trial["boots"] = 1
            slot, version = trial.get("slot"), trial.get("version")
            print("loader: trying %s (slot %s)" % (version, slot))
        # Atomic, as store/json_file.py (not imported: part of the bundle).
        with open(path + ".tmp", "w") as f:
            json.dump(st, f)
        try:
            os.rename(path + ".tmp", path)
        except OSError:
            os.remove(path)
            os.rename(path + ".tmp", path)
    if slot:
        sys.path.insert(0, base + "/" + slot)
    busy = bool(st.get("trial") or st.get("outcome") or st.get("pending") or st.get("undo"))
    _result = (version, busy, bool(st.get("trial")))
    return _result


def crashed(e):
    # The trial's application raised: reboot (the next boot reverts).
    sys.print_exception(e)
    print("loader: the new version crashed on its trial boot: rebooting")
    if sys.platform == "esp32":
        import machine

        machine.reset()
    sys.exit(75)  # the unix port's hard reset (platform/unix.py EXIT_HARD_RESET)
