"""Safety latency (issue 22): how long the firmware takes to open a relay on
a hardware event while the network is busy. Connector 2 charges; a card at
connector 1 waits on an Authorize the central system never answers; then a
fault, or an unplug, at connector 2. The simulator answers a command only
once the firmware has acted on it (evse_sim.py), so the time from sending
the command to its reply is the time the session loop took to see the event
and open the relay (plus one loopback round trip); `state` then confirms
the relay is open. Prints one table (milliseconds).

    .venv/bin/python bench/safety.py [--rounds N]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

from central_system import CentralSystemThread  # noqa: E402
from ocpp.v16 import call  # noqa: E402
from harness.charger import Charger  # noqa: E402
from harness.net import free_port  # noqa: E402
from harness.firmware import FAST, Firmware, merge  # noqa: E402


def charging(ch, n, tag):
    ch.evse("plug %d" % n, "card %d %s" % (n, tag), "charge %d" % n)
    deadline = time.monotonic() + 10
    while ch.state(n)["relay"] is not True:
        if time.monotonic() > deadline:
            raise RuntimeError("connector %d never charged: %s" % (n, ch.state(n)))
        time.sleep(0.02)


def timed(ch, line):
    t0 = time.perf_counter()
    reply = ch.raw(line)
    took = (time.perf_counter() - t0) * 1000
    if reply != "ok":
        raise RuntimeError("%s -> %s" % (line, reply))
    return took


def measure(rounds):
    out = {"fault": [], "unplug": []}
    cs = CentralSystemThread(boot_plan=[("Accepted", 60)]).start()
    try:
        with tempfile.TemporaryDirectory() as work:
            port = free_port()
            cfg = merge(
                FAST,
                {
                    "centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % cs.port},
                    "simulator": {"port": port},
                    "connectors": {"count": 2},
                    "ocpp": {"messageTimeout": 300},
                    "log": {"level": "info"},
                },
            )
            fw = Firmware(Path(work) / "fw", cfg).start()
            try:
                fw.wait_log("registration Accepted")
                fw.wait_log("simulator listening")
                ch = Charger(cs, fw, port)
                ch.evse("power 2 7000")
                # BOB's card, once answered, is in the cache: with
                # LocalPreAuthorize it starts connector 2 at once.
                cs.call("CP001", call.ChangeConfiguration(key="LocalPreAuthorize", value="true"))
                charging(ch, 2, "BOB")
                ch.evse("unplug 2")
                cs.ignore_actions.add("Authorize")
                ch.evse("plug 1")
                ch.raw("card 1 WAITING")  # its Authorize stays unanswered for the whole run
                ch.wait_call("Authorize", where=lambda p: p["idTag"] == "WAITING")
                for _ in range(rounds):
                    for event in ("fault", "unplug"):
                        charging(ch, 2, "BOB")
                        line = "fault 2 GroundFailure" if event == "fault" else "unplug 2"
                        out[event].append(timed(ch, line))
                        if ch.state(2)["relay"] is not False:
                            raise RuntimeError("relay still closed after %s" % line)
                        ch.evse("clear 2", "unplug 2")
            finally:
                fw.stop()
    finally:
        cs.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    out = measure(args.rounds)
    print("| Event at connector 2 (connector 1's Authorize pending) | relay open after, median | max | rounds |")
    print("|---|---|---|---|")
    for event, label in (("fault", "fault (GroundFailure)"), ("unplug", "unplug")):
        v = out[event]
        print("| %s | %.1f ms | %.1f ms | %d |" % (label, statistics.median(v), max(v), len(v)))


if __name__ == "__main__":
    from bench import common

    common.run_writing("safety", main)
