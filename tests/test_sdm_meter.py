"""The SDM meter driver (lib/uocpp/device/sdm.py) on the MicroPython unix port
against a real Modbus RTU server: pymodbus on a pty, behind a relay that can
damage replies (harness/modbus_meter.py).

Every test checks what the firmware returned (or the MeterError it raised)
and the request bytes it put on the wire.
"""

import math

import pytest

from harness.net import tracked
from harness.modbus_meter import Relay, SdmServer, Shell

ENERGY = "Energy.Active.Import.Register"
MEASURANDS = [ENERGY, "Power.Active.Import", "Current.Import", "Voltage", "Frequency"]

# Requests as on the wire (CRC low byte first).
SDM630_BLOCKS = bytes.fromhex("01 04 00 00 00 0c f0 0f01 04 00 34 00 16 30 0a")
SDM120_BLOCKS = bytes.fromhex("01 04 00 00 00 0e 71 ce01 04 00 46 00 04 10 1c")

# float32-exact values, so the firmware's floats compare equal.
THREE_PHASE = dict(V1=230.5, V2=231.25, V3=229.75, I1=16.0, I2=15.5, I3=16.25, P_TOTAL=11040.0, FREQ=50.0, IMPORT_KWH=1234.5)
SINGLE_PHASE = dict(V1=229.5, I1=31.75, P1=7286.0, FREQ=49.875, IMPORT_KWH=87.125)


class Bench:
    def __init__(self, registers):
        self.relay = Relay().start()
        self.server = SdmServer(self.relay.meter_path, registers=registers).start()
        self.shell = Shell(self.relay.path)

    def meter(self, model="SDM630", address=1, timeout_ms=300, retries=1):
        answer = self.shell.ask("meter %s %d %d %d" % (model, address, timeout_ms, retries))
        self.relay.take()
        return answer

    def close(self):
        self.shell.close()
        self.server.stop()
        self.relay.close()


@pytest.fixture
def bench():
    """bench(registers=0x50): relay + pymodbus meter + MicroPython shell; all closed at teardown."""
    with tracked(Bench.close) as track:
        yield lambda registers=0x50: track(Bench(registers))


def test_sdm630_read_converts_kwh_to_wh_and_gives_phases(bench):
    """SDM630: one read() is two FC 0x04 requests; energy in Wh, current and voltage per phase, total power, frequency."""
    b = bench()
    b.server.set(**THREE_PHASE)
    assert b.meter("SDM630") == {"ok": MEASURANDS, "phases": 3}
    out = b.shell.ask("read")
    assert out["ok"] == {
        ENERGY: 1234500.0,
        "Power.Active.Import": 11040.0,
        "Current.Import": {"L1": 16.0, "L2": 15.5, "L3": 16.25},
        "Voltage": {"L1": 230.5, "L2": 231.25, "L3": 229.75},
        "Frequency": 50.0,
    }
    assert b.relay.take() == (SDM630_BLOCKS, ["ok", "ok"])


def test_sdm120_read_gives_plain_floats(bench):
    """SDM120: its own two blocks (0x0000+14, 0x0046+4); current and voltage are plain floats."""
    b = bench()
    b.server.set(**SINGLE_PHASE)
    assert b.meter("SDM120") == {"ok": MEASURANDS, "phases": 1}
    out = b.shell.ask("read")
    assert out["ok"] == {ENERGY: 87125.0, "Power.Active.Import": 7286.0, "Current.Import": 31.75, "Voltage": 229.5, "Frequency": 49.875}
    assert b.relay.take() == (SDM120_BLOCKS, ["ok", "ok"])


def test_a_value_changed_on_the_meter_is_seen_by_the_next_read(bench):
    """The server's registers change between polls: the next read() returns the new values."""
    b = bench()
    b.server.set(**THREE_PHASE)
    b.meter("SDM630")
    assert b.shell.ask("read")["ok"][ENERGY] == 1234500.0
    b.server.set(IMPORT_KWH=1235.25, P_TOTAL=3680.0, I2=0.0)
    second = b.shell.ask("read")["ok"]
    assert (second[ENERGY], second["Power.Active.Import"], second["Current.Import"]["L2"]) == (1235250.0, 3680.0, 0.0)


def test_one_crc_error_is_retried(bench):
    """A reply with one flipped data bit (CRC wrong, framing intact) is dropped and the request sent again."""
    b = bench()
    b.server.set(**THREE_PHASE)
    b.meter("SDM630", retries=1)
    b.relay.set_plan(["crc"])
    out = b.shell.ask("read")
    assert out["ok"][ENERGY] == 1234500.0
    sent, faults = b.relay.take()
    assert sent == SDM630_BLOCKS[:8] * 2 + SDM630_BLOCKS[8:]
    assert faults == ["crc", "ok", "ok"]


def test_a_crc_error_that_persists_raises_meter_error_naming_it(bench):
    """Every reply damaged: after 1 + retries attempts, MeterError(kind crc) says CRC and how many attempts."""
    b = bench()
    b.server.set(**THREE_PHASE)
    b.meter("SDM630", retries=2)
    b.relay.set_plan([], always="crc")
    out = b.shell.ask("read")
    assert out["kind"] == "crc"
    assert out["error"] == "SDM630 at address 1: CRC error in the reply to read 0x0000+12 (3 attempts)"
    assert b.relay.take() == (SDM630_BLOCKS[:8] * 3, ["crc"] * 3)


