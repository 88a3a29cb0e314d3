"""The ESP32 twin (harness/twin/, tools/twin): the whole firmware, boot.py
and main.py unchanged, on the unix MicroPython with the ESP32 platform code
selected; stand-ins only for machine, network and esp32, a hardware model
behind them (pilot circuit, relay, lock, fault inputs, watchdog, Wi-Fi, OTA
partitions, a pymodbus SDM120 meter on a pty), driven by the simulator's
line protocol."""

import json

import pytest
from ocpp.v16 import call

TWIN = pytest.mark.parametrize("charger", ["twin"], indirect=True)


@TWIN
def test_boots_to_accepted_on_the_esp32_platform_and_reads_its_pilot(charger):
    """The start-up crash (issue 23): App.run() starts evse.run(sessions), and the
    ESP32 EVSE must take it; the pilot is then sampled (plug reaches the firmware)."""
    ch = charger()
    log = ch.fw.log
    assert "ESP32: 1 connector(s)" in log  # the ESP32 EVSE driver, not the simulator
    assert "simulator listening" not in log
    assert ch.evse("plug 1") == ["ok"]
    ch.fw.wait_log(r"evse: connector 1: pilot A -> B")
    ch.wait_status("Preparing")
    assert ch.state()["pilot"] == "B"
    log = ch.fw.log
    assert "Traceback" not in log and "TypeError" not in log, log


def change(cs, key, value):
    return cs.call("CP001", call.ChangeConfiguration(key=key, value=value)).status


def duty_for(amps):
    # IEC 61851-1: 6..51 A -> A / 0.6 %, 51..80 A -> A / 2.5 + 64 %.
    return amps / 0.6 if amps <= 51 else amps / 2.5 + 64


