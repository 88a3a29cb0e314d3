# The slot and trial decision at boot, for uocpp_loader.py (outside the
# package too: an update never replaces it). <flash>/app/state.json, written
# by services/firmware_update.py, says which slot runs:
#   slot     "a" or "b": the confirmed bundle in <flash>/app/<slot>/; None:
#            the application that came with the board (lib/, or frozen)
#   version  its firmwareVersion, when an update installed it
#   trial    {"slot", "version", "boots", "kind"}: a new install on trial
#   outcome  the FirmwareStatusNotification still to send after this boot
#   pending  an UpdateFirmware request not yet installed
# A trial boots once. Booting it a second time means it was never confirmed
# (it crashed, was killed, or its BootNotification was not Accepted in
# time): back to the confirmed slot, and the failure is noted.
import json
import os
import sys


def decide(base):
    # -> (firmwareVersion of what runs or None, update under way, trial boot)
    path = base + "/state.json"
    try:
        with open(path) as f:
            st = json.load(f)
    except OSError:
        # FAT cannot rename onto a file: a power cut between the remove and
        # the rename of an atomic write leaves the new file, whole, as
        # path.tmp alone. It is the state (as store/json_file.py reads it).
        try:
            with open(path + ".tmp") as f:
                st = json.load(f)
            os.rename(path + ".tmp", path)
        except Exception:
            return None
    except Exception:
        return None  # a torn file: the built-in app
    if not isinstance(st, dict) or not isinstance(st.get("trial") or {}, dict):
        return None  # of another shape: as a torn file (never a boot that stops here)
    slot, version, trial = st.get("slot"), st.get("version"), st.get("trial")
    if trial:
        old = (slot, version)
        if trial.get("boots"):
            # Second boot of an unconfirmed trial: back to the old one.
            st["trial"], st["outcome"], st["undo"] = None, "InstallationFailed", trial
            print("loader: %s was never confirmed: back to %s" % (trial.get("version"), slot or "the built-in application"))
        else:
            trial["boots"] = 1
            slot, version = trial.get("slot"), trial.get("version")
            print("loader: trying %s (slot %s)" % (version, slot))
        try:
            # Atomic, as store/json_file.py (not imported: part of the bundle).
            with open(path + ".tmp", "w") as f:
                json.dump(st, f)
            try:
                os.rename(path + ".tmp", path)
            except OSError:
                os.remove(path)
                os.rename(path + ".tmp", path)
        except OSError as e:
            # Not on flash (full): the boot goes on, never with a trial
            # unrecorded (a crash could not be rolled back): the old one
            # runs, and the trial waits for a boot that can count it.
            slot, version = old
            st["trial"] = None
            print("loader: cannot record the boot (%s): %s runs" % (e, slot or "the built-in application"))
    if slot:
        sys.path.insert(0, base + "/" + slot)
    busy = bool(st.get("trial") or st.get("outcome") or st.get("pending") or st.get("undo"))
    return (version, busy, bool(st.get("trial")))


def guard(main):
    # main.py on a trial boot: the application raising reboots (the next
    # boot reverts).
    try:
        main()
    except Exception as e:
        crashed(e)


def crashed(e):
    sys.print_exception(e)
    print("loader: the new version crashed on its trial boot: rebooting")
    try:
        # A board (or the ESP32 twin) has an esp32 module, as uocpp.platform
        # decides: reset it (sys.platform alone would miss the twin).
        import esp32  # noqa: F401
        import machine

        machine.reset()
    except ImportError:
        pass
    sys.exit(75)  # the unix port's hard reset (platform/unix.py EXIT_HARD_RESET)