@pytest.mark.parametrize("silence", ["wrong address", "server stopped"])
def test_a_silent_meter_times_out_while_the_loop_keeps_running(bench, silence):
    """No reply (nobody at the address, or the server gone): MeterError after timeout x (retries + 1); a 10 ms ticker runs all along."""
    b = bench()
    address = 1
    if silence == "wrong address":
        b.relay.present = {1}  # the bus: only the meter at 1 answers
        address = 7
    else:
        b.server.stop()
    b.meter("SDM630", address=address, timeout_ms=200, retries=1)
    out = b.shell.ask("read tick")
    assert out["kind"] == "timeout", out
    assert out["error"] == "SDM630 at address %d: no answer to read 0x0000+12 within 200 ms (2 attempts)" % address
    # 2 x 200 ms, and the 100 ms gap the meter gets before the retry
    assert 480 <= out["ms"] <= 1500, out
    assert out["ticks"] >= out["ms"] // 10 * 0.8 - 2, out
    # 2 attempts at the first block (read() stops there)
    first = SDM630_BLOCKS[:8] if address == 1 else bytes.fromhex("07 04 00 00 00 0c f0 69")
    assert b.relay.take()[0] == first * 2


def test_lost_replies_are_retried_while_the_loop_keeps_ticking(bench):
    """Two replies lost on the wire: the third attempt answers; a concurrent 10 ms asyncio ticker keeps its pace throughout."""
    b = bench()
    b.server.set(**THREE_PHASE)
    b.meter("SDM630", timeout_ms=150, retries=2)
    b.relay.set_plan(["drop", "drop"])  # two silent attempts, the third answers
    out = b.shell.ask("read tick")
    assert out["ok"][ENERGY] == 1234500.0
    assert out["ms"] >= 2 * 150 + 2 * 100
    assert out["ticks"] >= out["ms"] // 10 * 0.8 - 2, out
    assert b.relay.take()[1] == ["drop", "drop", "ok", "ok"]


def test_a_modbus_exception_is_reported_with_its_code_and_not_retried(bench):
    """A meter without registers past 0x002F (illegal data address for 0x0034+22): MeterError(kind exception, code 2) at once."""
    b = bench(registers=0x30)
    b.server.set(**THREE_PHASE)
    b.meter("SDM630", retries=3)
    out = b.shell.ask("read")
    assert (out["kind"], out["code"]) == ("exception", 2)
    assert out["error"] == "SDM630 at address 1: Modbus exception 2 (illegal data address) to read 0x0034+22"
    assert b.relay.take() == (SDM630_BLOCKS, ["ok", "ok"])
    assert b.shell.ask("read")["kind"] == "exception"  # and the next poll says the same, without retries


def test_noise_before_a_reply_and_partial_replies(bench):
    """Noise bytes before a reply are skipped (no retry); a cut-off reply is retried; cut-off every time raises 'incomplete or garbled'."""
    b = bench()
    b.server.set(**THREE_PHASE)
    b.meter("SDM630", timeout_ms=200, retries=1)
    b.relay.set_plan(["garbage", "garbage"])
    assert b.shell.ask("read")["ok"][ENERGY] == 1234500.0
    assert b.relay.take() == (SDM630_BLOCKS, ["garbage", "garbage"])

    b.relay.set_plan(["truncate"])
    assert b.shell.ask("read")["ok"][ENERGY] == 1234500.0
    assert b.relay.take() == (SDM630_BLOCKS[:8] * 2 + SDM630_BLOCKS[8:], ["truncate", "ok", "ok"])

    b.relay.set_plan([], always="truncate")
    out = b.shell.ask("read")
    assert out["kind"] == "garbled"
    assert out["error"] == "SDM630 at address 1: incomplete or garbled reply to read 0x0000+12 (5 bytes: 0104184366) (2 attempts)"


def test_a_nan_register_is_a_meter_error_not_a_reading(bench):
    """A checked reply holding NaN in the energy register: MeterError(kind value), never a bogus Wh value."""
    b = bench()
    b.server.set(**dict(THREE_PHASE, IMPORT_KWH=math.nan))
    b.meter("SDM630")
    out = b.shell.ask("read")
    assert out["kind"] == "value"
    assert out["error"] == "SDM630 at address 1: register 0x0048 holds nan, not a reading"


