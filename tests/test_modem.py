"""ICCID and IMSI from the cellular modem at boot, over real AT on a pty.

The library checks feed scripted modem output to lib/ocpp/modem.py on the
MicroPython unix port. The end-to-end tests start the firmware with its
modem UART on a pty served by harness/fake_modem.py, and read the
BootNotification the central system receives.
"""

import json
import random
import re
import time

import pytest
from ocpp.v16 import call

from harness import fake_modem
from harness.net import tracked
from harness.firmware import EXIT_CONFIG, run_micropython

# A scripted port on the unix port: each command written gets the canned
# bytes for it (ERROR if none), read back in small chunks as a UART would.
SCRIPTED = """
import json
from uocpp.device import modem

class Port:
    def __init__(self, script):
        self.script = script
        self.pending = b""
        self.sent = []
    def write(self, data):
        cmd = data.decode().strip()
        self.sent.append(cmd)
        self.pending += self.script.get(cmd, b"\\r\\nERROR\\r\\n")
    def read(self, n=256):
        chunk, self.pending = self.pending[:7], self.pending[7:]
        return chunk or None

for script in CASES:
    port = Port(dict((k, v.encode()) for k, v in script.items()))
    values, why = modem.read_identity(port, TIMEOUT, RETRIES, 5)
    print(json.dumps([values, why, port.sent]))
"""


def run_cases(cases, timeout=0.1, retries=1):
    code = "CASES = %s\nTIMEOUT = %r\nRETRIES = %d\n%s" % (json.dumps(cases), timeout, retries, SCRIPTED)
    result = run_micropython(code, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def answer(*lines):
    return "".join("\r\n%s\r\n" % line for line in lines)


OK = answer("OK")
GOOD_IMSI = answer("262011234567890", "OK")


@pytest.mark.parametrize(
    "script,iccid",
    [
        ({"AT+CCID": answer("+CCID: 89314404000123456789", "OK")}, "89314404000123456789"),
        ({"AT+CCID": answer('+CCID: "89314404000123456789"', "OK")}, "89314404000123456789"),
        ({"AT+CCID": answer("8931440400012345678F", "OK")}, "8931440400012345678"),  # bare, padded 19 digits
        ({"AT+CCID": answer("8931440400012345678f", "OK")}, "8931440400012345678"),
        ({"AT+QCCID": answer("+QCCID: 89860318740200184321", "OK")}, "89860318740200184321"),
        ({"AT+ICCID": answer("+ICCID: 8988211000000123456", "OK")}, "8988211000000123456"),
        ({"AT+CICCID": answer("+CICCID: 89860000000000000001", "OK")}, "89860000000000000001"),
        # echo, a URC with digits, RING, and lines ended by LF only
        ({"AT+CCID": "AT+CCID\r" + answer("+CREG: 1", "RING", "+CCID: 89314404000123456789", "+CSQ: 20,99", "OK")}, "89314404000123456789"),
        ({"AT+CCID": "\n+CCID: 89314404000123456789\n\nOK\n"}, "89314404000123456789"),
        # line noise and an overlong line before the answer
        ({"AT+CCID": "\xff\x00\x7f" + "9" * 300 + answer("+CCID: 89314404000123456789", "OK")}, "89314404000123456789"),
    ],
)
def test_iccid_answer_formats_are_parsed(script, iccid):
    """Every common modem dialect and answer shape yields the ICCID digits (trailing F dropped)."""
    script = dict(script, AT=OK)
    script.setdefault("AT+CIMI", GOOD_IMSI)
    [(values, why, sent)] = run_cases([script])
    assert values == {"iccid": iccid, "imsi": "262011234567890"}
    assert why is None
    assert sent[0] == "AT" and sent[-1] == "AT+CIMI"


def test_imsi_answer_formats_and_refusals():
    """+CIMI: prefixes and quotes are accepted; a short or non-numeric answer is no IMSI; no SIM stops the read."""
    iccid = answer("+CCID: 89314404000123456789", "OK")
    cases = [
        {"AT": OK, "AT+CCID": iccid, "AT+CIMI": answer('+CIMI: "310150123456789"', "OK")},
        {"AT": OK, "AT+CCID": iccid, "AT+CIMI": answer("12345", "OK")},
        {"AT": OK, "AT+CCID": iccid, "AT+CIMI": answer("+CME ERROR: 3")},
        {"AT": OK, "AT+CCID": answer("+CME ERROR: SIM not inserted")},
        {"AT": OK, "AT+CCID": answer("+CCID: 12345", "OK"), "AT+CIMI": GOOD_IMSI},
    ]
    out = run_cases(cases)
    assert out[0][0] == {"iccid": "89314404000123456789", "imsi": "310150123456789"}
    assert out[1][0] == {"iccid": "89314404000123456789"} and "no IMSI" in out[1][1]
    assert out[2][0] == {"iccid": "89314404000123456789"} and "+CME ERROR: 3" in out[2][1]
    assert out[3][0] == {} and "no SIM card" in out[3][1]
    assert out[3][2] == ["AT", "AT+CCID"]  # no SIM: nothing more to ask
    assert out[4][0] == {"imsi": "262011234567890"} and "no ICCID" in out[4][1]


def test_garbage_answers_never_crash_or_invent_values():
    """Random token soup from a broken UART: the reader returns, and any value it keeps is well-formed digits that were sent."""
    rng = random.Random(5)

    def digits():
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 24))) + rng.choice(["", "F", "f", "FF"])

    tokens = ["\r\n", "\r", "\n", "+CCID: ", "+QCCID:", "+CIMI: ", "+CREG: ", "OK", "ERROR", '"', " ", "RING", "\xff", "\x00", ",", ":"]

    def noise():
        return "".join(rng.choice(tokens) if rng.random() < 0.7 else digits() for _ in range(rng.randint(0, 30)))

    cases = [{"AT": OK, "AT+CCID": noise(), "AT+QCCID": noise() + OK, "AT+CIMI": noise() + answer("ERROR")} for _ in range(60)]
    kept = 0
    for case, (values, why, sent) in zip(cases, run_cases(cases, timeout=0.03, retries=0)):
        assert set(values) <= {"iccid", "imsi"}
        for value in values.values():
            assert value.isdigit()
        if "iccid" in values:
            assert 18 <= len(values["iccid"]) <= 22
            assert values["iccid"] in case["AT+CCID"] + case["AT+QCCID"]
        if "imsi" in values:
            assert 6 <= len(values["imsi"]) <= 15
            assert values["imsi"] in case["AT+CIMI"]
        assert len(values) == 2 or why
        kept += len(values)
    assert kept >= 5  # the soup did contain values to find