@TWIN
@pytest.mark.parametrize("max_amps", [6, 63])  # the shortest high phase (10 %), the second formula
def test_a_session_drives_pilot_relay_and_lock_and_bills_from_the_modbus_meter(charger, cs, max_amps):
    """A remote-started session on the ESP32 drivers: the pilot's PWM duty is
    the IEC 61851-1 duty of the offered current (both formulas), the relay
    and the lock close, MeterValues come from the SDM120 over Modbus RTU, and
    the unplug opens everything and stops with EVDisconnected."""
    ch = charger({"connectors": {"maxCurrent": max_amps}})
    assert change(cs, "MeterValueSampleInterval", "1") == "Accepted"
    assert change(cs, "MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,Voltage") == "Accepted"
    hw = ch.fw.hw()["connectors"]["1"]
    assert hw["dutyPct"] == 100.0 and hw["relay"] is False and hw["locked"] is False  # nothing offered: steady +12 V
    ch.evse("meter 1 1000", "power 1 7000", "plug 1", "charge 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="REMOTE", connector_id=1)).status == "Accepted"
    start = ch.wait_call("StartTransaction")[0]
    assert start["meterStart"] == 1000  # read from the meter's register over Modbus
    ch.wait_status("Charging")
    hw = ch.fw.hw()["connectors"]["1"]
    assert abs(hw["dutyPct"] - duty_for(max_amps)) < 0.01, hw
    assert hw["relay"] is True and hw["locked"] is True and hw["pilotHighV"] == 6.0
    assert ch.state()["offeredA"] == max_amps  # read back from the duty, as the vehicle does
    mvs = ch.wait_call("MeterValues", count=2, timeout=8)
    values = [{s["measurand"]: float(s["value"]) for s in mv["meterValue"][0]["sampledValue"]} for mv in mvs]
    assert all(v["Power.Active.Import"] == 7000 and v["Voltage"] == 230 for v in values), values
    energies = [v["Energy.Active.Import.Register"] for v in values]
    assert energies == sorted(energies) and energies[-1] > 1000  # 7 kW adds about 2 Wh a second
    ch.evse("unplug 1")
    stop = ch.wait_call("StopTransaction")[0]
    assert stop["reason"] == "EVDisconnected" and stop["meterStop"] >= energies[-1]
    hw = ch.fw.hw()["connectors"]["1"]
    assert hw["dutyPct"] == 100.0 and hw["relay"] is False and hw["locked"] is False


@TWIN
def test_faults_open_the_relay_through_the_fault_inputs_and_the_pilot(charger, cs):
    """A fault input (GroundFailure) and a pilot shorted to PE (state E:
    EVCommunicationError) each open the relay and stop the transaction."""
    ch = charger()
    ch.evse("plug 1", "charge 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="REMOTE", connector_id=1)).status == "Accepted"
    ch.wait_status("Charging")
    assert ch.fw.hw()["connectors"]["1"]["relay"] is True
    ch.evse("fault 1 GroundFailure")
    assert ch.fw.hw()["connectors"]["1"]["relay"] is False
    assert ch.wait_call("StopTransaction")[0]["reason"] == "Other"
    assert ch.wait_status("Faulted")[0]["errorCode"] == "GroundFailure"
    ch.fw.wait_log(r"fault input GPIO \d+ \(GroundFailure, connector 1\): active")
    ch.evse("clear 1", "unplug 1")
    ch.wait_status("Available")
    ch.evse("plug 1", "fault 1 EVCommunicationError")
    faulted = ch.wait_call("StatusNotification", where=lambda p: p["errorCode"] == "EVCommunicationError")[0]
    assert faulted["status"] == "Faulted"
    assert ch.fw.hw()["connectors"]["1"]["pilotHighV"] == 0.0
    ch.evse("clear 1")
    assert ch.state()["status"] != "Faulted"


@TWIN
def test_a_lock_that_does_not_move_refuses_the_transaction(charger, cs):
    """The lock actuator is stuck: the driver waits out evse.lockTimeout on
    the feedback pin, no transaction starts, ConnectorLockFailure is reported;
    once it moves again, UnlockConnector answers Unlocked."""
    ch = charger()
    ch.evse("lock 1 fail", "plug 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="REMOTE", connector_id=1)).status == "Accepted"
    ch.fw.wait_log(r"lock did not reach locked within 500 ms")
    ch.fw.wait_log(r"the lock failed, no transaction")
    ch.wait_call("StatusNotification", where=lambda p: p["errorCode"] == "ConnectorLockFailure")
    assert not ch.payloads("StartTransaction")
    assert ch.fw.hw()["connectors"]["1"]["locked"] is False and ch.fw.hw()["connectors"]["1"]["relay"] is False
    ch.evse("lock 1 ok")
    assert cs.call("CP001", call.UnlockConnector(connector_id=1)).status == "Unlocked"


@TWIN
def test_a_lock_that_failed_is_not_left_driven_locked(charger, cs):
    """A lock that did not reach locked refuses the transaction, and is
    released: left driven to lock (level mode), its actuator stalls under
    current, and once it frees itself the bolt locks the cable of a charger
    with no transaction, which the user cannot take out."""
    ch = charger()
    ch.evse("lock 1 fail", "plug 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="REMOTE", connector_id=1)).status == "Accepted"
    ch.wait_call("StatusNotification", where=lambda p: p["errorCode"] == "ConnectorLockFailure")
    assert not ch.payloads("StartTransaction")
    assert ch.fw.hw()["connectors"]["1"]["lockPin"] == 0  # lockActive 1: not driven to lock


@TWIN
def test_wifi_loss_drops_the_link_and_its_return_reconnects(charger, cs):
    """The access point goes out of reach: the station's isconnected() turns
    False, the Wi-Fi monitor drops the OCPP link at once; back in reach, the
    station associates again and the link reconnects."""
    ch = charger()
    ch.fw.wait_log(r"link: connected \(connection 1\)")
    ch.fw.radio(False)
    ch.fw.wait_log(r"wifi: link to twin dropped; reconnecting")
    ch.fw.wait_log(r"dropping the connection: wifi down")
    ch.fw.wait_log(r"link: .*backing off", count=2)  # no route while the station is down
    assert "connection 2" not in ch.fw.log
    ch.fw.radio(True)
    ch.fw.wait_log(r"wifi: up and stable \(twin\)", count=2)
    ch.fw.wait_log(r"link: connected \(connection 2\)", timeout=15)
    assert cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
    ch.wait_call("Heartbeat")


@TWIN
def test_the_watchdog_resets_a_board_whose_loop_is_stuck(charger, cs):
    """A peripheral that hangs (the pilot ADC never answers) blocks the
    asyncio loop; the watchdog task cannot feed machine.WDT; the board resets
    (reset_cause WDT_RESET) and boots to Accepted again."""
    ch = charger({"watchdog": {"timeout": 2}})
    ch.fw.wait_log("watchdog: armed: 2000 ms")
    assert ch.fw.hw()["wdtMs"] == 2000
    ch.fw.stall("adc")
    ch.fw.wait_log(r"twin: watchdog not fed for 2000 ms: resetting the board", timeout=10)
    ch.fw.wait_log(r"twin: boot 2 from ota_0 \(reset cause 3\)")
    ch.fw.wait_log("registration Accepted", count=2, timeout=20)
    assert ch.fw.hw()["resetCause"] == 3
    ch.evse("plug 1")  # the pilot is read again after the reset


def test_a_soft_reset_is_no_watchdog_reset(raw, firmware):
    """RST-01: a Soft reset restarts the application, not the board. The hardware watchdog runs on across it (it
    cannot be stopped), but the old app's watchdog task was cancelled before link.close(), which waits up to 2 s for
    a central system that does not answer the close, and before the old tasks' cleanup: with watchdog.timeout 2 the
    board reset (WDT_RESET). The watchdog is fed through the cleanup."""
    fw = firmware(raw.port, {"watchdog": {"timeout": 2}, "log": {"level": "info"}}, twin=True)
    fw.wait_log("registration Accepted", timeout=20)
    conn = raw.wait_conn(1)
    raw.run(conn.send_call("r1", "Reset", {"type": "Soft"}))
    fw.wait_log("Soft reset requested")
    raw.run(conn.pause_reading())  # half-open from here: the close is not answered
    fw.wait_log("registration Accepted", count=2, timeout=20)
    assert "watchdog not fed" not in fw.log and fw.hw()["boots"] == 1, fw.log


@TWIN
def test_a_power_cut_kills_the_whole_twin_and_the_meter_keeps_its_register(charger, cs, firmware, tmp_path):
    """SIGKILL of tools/twin's process group mid-session is a power cut; the
    next start on the same flash is the next boot: the transaction stops
    with PowerLoss, billed at the meter's register, which the meter (powered
    apart) kept and which went on counting nothing while the relay was open."""
    work = tmp_path / "fw"
    ch = charger({"connectors": {"count": 1}}, workdir=work)
    assert change(cs, "MeterValueSampleInterval", "1") == "Accepted"
    ch.evse("meter 1 5000", "power 1 36000", "plug 1", "charge 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="REMOTE", connector_id=1)).status == "Accepted"
    ch.wait_status("Charging")
    mvs = ch.wait_call("MeterValues", count=2, timeout=8)
    last = max(float(s["value"]) for mv in mvs for s in mv["meterValue"][0]["sampledValue"] if s["measurand"].startswith("Energy"))
    ch.fw.kill()
    register = json.loads((ch.fw.root / "meter.json").read_text())["1"]
    assert register >= last
    again = firmware(cs.port, {"simulator": {"port": ch.port}}, workdir=work, twin=True)
    again.wait_log("was running at power loss", timeout=20)
    stop = ch.wait_call("StopTransaction", timeout=15)[0]
    assert stop["reason"] == "PowerLoss" and stop["meterStop"] >= int(last)
    assert abs(stop["meterStop"] - register) <= 1  # the register as the cut left it: no energy while off
    assert ch.state()["energyWh"] == pytest.approx(register, abs=0.5)


class RegisterChip:
    """A chip model with the agreed interface (transfer per CS-low transaction):
    [addr << 1 | 0x80, 0...] reads, [addr << 1, value...] writes (MFRC522 style)."""

    def __init__(self):
        self.regs = {}
        self.transactions = []

    def transfer(self, data):
        self.transactions.append(bytes(data))
        addr = (data[0] >> 1) & 0x3F
        if data[0] & 0x80:
            return bytes([0]) + bytes([self.regs.get(addr, 0)] * (len(data) - 1))
        for b in data[1:]:
            self.regs[addr] = b
        return bytes(len(data))


SPI_DRIVER = r"""
import machine
cs = machine.Pin(40, machine.Pin.OUT, value=1)
spi = machine.SPI(1, baudrate=1000000, sck=machine.Pin(18), mosi=machine.Pin(23), miso=machine.Pin(19))

def write_reg(addr, value):  # one call per transaction
    cs(0); spi.write(bytes([(addr << 1) & 0x7E, value])); cs(1)

def read_split(addr):  # the address, then the value: two calls in one transaction
    cs(0); spi.write(bytes([((addr << 1) & 0x7E) | 0x80])); v = spi.read(1); cs(1)
    return v[0]

def read_whole(addr):
    buf = bytearray(2)
    cs(0); spi.write_readinto(bytes([((addr << 1) & 0x7E) | 0x80, 0]), buf); cs(1)
    return buf[1]

write_reg(0x09, 0x5A)
print("RESULT", read_split(0x09), read_whole(0x09))
"""


def test_the_spi_stand_in_hands_each_cs_low_transaction_to_the_chip_model(tmp_path):
    """The SPI stand-in and a chip model that speaks whole CS-low
    transactions: a write, a read split over two calls (address, then value)
    and a one-call read each reach the chip as one transaction."""
    import os
    import subprocess

    from harness.firmware import MICROPYPATH, MICROPYTHON
    from harness.twin import model as twin_model
    from harness.twin.run import BOARD

    chip = RegisterChip()
    evse = dict(twin_model.board_layout(1), cardReader={"cs": 40})
    settings = {"evse": evse, "connectors": {"count": 1}, "meter": {"uart": 1}}
    m = twin_model.Model(settings, str(tmp_path), chip=chip)
    server = twin_model.hw_server(m)
    try:
        env = dict(os.environ, MICROPYPATH=BOARD + ":" + MICROPYPATH, TWIN_HW=str(server.server_address[1]))
        out = subprocess.run([MICROPYTHON, "-c", SPI_DRIVER], capture_output=True, text=True, env=env, timeout=30)
    finally:
        server.shutdown()
    assert "RESULT 90 90" in out.stdout, out.stdout + out.stderr
    assert chip.transactions == [bytes([0x12, 0x5A]), bytes([0x92, 0x00]), bytes([0x92, 0x00])]


@TWIN
def test_a_card_on_the_reader_starts_and_stops_a_session(charger, cs):
    """A card held to the MFRC522 (the chip model on the SPI stand-in, read by
    the firmware's own driver) starts a transaction with its UID as idTag;
    tapped again, it stops it; a tag no card can have is refused."""
    ch = charger()
    if ch.raw("card 1 04A1B2C3").startswith("error no card reader"):
        pytest.skip("the twin's board has no card reader yet (evse.cardReader: branch reader)")
    ch.fw.wait_log(r"card: card reader: card 04A1B2C3 at connector 1")
    assert ch.wait_call("Authorize")[0] == {"idTag": "04A1B2C3"}
    ch.evse("plug 1", "charge 1")
    start = ch.wait_call("StartTransaction")[0]
    assert start["idTag"] == "04A1B2C3"
    ch.wait_status("Charging")
    ch.evse("card 1 04A1B2C3")  # the same card again, after the reader's debounce
    assert ch.wait_call("StopTransaction")[0]["reason"] == "Local"
    assert ch.fw.hw()["connectors"]["1"]["relay"] is False
    assert ch.raw("card 1 ALICE").startswith("error idTag 'ALICE': a card's is its UID in hex")


def test_setup_mode_opens_the_access_point_and_the_saved_form_resets_into_normal_mode(cs, firmware):
    """The installer's path on the ESP32 code: setup mode opens the access
    point (network.WLAN(AP_IF)), the setup form saves the board's
    config.json, machine.reset() reboots the board, and the next boot joins
    the Wi-Fi network the form gave and registers."""
    from harness.net import free_port
    from harness.web_client import post_form

    port = free_port()
    cfg = {"web": {"setupMode": True, "port": port, "host": "127.0.0.1", "apPassword": "setup-secret-42"}}
    fw = firmware(cs.port, cfg, twin=True)
    fw.wait_log(r"web: access point 'uOCPP-CP001' up at 192\.168\.4\.1")
    fw.wait_log(r"setup page on http://127\.0\.0\.1:%d/" % port, timeout=20)
    fields = {
        "ssid": "site-wifi",
        "wifiPassword": "site-pass",
        "url": "ws://127.0.0.1:%d/ocpp" % cs.port,
        "chargePointId": "CP001",
        "authorizationKey": "",
        "securityProfile": "0",
    }
    code, _, _ = post_form(port, "setup-secret-42", fields)
    assert code in (200, 303)
    fw.wait_log(r"twin: machine.reset\(\): resetting the board")
    fw.wait_log(r"twin: boot 2 from ota_0 \(reset cause 2\)")
    fw.wait_log(r"wifi: up and stable \(site-wifi\)", timeout=20)
    fw.wait_log("registration Accepted", timeout=20)
    saved = json.loads((fw.root / "config.json").read_text())
    assert saved["wifi"]["ssid"] == "site-wifi" and saved["web"]["setupMode"] is False


@TWIN
def test_a_power_cut_of_the_firmware_alone_opens_the_relay_and_the_board_boots_again(charger, cs):
    """SIGKILL of the firmware's process only: the charger loses power, its
    GPIOs let go (the relay drops out at once), the meter beside it stays;
    the power returns, the board boots (PWRON_RESET) and stops the
    transaction with PowerLoss at the register, which did not move since."""
    import os
    import signal

    ch = charger()
    ch.evse("meter 1 2000", "power 1 36000", "plug 1", "charge 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="REMOTE", connector_id=1)).status == "Accepted"
    ch.wait_status("Charging")
    pid = int(ch.fw.wait_log(r"twin: firmware process (\d+)").group(1))
    os.kill(pid, signal.SIGKILL)
    ch.fw.wait_log(r"twin: the firmware process was killed \(SIGKILL\): a power cut: booting again")
    ch.fw.wait_log(r"twin: boot 2 from ota_0 \(reset cause 1\)")
    assert ch.fw.hw()["connectors"]["1"]["relay"] is False
    register = json.loads((ch.fw.root / "meter.json").read_text())["1"]
    stop = ch.wait_call("StopTransaction", timeout=20)[0]
    assert stop["reason"] == "PowerLoss" and abs(stop["meterStop"] - register) <= 1
    ch.fw.wait_log("registration Accepted", count=2)


def test_a_board_config_without_its_meter_halts_naming_the_key_not_a_reset_loop(cs, firmware):
    """meter.model "" means the EVSE's own meter (docs/configuration.md): the unix simulator has one, an ESP32
    board has none (platform/esp32.py meter() refuses it). The config check let it through, so the app failed at
    every start: "resetting in 5 s", a reset loop for ever instead of the safe state that names the key."""
    fw = firmware(cs.port, {"meter": {"model": ""}}, twin=True)
    fw.wait_log(r"^\s*meter\.model: required on an ESP32 board", timeout=20)
    assert "halted: config.json has 1 problem(s)" in fw.log
    assert "machine.reset()" not in fw.log and "the application failed" not in fw.log
    assert not cs.received("BootNotification")
