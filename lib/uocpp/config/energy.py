# config.json's "energy" section (lib/uocpp/energy/): local energy
# management. Declared and checked here, in settings.py's table format,
# imported by settings.py only when the section is in config.json, so a
# charger without it loads nothing of it. Currents in A, times in s
# (numbers: tests use sub-second delays).
TABLE = """[energy]
enabled boolean false _
localTimeout number 0 0:86400
safeCurrent number 6 0:80
resumeHysteresis number 1 0:20
resumeDelay number 60 0:3600
grid boolean false _
mainsFuse number 0 0:1000
gridModel string SDM630 SDM630,SDM120
gridBus string own own,meter
gridDevice string _ _
gridUart integer 2 0:2
gridTx integer 17 0:48
gridRx integer 16 0:48
gridBaud integer 9600 1200:115200
gridAddress integer 2 1:247
gridTimeout number 0.3 0.05:5
gridInterval number 1 0.1:1
gridLostAfter number 3 0.2:60
gridSafeCurrent number 6 0:80
rampStep number 1 0.1:80
mode string fast fast,solar,min+solar
solarImport number 0 0:50000
solarStartDelay number 60 0:3600
solarStopDelay number 300 0:3600
phaseSwitch boolean false _
phaseDelay number 5 0:300
phaseStopTimeout number 10 0.1:300
"""
# Notes:
# - localTimeout: the local limit from an energy manager over MQTT
#   (mqtt.enabled): no command within localTimeout s -> safeCurrent (0 = no
#   local limit).
# - resumeHysteresis, resumeDelay: a pause (the offer below 6 A) ends once
#   the offer has stayed at 6 A + resumeHysteresis for resumeDelay s.
# - grid: the grid meter at the house connection (load management, solar):
#   an SDM630 on its own bus (gridDevice on the unix port, gridUart/Tx/Rx on
#   a board) or on the energy meters' bus (gridBus "meter", another
#   address); mainsFuse: the connection's fuse, A per phase (0 = no load
#   management). No good grid reading for gridLostAfter s ->
#   gridSafeCurrent. The load limit rises by at most rampStep A per reading
#   (it falls at once).
# - mode (energy/limits.py MODES): solar surplus (needs the grid meter): the
#   mode at first boot (a mode set later is kept on flash); solarImport: the
#   grid import allowed in solar modes (W); solarStartDelay, solarStopDelay:
#   how long the surplus must hold before a start or a stop (or a phase
#   change).
# - phaseSwitch: 1/3-phase switching (the EVSE's phase-switch output): after
#   the contactor opened, wait for the EV to draw nothing (at most
#   phaseStopTimeout s), switch, wait phaseDelay s, offer again.


def check(cfg, settings):
    # The rules that span keys: -> [problem, ...]
    out = []
    if not cfg["enabled"]:
        return out
    grid = cfg["grid"]
    if cfg["mainsFuse"] and not grid:
        out.append("energy.mainsFuse: load management needs the grid meter (energy.grid)")
    # A lost grid meter (and one not read yet) gives each connector
    # gridSafeCurrent: more than the fuse in all overloads it meanwhile.
    count = settings["connectors"].get("count", 1)
    if grid and cfg["mainsFuse"] and cfg["gridSafeCurrent"] * count > cfg["mainsFuse"]:
        out.append(
            "energy.gridSafeCurrent: %s A on each of %d connectors is more than energy.mainsFuse (%s A)" % (cfg["gridSafeCurrent"], count, cfg["mainsFuse"])
        )
    if cfg["mode"] != "fast" and not grid:
        out.append("energy.mode: %s needs the grid meter (energy.grid)" % cfg["mode"])
    # A key of another section with a bad value is not in settings (its own problem is reported).
    meter = settings["meter"]
    if cfg["localTimeout"] and not settings["mqtt"].get("enabled"):
        out.append("energy.localTimeout: the local limit comes over MQTT: needs mqtt.enabled")
    if grid and cfg["gridBus"] == "meter" and not meter.get("model"):
        out.append('energy.gridBus: "meter" needs the energy meters\' bus (meter.model)')
    if (
        grid
        and cfg["gridBus"] == "meter"
        and "address" in meter
        and "count" in settings["connectors"]
        and meter["address"] <= cfg["gridAddress"] < meter["address"] + settings["connectors"]["count"]
    ):
        out.append("energy.gridAddress: taken by a connector's meter on the same bus")
    return out  # gridTimeout against gridBaud: with meter.timeout (settings.py)