def test_a_modem_spewing_noise_cannot_hold_boot():
    """A UART that never stops delivering noise: the read still ends within its budget, with a reason."""
    code = """
import time
from uocpp.device import modem
class Noisy:
    def write(self, data):
        pass
    def read(self, n=256):
        return b"\\xff\\x00RING 12\\r\\n" * 8
t0 = time.ticks_ms()
values, why = modem.read_identity(Noisy(), 0.2, 2, 1)
print(values, why, time.ticks_diff(time.ticks_ms(), t0))
"""
    result = run_micropython(code)
    assert result.returncode == 0, result.stderr
    m = re.match(r"\{\} no answer to AT on the modem \(3 attempt\(s\) of 0.2 s\) (\d+)", result.stdout)
    assert m, result.stdout
    assert 600 - 20 <= int(m.group(1)) <= 1000 + 200


def test_modem_config_keys_are_checked_with_their_rules():
    """CFG: every bad modem/watchdog key is named with its rule, all at once."""
    code = """
from uocpp.config import settings
doc = {"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"},
       "centralSystem": {"url": "ws://127.0.0.1:1/ocpp", "chargePointId": "CP"},
       "modem": {"enabled": "yes", "baud": 7, "uart": 3, "device": 1, "timeout": 0, "retries": 9, "totalTimeout": 100, "parity": "N"},
       "watchdog": {"timeout": 0.5}}
out, ident, problems = settings.validate(doc)
for p in problems:
    print(p)
out, ident, problems = settings.validate({"chargePoint": doc["chargePoint"], "centralSystem": doc["centralSystem"]})
print(problems, out["modem"], out["watchdog"])
"""
    result = run_micropython(code)
    assert result.returncode == 0, result.stderr
    for expected in [
        "modem.enabled: must be a boolean, not str",
        "modem.baud: must be between 1200 and 921600",
        "modem.uart: must be between 0 and 2",
        "modem.device: must be a string, not int",
        "modem.timeout: must be between 0.05 and 30",
        "modem.retries: must be between 0 and 5",
        "modem.totalTimeout: must be between 0.1 and 60",
        "modem.parity: unknown key",
        "watchdog.timeout: must be 0 (off) or between 1 and 3600",
    ]:
        assert expected in result.stdout
    defaults = result.stdout.splitlines()[-1]
    assert defaults.startswith("[] ") and "'enabled': False" in defaults and "'timeout': 60" in defaults


