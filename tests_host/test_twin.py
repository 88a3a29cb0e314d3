"""The ESP32 twin (tests_host/twin/, tools/twin): the whole firmware, boot.py
and main.py unchanged, on the unix MicroPython with the ESP32 platform code
selected; stand-ins only for machine, network and esp32, a hardware model
behind them (pilot circuit, relay, lock, fault inputs, watchdog, Wi-Fi, OTA
partitions, a pymodbus SDM120 meter on a pty), driven by the simulator's
line protocol."""

import pytest

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
