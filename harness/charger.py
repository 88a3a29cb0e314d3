"""A charge point with its EVSE simulator, for charging-session tests: the
firmware on the unix port against the bundled central system, driven through
the simulator's line protocol (lib/uocpp/platform/evse_sim.py)."""

import json
import sys

from harness.firmware import REPO

sys.path.insert(0, str(REPO / "tools"))

import evse as evse_client  # noqa: E402


class Charger:
    def __init__(self, cs, fw, port, twin=False):
        # twin: the ESP32 twin (fw is a harness/twin/firmware.TwinFirmware)
        self.cs, self.fw, self.port, self.twin = cs, fw, port, twin

    def evse(self, *lines):
        """Send simulator commands; every reply must be ok. -> the replies."""
        replies = evse_client.send(list(lines), port=self.port)
        for line, reply in zip(lines, replies):
            if self.twin and reply.startswith("error no card reader"):
                import pytest

                pytest.skip("the twin's board has no card reader yet (evse.cardReader: branch reader)")
            assert reply.startswith("ok"), "%s -> %s" % (line, reply)
        return replies

    def raw(self, line):
        return evse_client.send([line], port=self.port)[0]

    def state(self, n=1):
        reply = self.evse("state")[0]
        return json.loads(reply[3:])[str(n)]

    def calls(self, action=None):
        return [f for f in self.cs.received(action) if f.kind == 2]

    def payloads(self, action):
        return [f.msg[3] for f in self.calls(action)]

    def wait_call(self, action, count=1, timeout=10, where=None):
        """Wait for `count` CALLs of `action` (matching where(payload)); -> their payloads."""
        def found(frames):
            hits = [f.msg[3] for f in frames if f.kind == 2 and f.action == action and (where is None or where(f.msg[3]))]
            return hits if len(hits) >= count else None

        return self.cs.wait_for(found, timeout, "%d x %s" % (count, action))

    def transaction_id(self, index=0, timeout=10):
        """The transactionId the central system gave the index-th StartTransaction (waits for its reply)."""
        start = self.cs.wait_for(lambda fs: (lambda s: s[index] if len(s) > index else None)([f for f in fs if f.kind == 2 and f.action == "StartTransaction"]), timeout, "StartTransaction")
        reply = self.cs.wait_for(lambda fs: next((f for f in fs if f.kind == 3 and f.msg[1] == start.msg[1]), None), timeout, "its reply")
        return reply.msg[2]["transactionId"]

    def wait_status(self, status, n=1, timeout=10):
        return self.wait_call("StatusNotification", where=lambda p: p["connectorId"] == n and p["status"] == status, timeout=timeout)