# -- end to end: the firmware boots with its modem on a pty ---------------------


@pytest.fixture
def modem():
    with tracked(lambda m: m.close()) as track:
        yield lambda profile, **kw: track(getattr(fake_modem, profile)(**kw).start())


def modem_config(m, **over):
    cfg = {"enabled": True, "device": m.path, "timeout": 0.5, "retries": 2, "totalTimeout": 5}
    cfg.update(over)
    return {"modem": cfg}


def boot_payload(cs):
    return cs.wait_received("BootNotification", timeout=15)[0].payload


def test_good_modem_identity_reaches_the_boot_notification(cs, firmware, modem):
    """BN-01, BN-02: ICCID and IMSI read over AT replace the configured ones in BootNotification.req."""
    m = modem("good")
    cfg = modem_config(m)
    cfg["chargePoint"] = {"chargePointVendor": "TestVendor", "chargePointModel": "TestModel", "iccid": "1111", "imsi": "2222"}
    fw = firmware(cs.port, cfg)
    payload = boot_payload(cs)
    assert payload["iccid"] == fake_modem.ICCID
    assert payload["imsi"] == fake_modem.IMSI
    assert m.commands() == ["AT", "AT+CCID", "AT+CIMI"]
    fw.wait_log("modem: ICCID %s" % fake_modem.ICCID)
    # the modem is read before the network starts
    assert fw.log.index("modem: IMSI") < fw.log.index("link: connecting")


def test_chatty_modem_with_echo_and_urcs(cs, firmware, modem):
    """BN-02: command echo and unsolicited result codes around the answers do not confuse the reader."""
    m = modem("chatty")
    firmware(cs.port, modem_config(m))
    payload = boot_payload(cs)
    assert (payload["iccid"], payload["imsi"]) == (fake_modem.ICCID, fake_modem.IMSI)


def test_quectel_dialect_with_padded_iccid(cs, firmware, modem):
    """BN-02: AT+CCID answers ERROR, AT+QCCID answers a 19-digit ICCID padded with F: the digits are sent."""
    m = modem("good", iccid_commands=("AT+QCCID",), iccid="8931440400012345678F")
    firmware(cs.port, modem_config(m))
    payload = boot_payload(cs)
    assert payload["iccid"] == "8931440400012345678"
    assert m.commands() == ["AT", "AT+CCID", "AT+QCCID", "AT+CIMI"]


def test_slow_modem_is_retried(cs, firmware, modem):
    """A modem still booting ignores the first AT and answers slowly: retries get the identity."""
    m = modem("slow")
    fw = firmware(cs.port, modem_config(m))
    payload = boot_payload(cs)
    assert (payload["iccid"], payload["imsi"]) == (fake_modem.ICCID, fake_modem.IMSI)
    assert m.commands()[:2] == ["AT", "AT"]
    assert "no final result for AT within 500 ms" in fw.log


def test_silent_modem_boot_continues_without_identity(cs, firmware, modem):
    """BN-01: a silent modem costs at most retries x timeout; boot goes on without the modem's fields and says why."""
    m = modem("silent")
    cfg = modem_config(m, timeout=0.4, retries=2)
    cfg["chargePoint"] = {"chargePointVendor": "TestVendor", "chargePointModel": "TestModel", "imsi": "262019999999999"}
    started = time.monotonic()
    fw = firmware(cs.port, cfg)
    payload = boot_payload(cs)
    elapsed = time.monotonic() - started
    assert "iccid" not in payload
    assert payload["imsi"] == "262019999999999"  # config.json's value stays
    assert m.commands() == ["AT"] * 3
    line = fw.wait_log(r"modem: (no answer to AT on \S+ \(3 attempt\(s\) of 0.4 s\)); booting without the modem's ICCID and IMSI")
    assert m.path in line.group(1)
    fw.wait_log("IMSI from config.json kept: 262019999999999")
    assert 1.2 - 0.05 <= elapsed < 1.2 + 4  # three silent attempts, then on with the boot


