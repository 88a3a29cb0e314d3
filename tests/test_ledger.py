"""The billing ledger (harness/ledger.py) itself: each rule it checks
flags a made-up breach of it, and passes the same story told right. Also:
its read-only journal reader sees what the firmware's Journal holds."""

import json

from harness.firmware import run_micropython
from harness.ledger import Ledger, read_journal, read_tx

from central_system import Frame  # tools/ is on the path (conftest.py)

T0 = "2026-12-02T01:00:00Z"
T1 = "2026-12-02T01:00:01Z"
T2 = "2026-12-02T01:00:02Z"


def cp(uid, action, payload):
    return Frame("CP001", "in", json.dumps([2, uid, action, payload]))


def result(uid, payload=None):
    return Frame("CP001", "out", json.dumps([3, uid, payload or {}]))


def error(uid):
    return Frame("CP001", "out", json.dumps([4, uid, "InternalError", "scripted failure", {}]))


def start(uid="s1", tag="T1", wh=1000, tid=1001, connector=1):
    return [
        cp(uid, "StartTransaction", {"connectorId": connector, "idTag": tag, "meterStart": wh, "timestamp": T0}),
        result(uid, {"transactionId": tid, "idTagInfo": {"status": "Accepted"}}),
    ]


def sample(uid, tid, wh, ts=T1, connector=1):
    return cp(
        uid,
        "MeterValues",
        {
            "connectorId": connector,
            "transactionId": tid,
            "meterValue": [
                {
                    "timestamp": ts,
                    "sampledValue": [{"value": "%d" % wh, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
                }
            ],
        },
    )


def stop(uid, tid, wh, reason="Local", ts=T2):
    return cp(uid, "StopTransaction", {"transactionId": tid, "meterStop": wh, "timestamp": ts, "reason": reason})


def ledger_of(frames, logs=(), interval=1):
    led = Ledger(sample_interval=interval)
    led.feed_all(frames)
    led.firmware_log(logs)
    return led


def test_a_clean_session_has_no_violation_and_copies_with_one_id_are_counted():
    frames = start() + [sample("m1", 1001, 1010), result("m1"), stop("p1", 1001, 1020), stop("p1", 1001, 1020), result("p1")]
    led = ledger_of(frames)
    assert led.check() == []
    fig = led.figures()
    assert fig["started"] == 1 and fig["states"] == {"stopped": 1}
    assert fig["per_action"]["StopTransaction"]["resent_unanswered"] == 1


def test_a_second_stop_with_another_id_is_a_violation():
    led = ledger_of(start() + [stop("p1", 1001, 1020), result("p1"), stop("p2", 1001, 1020), result("p2")])
    assert any("2 different StopTransactions" in v for v in led.check())


def test_never_stopped_meter_backwards_and_unknown_ids():
    led = ledger_of(start())
    assert any("never stopped" in v for v in led.check())
    led = ledger_of(start() + [stop("p1", 1001, 999), result("p1")])
    assert any("meterStop 999 < meterStart 1000" in v for v in led.check())
    led = ledger_of(start() + [sample("m1", 4242, 1010), stop("p1", 1001, 1020), result("p1")])
    assert any("never gave out" in v for v in led.check())


def test_billing_below_a_sampled_value_and_a_hole_in_the_samples():
    led = ledger_of(start() + [sample("m1", 1001, 1030), result("m1"), stop("p1", 1001, 1020, "PowerLoss"), result("p1")])
    assert any("below the sampled value 1030" in v for v in led.check())
    late = "2026-12-02T01:00:09Z"
    led = ledger_of(start() + [sample("m1", 1001, 1010, ts=late), result("m1"), stop("p1", 1001, 1020, ts=late), result("p1")])
    assert any("no sampled value for 9 s" in v for v in led.check())


def test_one_id_two_messages_and_values_after_the_stop():
    led = ledger_of(start() + [stop("p1", 1001, 1020), result("p1"), sample("p1", 1001, 1010)])
    assert any("carried two different messages" in v for v in led.check())
    led = ledger_of(start() + [stop("p1", 1001, 1020), result("p1"), sample("m1", 1001, 1010), result("m1")])
    assert any("arrived after its StopTransaction" in v for v in led.check())


def test_a_stop_given_up_after_callerrors_is_reported_not_a_violation():
    frames = start() + [stop("p1", 1001, 1020), error("p1"), stop("p1", 1001, 1020), error("p1"), stop("p1", 1001, 1020), error("p1")]
    led = ledger_of(frames, ["1.0 E outbox: StopTransaction p1 dropped after 3 attempts: InternalError"])
    assert led.check() == []
    assert led.figures()["states"] == {"stop-dropped": 1}
    assert led.figures()["callerror_retries"] == 2
    # Without the firmware saying so, an unanswered StopTransaction is lost.
    led = ledger_of(frames)
    assert any("never answered" in v for v in led.check())


def test_a_restarted_start_with_a_new_transaction_id_is_one_transaction():
    frames = start() + [cp("s1", "StartTransaction", start()[0].msg[3]), result("s1", {"transactionId": 1002, "idTagInfo": {"status": "Accepted"}})]
    led = ledger_of(frames + [stop("p1", 1002, 1020), result("p1")])
    assert led.check() == []
    assert led.figures()["restarted_with_new_id"] == 1
    assert led.figures()["per_action"]["StartTransaction"]["resent_answer_lost"] == 1


def test_stored_messages_must_arrive_unless_their_start_was_given_up():
    led = ledger_of(start())
    led.persisted([(5, "m9", "MeterValues", {"connectorId": 1, "meterValue": []}, 7)], {})
    assert any("never arrived" in v for v in led.check())
    led = ledger_of([], ["0.1 E session: StartTransaction of transaction local 7 could not be delivered", "0.2 W outbox: MeterValues m9 cannot be sent: dropped"])
    led.persisted([(5, "m9", "MeterValues", {"connectorId": 1, "meterValue": []}, 7)], {})
    assert led.check() == []


def running(remote=1001, wh=1010, wt=T1, **more):
    # tx.json as model/transactions.py writes it, one transaction running.
    rec = {"c": 1, "tag": "T1", "start": 1000, "t": T0, "wh": wh, "remote": remote, "p": None}
    if wt is not None:
        rec["wt"] = wt
    saved = {"next": 2, "run": {"1": rec}, "remote": {}}
    saved.update(more)
    return saved


START_REC = (4, "s1", "StartTransaction", {"connectorId": 1, "idTag": "T1", "meterStart": 1000, "timestamp": T0}, 1)


TX = """
from uocpp.model.transactions import Transactions
tx = Transactions(%(p)r)
a = tx.begin(1, "T1", 1000, %(t0)r)
tx.reading(a, 1010, %(t1)r)
tx.started(a, 1001)
tx.fixed["s%%d" %% a] = %(t1)r  # a start put right (services/start_stop.py _put_right)
tx.save()
b = tx.begin(2, "T2", 2000, %(t0)r)
tx.started(b, 1002)
tx.stopped(b)
print("ok")
"""


def test_read_tx_reads_what_transactions_py_writes(tmp_path):
    path = tmp_path / "tx.json"
    assert len(read_tx(path)) == 0
    res = run_micropython(TX % {"p": str(path), "t0": T0, "t1": T1})
    assert res.stdout.strip() == "ok", res.stdout + res.stderr
    tx = read_tx(path)
    assert tx.run == {"1": {"c": 1, "tag": "T1", "start": 1000, "t": T0, "wh": 1010, "wt": T1, "remote": 1001, "p": None}}
    assert tx.remote == {"2": 1002} and tx.fix == {"s1": T1}
    assert len(tx) == 2  # what Transactions.count() says: the drains wait for 0


def test_a_transaction_running_at_a_kill_ends_powerloss_at_or_above_its_stored_reading():
    # meterStop: the register at boot or the last stored reading, whichever is
    # higher; the time: the last stored reading's.
    for wh, reason, ts, ok in (
        (1010, "PowerLoss", T1, True),
        (1015, "PowerLoss", T1, True),  # the meter went on a little after the last stored reading
        (1005, "PowerLoss", T1, False),  # below the stored reading: energy lost
        (1010, "Local", T1, False),
        (1010, "PowerLoss", T2, False),  # stamped at the boot, not at the last reading: bills the outage
    ):
        led = ledger_of(start() + [stop("p1", 1001, wh, reason, ts=ts), result("p1")])
        led.persisted([], running(), kill=3)
        bad = [v for v in led.check() if "expected a PowerLoss stop at >= 1010 Wh stamped %s" % T1 in v]
        assert (bad == []) == ok, (wh, reason, ts, led.check())
    # No reading stored yet: meterStart, at the start's time.
    led = ledger_of(start() + [stop("p1", 1001, 1000, "PowerLoss", ts=T0), result("p1")])
    led.persisted([], running(wh=1000, wt=None), kill=3)
    assert led.check() == []


def test_a_sample_on_flash_above_the_stored_reading_is_what_the_powerloss_stop_bills():
    # A full flash: tx.json kept 1010 Wh at T1, but a later sample (1030 Wh at
    # T2) reached the journal; the stop bills that sample, at its time
    # (services/power_loss.py: never below a sample on flash).
    stored = (5, "m1", "MeterValues", {"connectorId": 1, "meterValue": [sample("m1", 1001, 1030, ts=T2).msg[3]["meterValue"][0]]}, 1)
    for wh, ts, ok in ((1030, T2, True), (1031, T2, True), (1010, T1, False), (1030, T1, False)):
        led = ledger_of(start() + [sample("m1", 1001, 1030, ts=T2), result("m1"), stop("p1", 1001, wh, "PowerLoss", ts=ts), result("p1")])
        led.persisted([stored], running(), kill=3)
        found = led.check()
        if ok:
            assert found == [], (wh, ts, found)
        else:
            assert any("expected a PowerLoss stop at >= 1030 Wh stamped %s" % T2 in v for v in found), (wh, ts, found)


def test_a_transaction_running_at_a_kill_whose_stop_never_came_is_a_violation():
    led = ledger_of(start())
    led.persisted([], running(), kill=3)
    assert any("kill 3: transaction 1 was running" in v and "none arrived" in v for v in led.check()), led.check()
    assert led.figures()["snapshot_cases"] == {"PowerLoss": 1}


def test_a_transaction_stopped_on_flash_at_the_kill_expects_nothing_more():
    stored = (5, "p1", "StopTransaction", {"meterStop": 1020, "timestamp": T2, "reason": "Local"}, 1)
    led = ledger_of(start() + [stop("p1", 1001, 1020), result("p1")])
    led.persisted([stored], running(), kill=3)
    assert led.check() == []
    # ... but its stored StopTransaction must arrive as it was stored.
    led = ledger_of(start() + [stop("p1", 1001, 1021), result("p1")])
    led.persisted([stored], running(), kill=3)
    assert any("stored StopTransaction p1 arrived changed" in v for v in led.check()), led.check()


def test_a_transaction_whose_start_never_reached_flash_is_forgotten_and_said_so():
    forgot = ["0.3 W session: transaction local 1 never reached flash: forgotten"]
    led = ledger_of([], forgot)
    led.persisted([], running(remote=None), kill=3)
    assert led.check() == []
    led = ledger_of([])
    led.persisted([], running(remote=None), kill=3)
    assert any("did not say it forgot it" in v for v in led.check()), led.check()
    # Its StartTransaction on flash: it did start, and must end PowerLoss.
    led = ledger_of(start(), forgot)
    led.persisted([START_REC], running(remote=None), kill=3)
    assert any("none arrived" in v for v in led.check()), led.check()


def test_the_start_on_flash_must_match_its_starttransaction():
    led = ledger_of(start(wh=999) + [stop("p1", 1001, 1010, "PowerLoss", ts=T1), result("p1")])
    led.persisted([], running(), kill=3)
    assert any("differs from its StartTransaction" in v for v in led.check()), led.check()


def test_a_stored_message_arriving_with_another_timestamp_needs_a_fix_on_flash():
    # Stamped before the clock was set (T0), sent as T1 once it was: only
    # when tx.json held that time for this message at some kill.
    sent = start()
    sent[0] = cp("s1", "StartTransaction", {"connectorId": 1, "idTag": "T1", "meterStart": 1000, "timestamp": T1})
    frames = sent + [stop("p1", 1001, 1010, "PowerLoss", ts=T1), result("p1")]
    for fix, ok in (({"s1": T1}, True), ({}, False), ({"s1": T2}, False), ({"e1": T1}, False), ({"s7": T1}, False)):
        led = ledger_of(frames)
        led.persisted([START_REC], running(fix=fix), kill=3)
        bad = [v for v in led.check() if "stored StartTransaction s1 arrived changed" in v]
        assert (bad == []) == ok, (fix, led.check())
    # More than the timestamp changed: a violation, fix or not.
    sent[0] = cp("s1", "StartTransaction", {"connectorId": 1, "idTag": "T1", "meterStart": 1001, "timestamp": T1})
    led = ledger_of(sent + [stop("p1", 1001, 1010, "PowerLoss", ts=T1), result("p1")])
    led.persisted([START_REC], running(fix={"s1": T1}), kill=3)
    assert any("stored StartTransaction s1 arrived changed" in v for v in led.check()), led.check()
    # A fixed StopTransaction ("e<local>") the same way.
    stored = (5, "p1", "StopTransaction", {"meterStop": 1020, "timestamp": T0, "reason": "Local"}, 1)
    for fix, ok in (({"e1": T2}, True), ({"s1": T2}, False)):
        led = ledger_of(start() + [stop("p1", 1001, 1020), result("p1")])
        led.persisted([stored], {"next": 2, "run": {}, "remote": {"1": 1001}, "fix": fix}, kill=4)
        bad = [v for v in led.check() if "arrived changed" in v]
        assert (bad == []) == ok, (fix, led.check())


JOURNAL = """
import json
from uocpp.store.journal import Journal
j = Journal(%(p)r, 4096)
a = j.append(json.dumps(["u1", "StartTransaction", {"x": 1}, 1]))
b = j.append(json.dumps(["u2", "MeterValues", {"x": 2}, 1]))
c = j.append(json.dumps(["u3", "StopTransaction", {"x": 3}, 1]))
j.remove(a)
j.close()
f = open(%(p)r, "ab")
f.write(b"\\xa5D\\x20\\x00")  # the start of a header: an append cut short
f.close()
print("ok")
"""


def test_read_journal_sees_what_the_firmware_journal_holds(tmp_path):
    path = tmp_path / "outbox.journal"
    res = run_micropython(JOURNAL % {"p": str(path)})
    assert res.stdout.strip() == "ok", res.stdout + res.stderr
    got = [(uid, action, tag) for _seq, uid, action, _p, tag in read_journal(path)]
    assert got == [("u2", "MeterValues", 1), ("u3", "StopTransaction", 1)]
