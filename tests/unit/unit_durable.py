# outbox.py: its durable lane on flash. What a stored message
# costs the flash, in every state: a compact record, and a full journal
# that drops the oldest MeterValues and appends without rewriting itself.
from check import TempDir, eq

from uocpp import log
from uocpp.outbox import Outbox
from uocpp.store import record

log.set_level("error")

HDR = 12


def durable_lane(path, max_bytes):
    # The outbox's durable lane alone: nothing else of it is used here.
    return Outbox(None, None, None, None, None, path, max_bytes)


def meter_values(n):
    # A periodic sample as services/metering.py stores it.
    sv = {"value": "%d" % (1000 + n), "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    return {"connectorId": 1, "meterValue": [{"timestamp": "2026-12-06T16:31:%02dZ" % (n % 60), "sampledValue": [sv]}]}


START = {"connectorId": 1, "idTag": "WEAR", "meterStart": 0, "timestamp": "2026-12-06T16:31:12Z"}


def test_a_record_reads_back_as_stored_and_is_compact():
    for obj in (["u-1", "MeterValues", meter_values(7), 3], ["u-2", "StartTransaction", START, None], ["u-3", "X", {"s": '\x01 ,"context":" \u00e9'}, 1]):
        eq(record.loads(record.dumps(obj)), obj, "round trip")
    import json

    plain = json.dumps(["u-1", "MeterValues", meter_values(7), 3])
    eq(record.loads(plain), json.loads(plain), "a record stored before (plain JSON)")
    eq(len(record.dumps(["4b1e2c9a-17", "MeterValues", meter_values(7), 3])) <= 80, True, "a periodic MeterValues record in 80 bytes")


def fill_then_measure(max_bytes, extra):
    # A StartTransaction, then MeterValues until the lane drops the oldest,
    # then `extra` more: -> (journal bytes written per extra message, the
    # record's size, the actions left oldest first, the values left).
    with TempDir("durable") as d:
        lane = durable_lane(d + "/j", max_bytes)
        lane.store("StartTransaction", START, 1)
        n = 0
        while lane.stored_count("MeterValues") == n:  # until one was dropped
            n += 1
            lane.store("MeterValues", meter_values(n), 1)
        j = lane._journal
        before = j.bytes_written
        for _ in range(extra):
            n += 1
            lane.store("MeterValues", meter_values(n), 1)
        per = (j.bytes_written - before) / extra
        size = HDR + len(record.dumps(["xxxxxxxx-%d" % n, "MeterValues", meter_values(n), 1]))
        left = [(r[1], r[2]) for r in _heads(lane)]
        j.close()
        return per, size, n, left


def _heads(lane):
    out = []
    for _seq, body in lane._journal.records():
        out.append(record.loads(body))
    return out


def test_a_full_journal_appends_in_bytes_of_a_record_not_of_the_journal():
    # Offline for long: every new sample drops the oldest. The flash written
    # per message must not grow with the journal (it used to be the whole
    # journal, rewritten by a compaction for every message).
    for max_bytes in (8192, 32768):
        per, size, n, left = fill_then_measure(max_bytes, 300)
        eq(per <= 5 * size, True, "journalBytes %d: %.0f bytes written per message with the journal full, a record is %d" % (max_bytes, per, size))
        eq(left[0], ("StartTransaction", START), "the StartTransaction is kept")
        values = [int(p["meterValue"][0]["sampledValue"][0]["value"]) - 1000 for a, p in left[1:]]
        eq(values, list(range(n - len(values) + 1, n + 1)), "the newest MeterValues kept, the oldest dropped")
        eq(len(values) > (max_bytes * 60 // 100) // size, True, "most of the journal still holds MeterValues")


def test_starts_and_stops_use_the_room_meter_values_leave_free():
    with TempDir("durable") as d:
        lane = durable_lane(d + "/j", 4096)
        for n in range(200):
            lane.store("MeterValues", meter_values(n), 1)
        stops = 0
        try:
            while stops < 200:
                lane.store("StopTransaction", {"meterStop": 5, "timestamp": "2026-12-06T16:31:12Z", "transactionId": 1, "reason": "Local"}, stops)
                stops += 1
        except Exception as e:
            eq(type(e).__name__, "JournalFull", "only when no MeterValues is left to drop")
        eq(lane.stored_count("MeterValues"), 0, "every MeterValues made way")
        eq(lane.stored_count("StopTransaction"), stops, "no StopTransaction dropped")
        lane._journal.close()


def test_a_full_journal_says_so_once_not_for_every_message():
    lines = []
    real = log.warning
    log.warning = lambda tag, msg, *args: lines.append(msg % args)
    try:
        fill_then_measure(4096, 50)
    finally:
        log.warning = real
    eq(lines, ["journal full: dropping the oldest stored MeterValues"], "warnings")


def test_a_journal_left_as_its_lone_temp_file_is_read_at_boot():
    # FAT: a compaction killed between removing the journal and renaming its
    # temp file over it leaves only path.tmp, which the journal adopts when
    # opened. The lane must open it at boot too: what it holds is what the
    # power-loss recovery decides from (an empty list forgets a transaction
    # whose StartTransaction waits there, and drops the transactionId its
    # waiting StopTransaction needs).
    import os

    with TempDir("durable") as d:
        lane = durable_lane(d + "/j", 4096)
        lane.store("StartTransaction", START, 1)
        lane.store("StopTransaction", {"meterStop": 5, "timestamp": "2026-12-06T16:31:12Z", "reason": "Local"}, 1)
        lane._journal.close()
        os.rename(d + "/j", d + "/j.tmp")
        lane = durable_lane(d + "/j", 4096)
        eq(lane.stored(), [("StartTransaction", 1), ("StopTransaction", 1)], "what the journal holds, read at boot")
        eq(len(lane), 2, "both waiting to be sent")
        lane._journal.close()