def test_modem_total_timeout_bounds_boot(cs, firmware, modem):
    """A slow modem cannot hold boot longer than modem.totalTimeout."""
    m = modem("good", delay=0.25)
    fw = firmware(cs.port, modem_config(m, timeout=1, retries=5, totalTimeout=0.6))
    payload = boot_payload(cs)
    assert "imsi" not in payload
    fw.wait_log(r"modem\.totalTimeout \(0\.6 s\) ran out; booting without the modem's")
    ts = [float(line.split()[0]) for line in fw.log.splitlines() if " modem: " in line]
    assert ts[-1] - ts[0] < 0.6 + 0.3


def test_erroring_modem_boot_continues_and_log_names_the_answers(cs, firmware, modem):
    """An ERROR to every identity command: boot goes on without the fields; the log names what was tried."""
    m = modem("erroring")
    fw = firmware(cs.port, modem_config(m))
    payload = boot_payload(cs)
    assert "iccid" not in payload and "imsi" not in payload
    assert m.commands() == ["AT", "AT+CCID", "AT+QCCID", "AT+ICCID", "AT+CICCID", "AT+CIMI"]
    fw.wait_log(r"no ICCID: AT\+CCID/AT\+QCCID/AT\+ICCID/AT\+CICCID answered ERROR; no IMSI: AT\+CIMI answered ERROR")


def test_missing_modem_device_is_reported_and_boot_continues(cs, firmware, tmp_path):
    """A modem port that cannot be opened is one log line, not a crash."""
    fw = firmware(cs.port, {"modem": {"enabled": True, "device": str(tmp_path / "ttyNONE")}})
    payload = boot_payload(cs)
    assert "iccid" not in payload
    fw.wait_log(r"modem: cannot open the modem port: .*; booting without the modem's ICCID and IMSI")
    assert "Traceback" not in fw.log


def _feed_gaps(log):
    # Seconds between the watchdog's feeds (and arms) in a debug log.
    ts = [float(line.split()[0]) for line in log.splitlines() if re.search(r" watchdog: (fed \(|unix stand-in armed)", line)]
    return [b - a for a, b in zip(ts, ts[1:])]


def test_a_soft_reset_reading_a_silent_modem_cannot_outlast_the_watchdog(cs, firmware, modem):
    """RST-01: a Soft reset restarts the application, not the board. main.py reads config.json again, and the modem
    with it (config/loading.py), while the hardware watchdog runs unfed: a silent modem (3 attempts of 1 s) held the
    restart 3 s against a watchdog of 2 s, and a board resets (WDT_RESET). A watchdog that cannot cover the read is
    refused, naming the key; one that can is fed in time across the restart."""
    m = modem("silent")
    cfg = modem_config(m, timeout=1, retries=2, totalTimeout=6)
    cfg["watchdog"] = {"timeout": 2}
    fw = firmware(cs.port, cfg)
    assert fw.wait_exit(10) == EXIT_CONFIG
    assert re.search(r"watchdog\.timeout: 2 s does not cover a soft reset, .*modem\.totalTimeout 6 s.*: at least 9\.3 s", fw.log), fw.log
    m = modem("silent")
    cfg = modem_config(m, timeout=0.4, retries=2, totalTimeout=1.5)
    cfg.update(watchdog={"timeout": 4}, log={"level": "debug"})
    fw = firmware(cs.port, cfg)
    fw.wait_log("registration Accepted", timeout=20)
    assert cs.call("CP001", call.Reset(type="Soft")).status == "Accepted"
    fw.wait_log("registration Accepted", count=2, timeout=30)
    fw.wait_log(r"watchdog: fed \(1\)", count=2, timeout=10)
    assert m.commands().count("AT") >= 3 and max(_feed_gaps(fw.log)) < 4, _feed_gaps(fw.log)
