"""The twin's second-stage bootloader, as ESP-IDF's treats OTA app
partitions with rollback on: run at every boot of the firmware process,
over the otadata.json that the esp32.Partition stand-in writes.

    state "new"      set_boot() chose another image: boot it on trial ("pending")
    state "pending"  the trial image reset without mark_app_valid_cancel_rollback():
                     roll back to the previous image ("valid")
    state "valid"    boot the chosen image
"""

import json
import os


def _path(parts):
    return os.path.join(parts, "otadata.json")


def prepare(parts):
    os.makedirs(parts, exist_ok=True)
    if not os.path.exists(_path(parts)):
        _save(parts, {"running": "ota_0", "boot": "ota_0", "state": "valid"})


def _save(parts, data):
    tmp = _path(parts) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, _path(parts))


def load(parts):
    with open(_path(parts)) as f:
        return json.load(f)


def boot(parts, say):
    """-> the label booted; updates otadata.json as the bootloader would."""
    data = load(parts)
    state = data.get("state", "valid")
    if state == "new":
        data["running"] = data["boot"]
        data["state"] = "pending"
        say("bootloader: %s on trial (rollback unless it confirms)" % data["running"])
    elif state == "pending":
        back = data.get("previous", "ota_0")
        say("bootloader: %s did not confirm itself: rolling back to %s" % (data["running"], back))
        data.update(running=back, boot=back, state="valid", rolledBack=data["running"])
    else:
        data["running"] = data["boot"]
    _save(parts, data)
    return data["running"]
