# config.json's "energy" section (lib/uocpp/energy/): local energy
# management. Declared and checked here, imported by settings.py only when
# the section is in config.json, so a charger without it loads nothing of it.
# Currents in A, times in s (numbers: tests use sub-second delays).
MODES = ("fast", "solar", "min+solar")


def declarations(STR, INT, NUM, BOOL):
    return (
        ("enabled", BOOL, False, None),
        # The local limit from an energy manager over MQTT (mqtt.enabled):
        # no command within localTimeout s -> safeCurrent (0 = no local limit).
        ("localTimeout", NUM, 0, (0, 86400)),
        ("safeCurrent", NUM, 6, (0, 80)),
        # A pause (the offer below 6 A) ends once the offer has stayed at
        # 6 A + resumeHysteresis for resumeDelay s.
        ("resumeHysteresis", NUM, 1, (0, 20)),
        ("resumeDelay", NUM, 60, (0, 3600)),
        # The grid meter at the house connection (load management, solar):
        # an SDM630 on its own bus (gridDevice on the unix port, gridUart/Tx/Rx
        # on a board) or on the energy meters' bus (gridBus "meter", another
        # address); mainsFuse: the connection's fuse, A per phase (0 = no
        # load management).
        ("grid", BOOL, False, None),
        ("mainsFuse", NUM, 0, (0, 1000)),
        ("gridModel", STR, "SDM630", ("SDM630", "SDM120")),
        ("gridBus", STR, "own", ("own", "meter")),
        ("gridDevice", STR, "", None),
        ("gridUart", INT, 2, (0, 2)),
        ("gridTx", INT, 17, (0, 48)),
        ("gridRx", INT, 16, (0, 48)),
        ("gridBaud", INT, 9600, (1200, 115200)),
        ("gridAddress", INT, 2, (1, 247)),
        ("gridTimeout", NUM, 0.3, (0.05, 5)),
        ("gridInterval", NUM, 1, (0.1, 1)),
        # No good grid reading for gridLostAfter s -> gridSafeCurrent.
        ("gridLostAfter", NUM, 3, (0.2, 60)),
        ("gridSafeCurrent", NUM, 6, (0, 80)),
        # The load limit rises by at most rampStep A per reading (it falls at once).
        ("rampStep", NUM, 1, (0.1, 80)),
        # Solar surplus (needs the grid meter): the mode at first boot (a mode
        # set later is kept on flash), the grid import allowed in solar
        # modes (W), and how long the surplus must hold before a start or a
        # stop (or a phase change).
        ("mode", STR, "fast", MODES),
        ("solarImport", NUM, 0, (0, 50000)),
        ("solarStartDelay", NUM, 60, (0, 3600)),
        ("solarStopDelay", NUM, 300, (0, 3600)),
        # 1/3-phase switching (the EVSE's phase-switch output): after the
        # contactor opened, wait for the EV to draw nothing (at most
        # phaseStopTimeout s), switch, wait phaseDelay s, offer again.
        ("phaseSwitch", BOOL, False, None),
        ("phaseDelay", NUM, 5, (0, 300)),
        ("phaseStopTimeout", NUM, 10, (0.1, 300)),
    )


def check(cfg, settings):
    # The rules that span keys: -> [problem, ...]
    out = []
    if not cfg["enabled"]:
        return out
    grid = cfg["grid"]
    if cfg["mainsFuse"] and not grid:
        out.append("energy.mainsFuse: load management needs the grid meter (energy.grid)")
    if cfg["mode"] != "fast" and not grid:
        out.append("energy.mode: %s needs the grid meter (energy.grid)" % cfg["mode"])
    if cfg["localTimeout"] and not settings["mqtt"]["enabled"]:
        out.append("energy.localTimeout: the local limit comes over MQTT: needs mqtt.enabled")
    if grid and cfg["gridBus"] == "meter" and not settings["meter"]["model"]:
        out.append('energy.gridBus: "meter" needs the energy meters\' bus (meter.model)')
    if (
        grid
        and cfg["gridBus"] == "meter"
        and settings["meter"]["address"] <= cfg["gridAddress"] < settings["meter"]["address"] + settings["connectors"]["count"]
    ):
        out.append("energy.gridAddress: taken by a connector's meter on the same bus")
    return out
