# The simulated meter's memory (platform/evse_sim.py): its energy registers
# survive a restart, as a real meter's do, in <flash>/sim_meter.json (whole
# Wh per connector, index 0 unused). Loaded only when there is a file to
# read or a register that moved: an idle charger does not carry it.
import json
import os

from uocpp import log


def load(path, energy):
    # energy: the registers (a list of floats), filled in from the file;
    # -> what the file held (whole Wh). A foreign file leaves them at 0.
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        log.warning("evse", "%s not read (%s): the simulated meters start at 0 Wh", path, e)
        saved = []
    for i, wh in enumerate(saved if isinstance(saved, list) else ()):
        # wh - wh: 0 but for infinity (1e999 in the file) and NaN
        if 1 <= i < len(energy) and isinstance(wh, (int, float)) and wh >= 0 and wh - wh == 0:
            energy[i] = float(wh)
    return [int(e) for e in energy]


def save(path, energy, saved):
    # Writes the registers when one passed a whole Wh since `saved`; -> what
    # is on file now. Not json_file's writer: its byte count is the
    # firmware's flash wear, and this file stands for the meter's own memory.
    now = [int(e) for e in energy]
    if now == saved:
        return saved
    try:
        with open(path + ".tmp", "w") as f:
            json.dump(now, f)
        os.rename(path + ".tmp", path)
    except OSError as e:
        log.warning("evse", "simulated meters not saved: %s", e)
        return saved
    return now
