"""Metering, status and conformance defects of issue 22 (part B), each
driven end to end: the firmware on the unix port against the `ocpp` central
system (schema validation on) or the raw server."""

import time

from ocpp.v16 import call


def change(cs, key, value):
    return cs.call("CP001", call.ChangeConfiguration(key=key, value=value)).status


def energy(mv):
    return [int(s["value"]) for m in mv["meterValue"] for s in m["sampledValue"] if s["measurand"].startswith("Energy")]


def contexts(mv):
    return {s["context"] for m in mv["meterValue"] for s in m["sampledValue"]}


# -- 1. MeterValueSampleInterval changed during a transaction ------------------------
def test_sample_interval_set_during_a_transaction_started_with_0_takes_effect_at_once(charger, cs):
    """A session started while MeterValueSampleInterval was 0 samples as soon as it is set to 2."""
    ch = charger()
    ch.evse("meter 1 100", "power 1 36000", "plug 1", "card 1 ALICE", "charge 1")
    tx = ch.transaction_id()
    assert change(cs, "MeterValueSampleInterval", "2") == "Accepted"
    set_at = time.monotonic()
    mvs = ch.wait_call("MeterValues", count=2, timeout=8, where=lambda p: "Sample.Periodic" in contexts(p))
    assert time.monotonic() - set_at < 6.5  # two samples within 2 intervals (and a poll tick each)
    assert all(mv["transactionId"] == tx for mv in mvs)


def test_sample_interval_shortened_during_a_transaction_takes_effect_at_once(charger, cs):
    """3600 -> 2 during a transaction: the next sample comes within the new interval, not after the hour."""
    ch = charger()
    assert change(cs, "MeterValueSampleInterval", "3600") == "Accepted"
    ch.evse("meter 1 100", "power 1 36000", "plug 1", "card 1 ALICE", "charge 1")
    ch.transaction_id()
    ch.wait_status("Charging")
    assert change(cs, "MeterValueSampleInterval", "2") == "Accepted"
    set_at = time.monotonic()
    ch.wait_call("MeterValues", timeout=6, where=lambda p: "Sample.Periodic" in contexts(p))
    assert time.monotonic() - set_at < 3.5
