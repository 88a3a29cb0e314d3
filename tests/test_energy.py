"""Local energy management (issue 27, lib/uocpp/energy/): the firmware on the
unix port against the `ocpp` central system, a real mosquitto for the energy
manager's commands, and a pymodbus SDM630 on a pty as the grid meter; the EV
through the simulator's line protocol. Every wait is on a log line, a frame
at the central system, an MQTT message or the simulator's state."""

import json
import re
import subprocess
import time

import pytest
from ocpp.v16 import call

from harness.net import free_port, tracked
from harness.modbus_meter import Relay, SdmServer
from harness.mqtt_broker import Subscriber, _tool, mirror_config

BASE = "ocpp/CP001/"


@pytest.fixture
def subscriber():
    with tracked(lambda s: s.stop()) as track:
        yield lambda port, topic=BASE + "energy/#": track(Subscriber(port, topic))


@pytest.fixture
def grid():
    """A pymodbus SDM630 at Modbus address 2 on a pty: the meter at the house connection."""
    with tracked(lambda pair: (pair[1].stop(), pair[0].close())) as track:

        def start():
            relay = Relay().start()
            server = SdmServer(relay.meter_path, address=2).start()
            server.set(V1=230.0, V2=230.0, V3=230.0, I1=0.0, I2=0.0, I3=0.0, P_TOTAL=0.0, FREQ=50.0, IMPORT_KWH=1.0)
            track((relay, server))
            return relay, server

        yield start


