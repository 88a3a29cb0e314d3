"""The MQTT mirror's heap with Home Assistant discovery on and off.

A real mosquitto on a free port; the mirror alone (extras/mqtt_mirror.py on
MicroPython, 8 connectors) connects, publishes its round of discovery
configs and the state, and reports after gc.collect():
  before     live heap with the mirror constructed, before its first session
  held       the largest live heap while a packet is being sent (each
             config, then each state topic): the session's working set
  after      live heap once the round and the state are published
for the .py source and the .mpy build (what a board runs from flash).
Then the whole firmware's live heap idle after boot (bench/run.py's figure,
.mpy build) with the mirror off, on, and on with discovery.

    .venv/bin/python bench/mqtt_discovery.py
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, run  # noqa: E402
from harness.net import free_port  # noqa: E402
from harness.mqtt_broker import Broker  # noqa: E402

SCRIPT = """
import asyncio, gc, sys
from uocpp.config import settings
from uocpp.model import identity
from uocpp.model.state import State
identity.set_charge_point_vendor("Vendor"); identity.set_charge_point_model("Model"); identity.set_firmware_version("1.0.0")
s, _, problems = settings.validate({"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"},
    "connectors": {"count": 8}, "centralSystem": {"url": "ws://127.0.0.1:1/ocpp", "chargePointId": "CP001"},
    "mqtt": {"enabled": True, "host": "127.0.0.1", "port": PORT, "discovery": DISCOVERY}})
assert not problems, problems
sys.modules.pop("uocpp.config.settings"); del settings
from uocpp.extras.mqtt_mirror import MqttMirror
held = [0]
send = MqttMirror._send
async def sampled(self, stream, packet):
    # While a config is being sent, it and its packet are alive.
    gc.collect()
    held[0] = max(held[0], gc.mem_alloc())
    await send(self, stream, packet)
MqttMirror._send = sampled
state = State()
for n in range(9):
    state.set("connector/%d" % n, "Available")
state.set("registration", "Accepted")
mirror = MqttMirror(s, state)
async def main():
    gc.collect()
    before = gc.mem_alloc()
    task = asyncio.create_task(mirror.run())
    while not mirror.sessions:
        await asyncio.sleep_ms(5)
    await asyncio.sleep_ms(300)
    gc.collect()
    print("heap before %d held %d after %d" % (before, held[0], gc.mem_alloc()))
    task.cancel()
asyncio.run(main())
"""


def measure(build, port, discovery):
    code = SCRIPT.replace("PORT", str(port)).replace("DISCOVERY", "True" if discovery else "False")
    env = dict(os.environ, **build.env)
    env["MICROPYPATH"] = build.micropypath
    # The .mpy build's path is relative to the directory of its main.py.
    r = subprocess.run([build.micropython, "-c", code], capture_output=True, text=True, timeout=30, env=env, cwd=str(Path(build.main).parent))
    m = re.search(r"heap before (\d+) held (\d+) after (\d+)", r.stdout)
    if not m:
        raise RuntimeError(r.stdout + r.stderr)
    return tuple(int(x) for x in m.groups())


def main():
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(str(Path(tmp) / "broker"), free_port()).start()
        try:
            builds = [common.source_build(), common.mpy_build(Path(tmp) / "mpy")]
            print("| build | discovery | before the session | peak while a packet is sent | after the round |")
            print("|---|---|---|---|---|")
            for b in builds:
                off = measure(b, broker.port, False)
                on = measure(b, broker.port, True)
                print("| %s | off | %d | %d | %d |" % (b.kind, off[0], off[1], off[2]))
                print("| %s | on | %d | %d (%+d against off) | %d (%+d against off) |" % (b.kind, on[0], on[1], on[1] - off[1], on[2], on[2] - off[2]))
            print()
            print("| firmware, .mpy, idle after boot | live heap |")
            print("|---|---|")
            cs = common.start_cs()
            try:
                mirror = {"enabled": True, "host": "127.0.0.1", "port": broker.port}
                for label, mqtt in (("mqtt off", None), ("mqtt on", mirror), ("mqtt on, discovery on", dict(mirror, discovery=True))):
                    config = {"mqtt": mqtt} if mqtt else None
                    live = run.idle_heap(cs, builds[1], Path(tmp) / ("fw-%d" % len(label)), config=config)
                    print("| %s | %d |" % (label, live))
            finally:
                cs.stop()
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
