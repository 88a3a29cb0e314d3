"""The randomized scenario engine (issue 22, deliverable 5), on a short fixed
budget: harness/scenario/ runs the real firmware (two connectors) through
a fault-injecting proxy against the real `ocpp` central system, interleaving
EVSE events, reply faults (slow, dropped, CALLERROR, malformed from the 1.6
schemas), the central system's valid and malformed CALLs, link faults
(close, half-open, 503) and SIGKILLs, and checks its invariants while it
runs (engine.py's docstring lists them). `make soak` runs the same engine
for longer (harness/soak.py).

Replay one seed of this test: SCENARIO_SEEDS=<seed> pytest -n 0 tests/test_scenario.py
"""

import json
import os
import random
import re

import pytest
from jsonschema import Draft4Validator

from harness.scenario.engine import Scenario, make_plan
from harness.scenario.malform import fields, malformed, schema

SEEDS = [int(s) for s in os.environ.get("SCENARIO_SEEDS", "1,130").split(",")]
SECONDS = int(os.environ.get("SCENARIO_SECONDS", "30"))

# Every CALL a 1.6 charge point sends.
CHARGER_ACTIONS = (
    "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
    "Heartbeat", "MeterValues", "StartTransaction", "StatusNotification", "StopTransaction",
)  # fmt: skip
VALID = {
    "Authorize": {"idTagInfo": {"status": "Accepted"}},
    "BootNotification": {"status": "Accepted", "currentTime": "2026-12-06T10:00:00.000Z", "interval": 4},
    "DataTransfer": {"status": "Accepted"},
    "Heartbeat": {"currentTime": "2026-12-06T10:00:00.000Z"},
    "StartTransaction": {"transactionId": 1001, "idTagInfo": {"status": "Accepted"}},
    "StopTransaction": {"idTagInfo": {"status": "Accepted"}},
}
RFC3339 = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def breaks_schema(action, payload):
    """True when the payload is not a valid 1.6 reply (date-time format included)."""
    sch = schema(action)
    if list(Draft4Validator(sch).iter_errors(payload)):
        return True
    for path, sub, _req in fields(sch):
        if sub.get("format") == "date-time":
            obj = payload
            for key in path:
                obj = obj.get(key) if isinstance(obj, dict) else None
            if isinstance(obj, str) and not RFC3339.match(obj):
                return True
    return False


def test_malformed_replies_break_their_schema():
    """Issue 22 item 5: every malformed reply the proxy sends for each CALL a charge point sends is outside the 1.6 response schema, and every kind of break occurs."""
    rng = random.Random(7)
    kinds = set()
    for action in CHARGER_ACTIONS:
        valid = VALID.get(action, {})
        assert not breaks_schema(action, valid), action
        for _ in range(300):
            what, payload = malformed(action, valid, rng)
            assert breaks_schema(action, payload), (what, json.dumps(payload)[:200])
            kinds.add(what.split(" ")[1])
    assert {"wrong", "missing", "extra", "enum", "oversized", "bad", "payload"} <= kinds, kinds


def test_plan_is_replayable_from_its_seed():
    """The same seed gives the same plan; a longer budget starts with the shorter one's plan; another seed gives another."""
    a = [repr(e) for e in make_plan(4242, 60)]
    assert a == [repr(e) for e in make_plan(4242, 60)]
    longer = [repr(e) for e in make_plan(4242, 120)]
    assert longer[: len(a)] == a and len(longer) > len(a)
    assert a != [repr(e) for e in make_plan(4243, 60)]
    kinds = {e.kind for e in make_plan(4242, 600, "soak")}
    assert {"plug", "card", "card_stop", "charge", "suspend", "fault", "clear", "unplug", "power", "meter_jump", "lock", "remote_start", "remote_stop", "sample_interval", "trigger",
            "get_configuration", "availability", "bad_call", "link_close", "half_open", "refuse", "kill", "storage"} <= kinds, kinds  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 180)
@pytest.mark.parametrize("seed", SEEDS)
def test_scenario_invariants_hold(seed, tmp_path):
    """Issue 22 item 5: a seeded scenario of EVSE events, reply faults, central-system CALLs, link faults and kills: relay open within 1 s, CALLs answered within 2 s, CALLs keep coming, billing ledger clean, no task exception, bounded heap."""
    replay = "SCENARIO_SEEDS=%d SCENARIO_SECONDS=%d pytest -n 0 tests/test_scenario.py -k invariants" % (seed, SECONDS)
    scn = Scenario(seed, SECONDS, tmp_path / "fw", profile="test", replay=replay).run()
    print(scn.figures())
    print(scn.summary())
    assert not scn.violations, "%d violation(s) (replay: %s):\n%s" % (len(scn.violations), replay, "\n".join(map(str, scn.violations[:12])))
    # The run did what it claims: faults of each class reached the firmware.
    c = scn.counts
    assert scn.events >= SECONDS and scn.kills + c["links"] >= 2, (scn.events, dict(c))
    assert c["probes answered"] >= SECONDS // 3, dict(c)
    assert c["reply malformed"] + c["reply delay"] + c["reply drop"] + c["reply callerror"] >= 5, dict(c)
    assert c["relay checks"] >= 2 and c["cs calls answered"] >= 3, dict(c)
