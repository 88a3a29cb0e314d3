# The hardware seam, declared once: what every port module offers (unix.py,
# esp32.py; uocpp.platform re-exports the one in use) and the protocols of
# the parts behind it: the EVSE, the energy meter and the card reader.
# Nothing imports this at run time (it costs no heap on a board); the unit
# test tests/unit/unit_seam.py holds every port module and every
# implementation to it by name and arity, so that drift fails a test.
#
# Imports run one way: platform -> device drivers (device/card_reader.py,
# device/sdm.py, device/ota.py, ...). A driver never imports the
# platform; what it needs from it (a UART opener, say) is handed in.
#
# Each entry: (name, its arguments). Arguments are positional; a name
# ending in "=" may be left out by the caller (a default exists).

# -- the port: module-level functions --------------------------------------------
PORT = (
    # -> the path of config.json (unix: $OCPP_CONFIG, else config.json)
    ("config_path", ()),
    # settings -> the directory for files on flash (created on unix)
    ("flash_dir", ("settings",)),
    # config.json's modem section -> (port, description for the log); port has
    # write(bytes), read(n) (at once: bytes, or b""/None when nothing came), deinit()
    ("open_uart", ("cfg",)),
    # -> the Wi-Fi station: active(), connect(ssid, password), disconnect(),
    # isconnected() -> bool, ifconfig() -> (ip, mask, gateway, dns)
    ("wlan", ()),
    # async: set the RTC before TLS (NTP on a board); -> True when set
    ("sync_clock", ("settings",)),
    # Unix seconds -> the RTC (the clock module then follows it)
    ("set_rtc", ("unix",)),
    # timeout in ms -> an armed watchdog with feed(); on a board it cannot be
    # stopped and resets the chip when not fed within the timeout
    ("watchdog", ("timeout_ms",)),
    # (settings, the web section) -> True to start in setup mode
    ("setup_wanted", ("settings", "web")),
    # open the installer's access point (WPA2)
    ("access_point", ("ssid", "password")),
    # a hard reset: never returns (unix: exit status 75 for the supervisor)
    ("reset", ()),
    # the safe state for a fatal configuration error: never returns to the caller's work
    ("halt", ("message",)),
    # settings -> the EVSE (EVSE below)
    ("evse", ("settings",)),
    # (settings, the EVSE) -> the meter (METER below); the unix simulator's EVSE is its own meter
    ("meter", ("settings", "evse")),
)
# Offered by some ports only; callers check with hasattr().
PORT_OPTIONAL = (
    # -> device/ota.Image over the OTA app partitions (ESP32: esp32.Partition)
    ("ota", ()),
)

# -- the EVSE: one object for all connectors, numbered 1..count ---------------------
EVSE_ATTRIBUTES = (
    "count",  # int: the number of connectors
    "changed",  # asyncio.Event: set when any input changed (pilot, fault, card, lock feedback)
)
EVSE = (
    # n -> the pilot state "A".."F" in force (debounced: board about 60 ms)
    ("pilot", ("n",)),
    # n -> a ChargePointErrorCode, "NoError" when none (board: fault inputs,
    # a lock meant locked whose feedback says not -> ConnectorLockFailure,
    # then pilot E -> EVCommunicationError, F -> InternalError)
    ("fault", ("n",)),
    # offer `amps` (float, A) on the pilot: below 6 A nothing (100 % duty),
    # at most 80 A (IEC 61851-1 duty, platform/esp32_evse.py); takes effect at once
    ("set_offered", ("n", "amps")),
    # n -> the current offered now, A (0 when none)
    ("offered", ("n",)),
    # close (True) or open (False) the contactor; at once
    ("set_relay", ("n", "closed")),
    # n -> bool: the contactor as commanded
    ("relay", ("n",)),
    # lock (True) or release the socket's lock; blocks until the feedback
    # agrees, at most evse.lockTimeout (board); -> True when it got there,
    # False when not, None when the connector has no lock (a tethered cable)
    ("lock", ("n", "locked")),
    # n -> bool: the lock's position (feedback, else as commanded)
    ("locked", ("n",)),
    # -> (connector, idTag) of the oldest card presented, or None; never blocks
    ("take_card", ()),
    # async, runs for ever: sampling (board) or the line protocol (simulator);
    # firmware: FIRMWARE below (app.py hands in the sessions)
    ("run", ("firmware",)),
)
# Offered by an EVSE with a phase-switch output (the contactor of L2 and L3;
# config energy.phaseSwitch); callers check with hasattr(). Never switched
# with the main contactor closed: energy/phases.py opens it first and waits
# for the EV to draw nothing.
EVSE_PHASES = (
    # supply connector n with 1 or 3 phases from now on; at once
    ("set_phases", ("n", "phases")),
    # n -> 1 or 3: the output as set
    ("phases", ("n",)),
)
# What EVSE.run(firmware) is given: the sessions, for the simulator's protocol.
FIRMWARE = (
    ("status", ("n",)),  # -> the connector's OCPP status
    ("transaction_id", ("n",)),  # -> the running transaction's id from the central system, or None
    ("settled", ()),  # async: returns once every change so far has been acted on
)

# -- the meter: one object for all connectors ---------------------------------------
METER = (
    # -> the measurand names read() gives (OCPP names: Energy.Active.Import.Register ...)
    ("measurands", ()),
    # async, n -> {measurand: value}: energy Wh (a register that never falls),
    # power W, current A, voltage V, frequency Hz; a bus meter takes about
    # 100-300 ms (Modbus RTU at 9600 baud) and raises on a failed read
    ("read", ("n",)),
)

# -- the card reader (device/card_reader.py over a chip driver) ------------------
# Made with the EVSE's `changed` event, which it sets when a card is ready.
CARD_READER = (
    # -> (connector, idTag) of the oldest card not taken yet, or None; never
    # blocks. One event per presentation (a card held is debounced); the
    # idTag is the card's UID in upper-case hex
    ("take_card", ()),
    # async, runs for ever: polls the chip (about every 100 ms); sets
    # `changed` when take_card() has a card
    ("run", ()),
)

# Who implements what: (module, class or None for module functions, protocols).
IMPLEMENTATIONS = (
    ("uocpp.platform.unix", None, ("PORT",)),
    ("uocpp.platform.esp32", None, ("PORT",)),
    ("uocpp.platform.evse_sim", "SimEvse", ("EVSE", "METER", "EVSE_PHASES")),
    ("uocpp.platform.esp32_evse", "Esp32Evse", ("EVSE", "EVSE_PHASES")),
    ("uocpp.device.sdm", "BusMeters", ("METER",)),
    ("uocpp.services.sessions", "Sessions", ("FIRMWARE",)),
    ("uocpp.device.card_reader", "CardReader", ("CARD_READER",)),
)