def publish(port, topic, payload):
    subprocess.run([_tool("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(port), "-t", BASE + topic, "-m", payload], check=True, timeout=10)


def mqtt(port):
    return mirror_config(port)


def energy(**over):
    cfg = {"enabled": True, "resumeDelay": 0.5, "resumeHysteresis": 1}
    cfg.update(over)
    return cfg


def wait_state(ch, pred, what, timeout=5):
    """Poll the simulator's state (its reply to `state`) until pred(state) holds."""
    deadline = time.monotonic() + timeout
    while True:
        s = ch.state()
        if pred(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError("no %s within %.1f s; state %s" % (what, timeout, s))
        time.sleep(0.05)


def offered(ch, amps, timeout=5):
    return wait_state(ch, lambda s: s["offeredA"] == amps, "offer of %s A" % amps, timeout)


def start_charging(ch):
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_call("StartTransaction")
    return ch.transaction_id()


def tx_profile(limit):
    return {
        "chargingProfileId": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": float(limit)}]},
    }


def test_the_offer_is_the_least_source_and_the_local_limit_falls_back_when_silent(cs, charger, broker, subscriber):
    """Item 1, 2: the pilot offers min(hardware, OCPP schedule, local limit); each source and the deciding one
    are on MQTT; bad commands change nothing; no command within localTimeout -> the safe limit, logged."""
    b = broker()
    sub = subscriber(b.port)
    ch = charger({"mqtt": mqtt(b.port), "connectors": {"maxCurrent": 32}, "energy": energy(localTimeout=4, safeCurrent=8)})
    fw = ch.fw
    fw.wait_log("listening for commands")
    start_charging(ch)
    s = offered(ch, 8)  # nothing heard from the energy manager yet: the safe limit
    assert s["relay"] and s["status"] == "Charging"
    publish(b.port, "energy/1/limit/set", "16")
    offered(ch, 16)
    fw.wait_log(r"connector 1: offer 16 A \(local\)")
    sub.wait_value(BASE + "energy/1/source", "local")
    assert cs.call("CP001", call.SetChargingProfile(connector_id=1, cs_charging_profiles=tx_profile(10))).status == "Accepted"
    offered(ch, 10)
    sub.wait_value(BASE + "energy/1/source", "ocpp")
    publish(b.port, "energy/1/limit/set", "20.5")
    got = sub.wait_value(BASE + "energy/1/sources", '{"hardware":32,"ocpp":10,"local":20.5,"load":null,"solar":null,"switch":null}')
    assert got and ch.state()["offeredA"] == 10
    # Refused, each logged: not a number, out of range, no such connector.
    for topic, payload, why in (
        ("energy/1/limit/set", "lots", "not a number"),
        ("energy/1/limit/set", "33", "not within"),
        ("energy/3/limit/set", "10", "no such connector"),
        ("energy/1/limit/set", "nan", "not within"),
    ):
        publish(b.port, topic, payload)
        fw.wait_log(why)
    assert cs.call("CP001", call.ClearChargingProfile(id=7)).status == "Accepted"
    offered(ch, 20.5)
    # evcc's enable/disable: false pauses (the limit kept), true offers it again.
    publish(b.port, "energy/1/enable/set", "false")
    ch.wait_status("SuspendedEVSE")
    publish(b.port, "energy/1/enable/set", "maybe")
    fw.wait_log("enable 'maybe' refused")
    publish(b.port, "energy/1/enable/set", "true")
    fw.wait_log(r"connector 1: resumed at 20.5 A \(local\)")
    offered(ch, 20.5)
    # Silence: 4 s after the last good command the safe limit, and the log says so.
    fw.wait_log(r"connector 1: no local limit for 4 s: the safe limit, 8 A", timeout=10)
    offered(ch, 8)
    sub.wait_value(BASE + "energy/1/offer", "8")


def test_pause_below_6_a_and_resume_with_hysteresis_keeps_the_transaction(cs, charger, broker):
    """Item 1: a limit under 6 A pauses (SuspendedEVSE, relay open); 6.5 A (under 6 + 1 A hysteresis) does not
    resume; 12 A resumes once held for resumeDelay; one transaction throughout."""
    b = broker()
    ch = charger({"mqtt": mqtt(b.port), "energy": energy(localTimeout=60, safeCurrent=16, resumeDelay=1)})
    fw = ch.fw
    fw.wait_log("listening for commands")
    tid = start_charging(ch)
    offered(ch, 16)
    publish(b.port, "energy/1/limit/set", "4")
    ch.wait_status("SuspendedEVSE")
    s = offered(ch, 0)
    assert not s["relay"] and s["transactionId"] == tid
    fw.wait_log(r"connector 1: paused: 4 A from local")
    publish(b.port, "energy/1/limit/set", "6.5")
    sent = len(ch.calls("StatusNotification"))
    publish(b.port, "energy/1/limit/set", "12")
    fw.wait_log(r"connector 1: resumed at 12 A \(local\)")
    ch.wait_call("StatusNotification", count=2, where=lambda p: p["status"] == "Charging")
    # Only Charging came after the pause: 6.5 A resumed nothing.
    after = [p["status"] for p in ch.payloads("StatusNotification")[sent:]]
    assert after == ["Charging"], after
    s = ch.state()
    assert s["relay"] and s["offeredA"] == 12 and s["transactionId"] == tid
    ch.evse("unplug 1")
    assert len(ch.wait_call("StopTransaction")) == 1 and len(ch.calls("StartTransaction")) == 1


def grid_config(relay, **over):
    cfg = energy(grid=True, gridDevice=relay.path, gridAddress=2, gridInterval=0.5, gridTimeout=0.2, gridLostAfter=1, gridSafeCurrent=7)
    cfg.update(over)
    return cfg


def house(server, amps, ev=0.0):
    """The grid meter as a house shows it: `amps` of the house's own on each phase plus what the EV draws."""
    server.set(I1=amps[0] + ev, I2=amps[1] + ev, I3=amps[2] + ev, P_TOTAL=230.0 * (sum(amps) + 3 * ev))


def test_load_management_cuts_an_overload_within_2_s_and_raises_slowly(cs, charger, grid):
    """Item 3: a 25 A mains fuse; the EV draws 20 A on 3 phases; the house steps from 5 to 15 A on L2: the grid
    shows 35 A, and the pilot offers 10 A within 2 s. The house back at 5 A: the offer climbs 2 A per reading."""
    relay, server = grid()
    house(server, (5, 5, 5))
    ch = charger({"connectors": {"maxCurrent": 32}, "energy": grid_config(relay, mainsFuse=25, rampStep=2)})
    fw = ch.fw
    fw.wait_log(r"grid meter SDM630 at address 2")
    start_charging(ch)
    ch.evse("power 1 4600")  # the simulator's meter: 20 A (on each of the 3 phases configured)
    house(server, (5, 5, 5), ev=20)
    offered(ch, 20)
    house(server, (5, 15, 5), ev=20)
    t0 = time.monotonic()
    offered(ch, 10, timeout=2)
    assert time.monotonic() - t0 <= 2.0
    fw.wait_log(r"overload: 35.0 A on a 25 A fuse: load limit 10.0 A")
    ch.evse("power 1 2300")  # the EV follows: 10 A
    house(server, (5, 5, 5), ev=10)
    for amps in (12, 14, 16, 18, 20):
        fw.wait_log(r"connector 1: offer %d A \(load\)" % amps)
    assert ch.state()["status"] == "Charging"


def test_load_management_pauses_resumes_and_a_lost_grid_meter_gives_the_safe_current(cs, charger, grid):
    """Item 3: the house leaves under 6 A: SuspendedEVSE (the transaction kept); back with room: resumed after
    the hysteresis; the grid meter silent for gridLostAfter: gridSafeCurrent, logged."""
    relay, server = grid()
    house(server, (2, 2, 2))
    ch = charger({"connectors": {"maxCurrent": 16}, "energy": grid_config(relay, mainsFuse=20, rampStep=50)})
    tid = start_charging(ch)
    offered(ch, 16)
    house(server, (2, 16, 2))
    ch.wait_status("SuspendedEVSE")
    s = offered(ch, 0)
    assert s["transactionId"] == tid and not s["relay"]
    ch.fw.wait_log(r"connector 1: paused: 4 A from load")
    house(server, (2, 4, 2))
    ch.fw.wait_log(r"connector 1: resumed at 16 A \(hardware\)")
    ch.wait_call("StatusNotification", count=2, where=lambda p: p["status"] == "Charging")
    server.stop()
    ch.fw.wait_log(r"grid meter lost .*: load limit 7 A")
    s = offered(ch, 7)
    assert s["transactionId"] == tid and s["status"] == "Charging"


def export(server, watts):
    """The grid meter's total power: negative while the house exports."""
    server.set(P_TOTAL=-float(watts), I1=0.0, I2=0.0, I3=0.0)


def test_solar_surplus_starts_and_stops_with_delays_and_a_passing_cloud_changes_nothing(cs, charger, grid, broker, tmp_path):
    """Item 4: mode solar (1 phase): no surplus -> SuspendedEVSE; 10 A exported for solarStartDelay -> 10 A offered;
    a cloud shorter than solarStopDelay holds 6 A without a pause; a long one pauses; one transaction throughout.
    The mode set over MQTT is kept across a reboot."""
    relay, server = grid()
    export(server, 0)
    b = broker()
    cfg = {
        "mqtt": mqtt(b.port),
        "connectors": {"maxCurrent": 16, "phases": 1},
        "energy": grid_config(relay, gridInterval=0.3, mode="solar", solarStartDelay=1, solarStopDelay=3, resumeDelay=0.2, resumeHysteresis=0),
    }
    work = tmp_path / "solar"
    ch = charger(cfg, workdir=work)
    fw = ch.fw
    fw.wait_log("on: mode solar")
    tid = start_charging(ch)
    ch.wait_status("SuspendedEVSE")
    export(server, 2300)  # 10 A on one phase at 230 V
    fw.wait_log(r"connector 1: resumed at 10 A \(solar\)")
    offered(ch, 10)
    # (The EV draws nothing at the simulator's meter: the grid shows the surplus as it is.)
    sent = len(ch.calls("StatusNotification"))
    export(server, -1150)  # a cloud: 5 A imported
    fw.wait_log(r"connector 1: offer 6 A \(solar\)")
    export(server, 2300)  # it passes before solarStopDelay
    fw.wait_log(r"connector 1: offer 10 A \(solar\)")
    assert "SuspendedEVSE" not in [p["status"] for p in ch.payloads("StatusNotification")[sent:]]
    assert "paused" not in fw.log.split("resumed at 10 A (solar)", 1)[1]
    export(server, -1150)  # a long one
    fw.wait_log(r"connector 1: paused: 0 A from solar", timeout=10)
    ch.wait_call("StatusNotification", count=2, where=lambda p: p["status"] == "SuspendedEVSE")
    assert ch.state()["transactionId"] == tid
    fw.wait_log("listening for commands")
    publish(b.port, "energy/mode/set", "min+solar")
    fw.wait_log(r"connector 1: resumed at 6 A \(solar\)")
    publish(b.port, "energy/mode/set", "fast")
    fw.wait_log(r"connector 1: offer 16 A \(hardware\)")
    assert ch.state()["transactionId"] == tid and len(ch.calls("StartTransaction")) == 1
    publish(b.port, "energy/mode/set", "turbo")
    fw.wait_log("mode 'turbo' refused")
    fw.stop()
    again = charger(cfg, workdir=work)
    again.fw.wait_log("on: mode fast")  # config.json says solar; the mode set last is on flash


def test_status_page_shows_every_source_and_sets_the_mode(cs, charger, grid):
    """Items 1, 4: the status page lists each source's limit, the offer and its source; its form sets the mode
    (kept like an MQTT one); an unknown mode is refused with 400 and changes nothing."""
    from harness.web_client import request, status_json

    relay, server = grid()
    export(server, 0)
    port, password = free_port(), "status-secret-17"
    ch = charger(
        {
            "web": {"enabled": True, "port": port, "host": "127.0.0.1", "password": password},
            "connectors": {"maxCurrent": 16},
            "energy": grid_config(relay, mainsFuse=40),
        }
    )
    ch.fw.wait_log(r"connector 1: offer 16 A \(hardware\)")
    ch.fw.wait_log(r"status page on http://127\.0\.0\.1:%d/" % port)
    e = status_json(port, password)["energy"]
    assert e["mode"] == "fast"
    c = e["connectors"][0]
    assert (c["offer"], c["source"]) == (16, "hardware")
    assert set(c["limits"]) == {"hardware", "ocpp", "local", "load", "solar", "switch"} and c["limits"]["hardware"] == 16
    code, _, body = request(port, path="/", password=password)
    assert code == 200 and b'id="energy"' in body and b'name="mode"' in body
    # The form's action carries the page's CSRF token (issue 25): a POST
    # without it changes nothing.
    action = re.search(rb'action="(/energy/mode\?csrf=[0-9a-f]+)"', body).group(1).decode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    code, _, _ = request(port, "POST", "/energy/mode", password, body="mode=solar", headers=form)
    assert code == 403 and status_json(port, password)["energy"]["mode"] == "fast"
    code, headers, _ = request(port, "POST", action, password, body="mode=min%2Bsolar", headers=form)
    assert code == 303 and headers["location"] == "/"
    ch.fw.wait_log("charging mode min\\+solar")
    assert status_json(port, password)["energy"]["mode"] == "min+solar"
    code, _, _ = request(port, "POST", action, password, body="mode=turbo", headers=form)
    assert code == 400 and status_json(port, password)["energy"]["mode"] == "min+solar"
    assert request(port, "POST", "/energy/mode", None, body="mode=fast", headers=form)[0] == 401


def phases(ch):
    return json.loads(ch.raw("phases 1")[3:])


def test_phase_switch_mid_session_keeps_the_transaction_and_never_switches_under_load(cs, charger, grid):
    """Item 5: solar on 3 phases; the surplus drops to what carries 6 A on one phase only: after solarStopDelay
    the offer goes to 0, the contactor opens, the EV draws nothing, then the output switches to 1 phase and the
    offer comes back (10 A); numberPhases 3 in a charging profile switches back. One transaction, no switch
    under load; ConnectorSwitch3to1PhaseSupported is true."""
    relay, server = grid()
    export(server, 6900)  # 10 A on each of 3 phases
    cfg = {
        "connectors": {"maxCurrent": 16, "phases": 3},
        "energy": grid_config(
            relay,
            gridInterval=0.3,
            mode="solar",
            solarStartDelay=0.5,
            solarStopDelay=1,
            resumeDelay=0.2,
            resumeHysteresis=0,
            phaseSwitch=True,
            phaseDelay=0.3,
            phaseStopTimeout=2,
        ),
    }
    ch = charger(cfg)
    fw = ch.fw
    res = cs.call("CP001", call.GetConfiguration(key=["ConnectorSwitch3to1PhaseSupported"]))
    assert [(k["value"], k["readonly"]) for k in res.configuration_key] == [("true", True)]
    tid = start_charging(ch)
    fw.wait_log(r"connector 1: (resumed at|offer) 10 A \(solar\)")
    assert phases(ch) == {"phases": 3, "switches": 0, "underLoad": 0}
    # (The EV draws nothing at the simulator's meter: the grid shows the surplus as it is.)
    export(server, 2300)  # 3.3 A on three phases, 10 A on one
    fw.wait_log(r"connector 1: switching to 1 phase\(s\)", timeout=10)
    fw.wait_log(r"connector 1: on 1 phase\(s\)")
    offered(ch, 10)
    s = ch.state()
    assert s["transactionId"] == tid and s["relay"] and s["status"] == "Charging"
    assert phases(ch) == {"phases": 1, "switches": 1, "underLoad": 0}
    prof = {
        "chargingProfileId": 9,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]},
    }
    assert cs.call("CP001", call.SetChargingProfile(connector_id=1, cs_charging_profiles=prof)).status == "Accepted"
    fw.wait_log(r"connector 1: on 3 phase\(s\)")
    assert phases(ch) == {"phases": 3, "switches": 2, "underLoad": 0}
    assert ch.state()["transactionId"] == tid and len(ch.calls("StartTransaction")) == 1


def test_home_assistant_discovery_adds_the_limit_number_and_the_mode_select(cs, charger, broker, grid):
    """Item 2: with mqtt.discovery, a number entity per connector commands the local limit, a select the mode,
    a sensor shows the offer; what HA sends on those command topics takes effect."""
    relay, server = grid()
    export(server, 0)
    b = broker()
    sub = Subscriber(b.port, "homeassistant/#")
    try:
        cfg = {"mqtt": dict(mqtt(b.port), discovery=True), "connectors": {"maxCurrent": 20}, "energy": grid_config(relay, localTimeout=60, safeCurrent=10)}
        ch = charger(cfg)
        ch.fw.wait_log("listening for commands")
        number = json.loads(sub.wait_value("homeassistant/number/CP001/connector_1_local_limit/config", re_any())[3])
        select = json.loads(sub.wait_value("homeassistant/select/CP001/charging_mode/config", re_any())[3])
        sensor = json.loads(sub.wait_value("homeassistant/sensor/CP001/connector_1_offer/config", re_any())[3])
        assert (number["command_topic"], number["min"], number["max"], number["unit_of_measurement"]) == (BASE + "energy/1/limit/set", 0, 20, "A")
        assert number["state_topic"] == BASE + "energy/1/sources" and number["value_template"] == "{{ value_json.local }}"
        assert select["options"] == ["fast", "solar", "min+solar"] and select["command_topic"] == BASE + "energy/mode/set"
        assert sensor["state_topic"] == BASE + "energy/1/offer" and sensor["device"]["identifiers"] == ["uocpp_CP001"]
        publish(b.port, "energy/1/limit/set", "12.5")
        ch.fw.wait_log(r"connector 1: offer 12.5 A \(local\)")
        publish(b.port, "energy/mode/set", "min+solar")
        ch.fw.wait_log("charging mode min\\+solar")
    finally:
        sub.stop()


def re_any():
    import re

    return re.compile(".*")


@pytest.mark.parametrize(
    "energy_cfg,expected",
    [
        ({"enabled": True, "localTimeout": 60}, "energy.localTimeout: the local limit comes over MQTT: needs mqtt.enabled"),
        ({"enabled": True, "mainsFuse": 25}, "energy.mainsFuse: load management needs the grid meter (energy.grid)"),
        ({"enabled": True, "mode": "solar"}, "energy.mode: solar needs the grid meter (energy.grid)"),
        ({"enabled": True, "mode": "turbo"}, "energy.mode: must be one of fast, solar, min+solar"),
        ({"enabled": True, "gridInterval": 5}, "energy.gridInterval: must be between 0.1 and 1"),
        ({"enabled": True, "fuse": 25}, "energy.fuse: unknown key"),
        ({"enabled": True, "grid": True, "gridBus": "meter"}, 'energy.gridBus: "meter" needs the energy meters\' bus (meter.model)'),
    ],
)
def test_bad_energy_settings_are_named(firmware, energy_cfg, expected):
    """A bad energy section halts in the safe state (exit 78) naming the key and its rule."""
    from harness.firmware import EXIT_CONFIG

    fw = firmware(1, {"energy": energy_cfg})
    assert fw.wait_exit(10) == EXIT_CONFIG
    assert expected in fw.log


def test_a_grid_meter_that_cannot_be_opened_gives_the_safe_current_and_the_charger_runs(cs, charger, tmp_path):
    """Item 3: energy.gridDevice that does not exist: logged, load limit gridSafeCurrent, charging goes on."""
    cfg = energy(grid=True, gridDevice=str(tmp_path / "no-such-tty"), mainsFuse=25, gridSafeCurrent=8)
    ch = charger({"energy": cfg})
    ch.fw.wait_log(r"grid meter cannot be used \(.*\): as if lost, load limit 8 A")
    start_charging(ch)
    s = offered(ch, 8)
    assert s["status"] == "Charging" and s["relay"]


def test_a_grid_meter_on_the_meters_bus_protects_the_fuse(cs, charger):
    """Item 3, gridBus "meter": one RS-485 bus (one pty) with the connector's SDM630 at address 1 and the grid
    meter at address 2 (pymodbus serving both): the charger reads both on the one bus, takes its own draw off
    the grid reading (load limit 25 - 5 = 20 A), and a house step on L2 cuts the offer within 2 s."""
    relay = Relay().start()
    server = SdmServer(relay.meter_path, address=1, also=(2,)).start()
    try:
        ev = dict(V1=230.0, V2=230.0, V3=230.0, I1=10.0, I2=10.0, I3=10.0, P_TOTAL=6900.0, FREQ=50.0, IMPORT_KWH=12.5)
        server.set(**ev)  # the connector's meter: the EV draws 10 A on each phase
        server.set_at(2, **dict(ev, I1=15.0, I2=15.0, I3=15.0, P_TOTAL=10350.0))  # the house connection: 5 A of the house's own + the EV
        cfg = energy(grid=True, gridBus="meter", gridAddress=2, gridInterval=0.5, gridTimeout=0.2, gridLostAfter=2, mainsFuse=25, rampStep=50)
        ch = charger({"meter": {"model": "SDM630", "device": relay.path, "timeout": 0.3}, "connectors": {"maxCurrent": 32}, "energy": cfg})
        fw = ch.fw
        fw.wait_log(r"grid meter SDM630 at address 2 on the meters' bus")
        start_charging(ch)
        offered(ch, 20)
        sent, _ = relay.take()
        assert {1, 2} <= set(_addresses(sent)), _addresses(sent)
        server.set_at(2, I2=25.0)  # the house takes 15 A on L2: the grid shows 25 A there
        t0 = time.monotonic()
        offered(ch, 10, timeout=2)
        assert time.monotonic() - t0 <= 2.0
        assert "grid meter lost" not in fw.log and ch.state()["status"] == "Charging"
    finally:
        server.stop()
        relay.close()


def _addresses(sent):
    # The Modbus addresses of the read requests (8-byte RTU frames: address, 0x04, ...) in what the firmware sent.
    return [sent[i] for i in range(0, len(sent) - 7, 8) if sent[i + 1] == 0x04]


def test_a_solar_mode_kept_on_flash_needs_the_grid_meter_still(cs, charger, tmp_path):
    """energy.json keeps the mode set last; without the grid meter in config.json any more (energy.grid off), a solar
    mode kept there would offer the full current from the grid under the name "solar": the configured mode is taken."""
    workdir = tmp_path / "cp"
    (workdir / "flash").mkdir(parents=True)
    (workdir / "flash" / "energy.json").write_text(json.dumps({"mode": "solar"}))
    ch = charger({"energy": energy()}, workdir=workdir)
    assert ch.fw.wait_log(r"on: mode ([a-z+]+)").group(1) == "fast"


def test_commands_arriving_more_often_than_the_keepalive_do_not_let_the_broker_drop_the_mirror(cs, charger, broker):
    """MQTT 3.1.1, 3.1.2.10: the client must SEND a packet within every keepalive period. An energy manager
    that repeats its limit more often than that (the same limit: no state changes, nothing published) must
    not silence the mirror's PINGREQs, or the broker drops the session after 1.5 keepalives."""
    b = broker()
    ch = charger({"mqtt": mirror_config(b.port, keepalive=1), "energy": energy(localTimeout=60, safeCurrent=16)})
    fw = ch.fw
    fw.wait_log("listening for commands")
    pub = subprocess.Popen(
        [_tool("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(b.port), "-t", BASE + "energy/1/limit/set", "-l"], stdin=subprocess.PIPE, text=True
    )
    try:
        pub.stdin.write("10\n")
        pub.stdin.flush()
        fw.wait_log(r"connector 1: local limit 10 A from the energy manager")
        pings = len(re.findall(r"Received PINGREQ from CP001", b.log))
        # The energy manager's schedule (not a wait for an event): the same limit every 0.25 s.
        for _ in range(16):
            pub.stdin.write("10\n")
            pub.stdin.flush()
            time.sleep(0.25)
        b.wait_log(r"Received PINGREQ from CP001", count=pings + 2, timeout=0.5)
    finally:
        pub.stdin.close()
        pub.wait(5)
    assert "CP001 has exceeded timeout" not in b.log
    assert not re.search(r"mqtt: connected .*session 2", fw.log), fw.log


def _scripted_session(server, tail):
    """Accept one mirror session: CONNACK, wait for its SUBSCRIBE, send SUBACK + tail."""
    conn, _ = server.accept()
    conn.settimeout(10)
    got = b""
    while b"energy/mode/set" not in got:
        data = conn.recv(4096)
        if not data:
            raise AssertionError("the mirror closed before subscribing")
        got += data
        if len(got) == len(data):  # the CONNECT: accepted
            conn.sendall(b"\x20\x02\x00\x00")
    conn.sendall(b"\x90\x03\x00\x01\x00" + tail)
    return conn


def test_a_session_lost_mid_command_does_not_garble_the_next_sessions_commands(cs, charger):
    """A broker connection that drops in the middle of a PUBLISH leaves part of it in the command parser;
    the next session's bytes are a new stream and its commands must be taken."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(20)
    topic = (BASE + "energy/1/limit/set").encode()
    body = bytes((0, len(topic))) + topic + b"12"
    command = b"\x30" + bytes((len(body),)) + body
    conns, errors = [], []

    def script():
        try:
            # Session 1: a PUBLISH that says 127 bytes, cut after 5, then the connection is gone.
            first = _scripted_session(server, b"\x30\x7f\x00\x05ocpp")
            time.sleep(0.2)  # the partial packet reaches the mirror before the close
            first.close()
            conns.append(_scripted_session(server, command))
        except Exception as e:  # noqa: BLE001 - shown by the test's assertion
            errors.append(e)

    t = threading.Thread(target=script, daemon=True)
    t.start()
    try:
        ch = charger({"mqtt": mirror_config(server.getsockname()[1]), "energy": energy(localTimeout=60, safeCurrent=16)})
        ch.fw.wait_log(r"mqtt: connected .*session 2")
        ch.fw.wait_log(r"connector 1: local limit 12 A from the energy manager", timeout=5)
        assert not errors, errors
    finally:
        server.close()
        for c in conns:
            c.close()
        t.join(5)


def test_a_solar_mode_set_while_the_grid_meter_is_lost_pauses(cs, charger, grid, broker):
    """A lost grid meter gives the solar limit 0 in `solar` (docs/energy.md, load management): nothing measures a
    surplus. The mode set to solar while the meter is lost (it was fast when it was lost) must pause too, not go on
    charging at the full offer from the grid under the name "solar"."""
    relay, server = grid()
    export(server, 0)
    b = broker()
    cfg = {"mqtt": mqtt(b.port), "connectors": {"maxCurrent": 16, "phases": 1}, "energy": grid_config(relay, resumeDelay=0.2)}
    ch = charger(cfg)
    fw = ch.fw
    fw.wait_log("listening for commands")
    tid = start_charging(ch)
    offered(ch, 16)
    server.stop()
    fw.wait_log(r"grid meter lost")
    publish(b.port, "energy/mode/set", "solar")
    fw.wait_log("charging mode solar")
    fw.wait_log(r"connector 1: paused: 0 A from solar", timeout=5)
    s = offered(ch, 0)
    assert s["transactionId"] == tid and not s["relay"]


def test_the_load_limit_is_the_safe_current_until_the_grid_meter_first_answers(cs, charger, grid):
    """Until its first reading the grid meter says nothing of the house: the load limit must be gridSafeCurrent
    from boot, as once the meter is lost (and as the local limit starts at safeCurrent), not the hardware's
    maximum for gridLostAfter s (here 10 s: twice the 5 s IEC 61851-1 gives the EV) on a dead grid meter."""
    relay, server = grid()
    server.stop()
    ch = charger({"connectors": {"maxCurrent": 32}, "energy": grid_config(relay, mainsFuse=20, gridLostAfter=10)})
    ch.fw.wait_log(r"grid meter SDM630 at address 2")
    tid = start_charging(ch)
    s = wait_state(ch, lambda s: s["transactionId"] == tid and s["relay"], "the EV charging")
    assert s["offeredA"] == 7 and "grid meter lost" not in ch.fw.log


def test_a_solar_mode_set_when_the_grid_meter_cannot_be_opened_pauses(cs, charger, broker, tmp_path):
    """A grid meter that cannot be used is "as if lost": in solar the solar limit 0 (docs/energy.md). A mode set to
    solar later (fast at boot) must pause too, not charge at the full offer from the grid under the name "solar"."""
    b = broker()
    cfg = energy(grid=True, gridDevice=str(tmp_path / "no-such-tty"), resumeDelay=0.2)
    ch = charger({"mqtt": mqtt(b.port), "connectors": {"maxCurrent": 16, "phases": 1}, "energy": cfg})
    fw = ch.fw
    fw.wait_log(r"grid meter cannot be used")
    fw.wait_log("listening for commands")
    tid = start_charging(ch)
    offered(ch, 16)
    publish(b.port, "energy/mode/set", "solar")
    fw.wait_log("charging mode solar")
    fw.wait_log(r"connector 1: paused: 0 A from solar", timeout=5)
    s = offered(ch, 0)
    assert s["transactionId"] == tid and not s["relay"]