def test_the_firmware_bills_from_the_modbus_meter(cs, charger):
    """TX-01, MV: with meter.model SDM120 on a pty the firmware's transactions take meterStart and meterStop,
    and its MeterValues their readings, from the real Modbus meter (pymodbus), not from the simulator."""
    from ocpp.v16 import call

    relay = Relay().start()
    server = SdmServer(relay.meter_path).start()
    try:
        server.set(**SINGLE_PHASE)  # 87.125 kWh
        ch = charger({"meter": {"model": "SDM120", "device": relay.path, "timeout": 0.5}})
        assert (
            cs.call("CP001", call.ChangeConfiguration(key="MeterValuesSampledData", value="Energy.Active.Import.Register,Voltage,Frequency")).status
            == "Accepted"
        )
        assert cs.call("CP001", call.ChangeConfiguration(key="MeterValuesSampledData", value="SoC")).status == "Rejected"  # the SDM120 has none
        ch.evse("plug 1", "card 1 ALICE", "charge 1")
        assert ch.wait_call("StartTransaction")[0]["meterStart"] == 87125
        server.set(IMPORT_KWH=88.5)
        assert cs.call("CP001", call.TriggerMessage(requested_message="MeterValues", connector_id=1)).status == "Accepted"
        sv = ch.wait_call("MeterValues")[0]["meterValue"][0]["sampledValue"]
        by = {s["measurand"]: s for s in sv}
        assert by["Voltage"]["value"] == "229.5" and by["Voltage"]["unit"] == "V"
        assert by["Energy.Active.Import.Register"]["unit"] == "Wh"
        ch.evse("unplug 1")
        assert ch.wait_call("StopTransaction")[0]["meterStop"] == 88500
    finally:
        server.stop()
        relay.close()


def test_power_loss_bills_the_meter_register_even_without_sampling(cs, charger, firmware, tmp_path):
    """TX-01: MeterValueSampleInterval 0 (the default): nothing but meterStart is on flash during the
    session; killed, the next boot stops it PowerLoss with the Modbus meter's register as it stands
    (a real meter keeps it through the outage), not with meterStart."""
    relay = Relay().start()
    server = SdmServer(relay.meter_path).start()
    work = tmp_path / "fw"
    try:
        server.set(**SINGLE_PHASE)  # 87.125 kWh
        meter = {"meter": {"model": "SDM120", "device": relay.path, "timeout": 0.5}}
        ch = charger(meter, workdir=work)
        ch.evse("plug 1", "card 1 ALICE", "charge 1")
        assert ch.wait_call("StartTransaction")[0]["meterStart"] == 87125
        server.set(IMPORT_KWH=91.25)  # 4.125 kWh charged, never sampled
        ch.fw.kill()
        again = firmware(cs.port, dict(meter, simulator={"port": ch.port}), workdir=work)
        stop = ch.wait_call("StopTransaction", timeout=10)[0]
        assert stop["reason"] == "PowerLoss" and stop["meterStop"] == 91250
        again.wait_log("was running at power loss")
    finally:
        server.stop()
        relay.close()


def test_a_meter_that_fails_during_a_transaction_suspends_it_until_it_answers(cs, charger):
    """A Modbus meter whose server stops during a transaction: after 3 failed reads the relay opens and the
    connector reports SuspendedEVSE with errorCode PowerMeterFailure (no energy the charger cannot bill); the
    transaction goes on. The server back, NoError and Charging again; failed again and stopped, meterStop is
    the last good reading."""
    from ocpp.v16 import call

    relay = Relay().start()
    server = SdmServer(relay.meter_path).start()
    try:
        server.set(**SINGLE_PHASE)  # 87.125 kWh
        ch = charger({"meter": {"model": "SDM120", "device": relay.path, "timeout": 0.5}})
        for key, value in (("MeterValuesSampledData", ENERGY), ("MeterValueSampleInterval", "1")):
            assert cs.call("CP001", call.ChangeConfiguration(key=key, value=value)).status == "Accepted"
        ch.evse("plug 1", "card 1 ALICE", "charge 1")
        assert ch.wait_call("StartTransaction")[0]["meterStart"] == 87125
        ch.wait_status("Charging")
        server.set(IMPORT_KWH=88.5)
        ch.wait_call("MeterValues", where=lambda p: p["meterValue"][0]["sampledValue"][0]["value"] == "88500")

        def failing(count):
            return ch.wait_call("StatusNotification", count, 30, lambda p: p["connectorId"] == 1 and p["errorCode"] == "PowerMeterFailure")[-1]

        def charging(count):
            return ch.wait_call("StatusNotification", count, 30, lambda p: p["connectorId"] == 1 and p["status"] == "Charging" and p["errorCode"] == "NoError")

        server.stop()  # the bus is silent
        assert failing(1)["status"] == "SuspendedEVSE"
        assert ch.state(1)["relay"] is False
        assert not ch.calls("StopTransaction"), "the transaction goes on"

        server = SdmServer(relay.meter_path).start()  # the meter answers again
        server.set(**dict(SINGLE_PHASE, IMPORT_KWH=88.75))
        charging(2)
        assert ch.state(1)["relay"] is True

        ch.wait_call("MeterValues", where=lambda p: p["meterValue"][0]["sampledValue"][0]["value"] == "88750")
        server.stop()
        failing(2)
        assert ch.state(1)["relay"] is False
        ch.evse("unplug 1")
        stop = ch.wait_call("StopTransaction", timeout=20)[0]
        assert stop["meterStop"] == 88750 and stop["reason"] == "EVDisconnected"
    finally:
        server.stop()
        relay.close()
