# The unix simulator's phase-switch output (platform/seam.py EVSE_PHASES),
# loaded at its first use (energy.phaseSwitch, or the line command), so that
# a charger without it costs nothing: per connector [phases, switches so far,
# switches made under load].
import json


def _out(evse):
    if evse.phase_out is None:
        evse.phase_out = [[3, 0, 0] for _ in range(evse.count + 1)]
    return evse.phase_out


def set_phases(evse, n, phases, loaded):
    o = _out(evse)[n]
    if loaded:
        o[2] += 1  # the contactor closed or current flowing: what the firmware must never do
    if phases != o[0]:
        o[1] += 1
    o[0] = phases


def command(evse, words):
    # "phases N" -> ok {"phases": 1|3, "switches": n, "underLoad": n}
    if len(words) != 2:
        return "error phases takes the connector"
    n = int(words[1])
    if not 1 <= n <= evse.count:
        return "error no connector %d" % n
    o = _out(evse)[n]
    return "ok " + json.dumps({"phases": o[0], "switches": o[1], "underLoad": o[2]})
