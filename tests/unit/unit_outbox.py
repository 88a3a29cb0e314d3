# outbox.py: the one sender. Lanes (boot, durable, volatile), the
# registration gate (BN-04, BN-09, BN-12), one CALL in flight (J-17),
# coalescing (TM-02), failure policies, and that no retry loop spins.
import asyncio
import time

import fakes
from check import eq

from uocpp import errors, log, outbox
from uocpp.model.state import ACCEPTED, PENDING, REJECTED, State
from uocpp.rpc import Rpc
from uocpp.services.boot_notification import BootNotification

log.set_level("error")


def ok(action, payload):
    # A valid .conf for each action (the outbox checks every reply).
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": "2026-12-02T00:00:00Z", "interval": 10}
    if action == "Heartbeat":
        return {"currentTime": "2026-12-02T00:00:00Z"}
    if action == "StartTransaction":
        return {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}
    return {}


def make(peer=ok, status=ACCEPTED, journal=None, up=True, **keys):
    reg = State()
    reg.status = status
    k = fakes.Keys(**keys)
    link = fakes.Link(peer, up)
    rpc = Rpc(None, reg, k)
    link.rpc = rpc
    box = outbox.Outbox(rpc, link, reg, k, fakes.Backoff(), journal)
    return box, link, reg


def message(action="Heartbeat", policy=outbox.KEEP, **kw):
    return outbox.Message(action, dict, policy, **kw)


async def settle(box, link, count, ms=2000):
    # Runs the outbox until `count` CALLs went out (or ms passed).
    task = asyncio.create_task(box.run())
    t0 = time.ticks_ms()
    while len(link.sent) < count and time.ticks_diff(time.ticks_ms(), t0) < ms:
        await asyncio.sleep_ms(5)
    await asyncio.sleep_ms(20)
    task.cancel()


async def test_registration_gate():
    # BN-04: before any reply only BootNotification; BN-12: triggered
    # messages while Pending; BN-09/10: nothing while Rejected.
    rows = []
    for status in (None, PENDING, REJECTED, ACCEPTED):
        box, link, reg = make(status=status)
        box.submit(message("Heartbeat"))
        box.submit(message("StatusNotification", triggered=True, key="t"))
        await settle(box, link, 2, 200)
        rows.append(",".join(s[1] for s in link.sent) or "-")
    eq(rows, ["-", "StatusNotification", "-", "Heartbeat,StatusNotification"], "sent per registration state")


async def test_boot_lane_goes_first():
    box, link, reg = make(status=None)
    box.submit(message("Heartbeat"))
    boot = box.submit(outbox.Message("BootNotification", dict, outbox.RETRY, outbox.BOOT))
    task = asyncio.create_task(box.run())
    await boot.wait()
    reg.status = ACCEPTED
    box.wake()
    await asyncio.sleep_ms(50)
    task.cancel()
    eq([s[1] for s in link.sent], ["BootNotification", "Heartbeat"], "order")


async def test_durable_before_volatile_and_in_order():
    journal = fakes.Journal()
    box, link, reg = make(journal=journal)
    eq(len(box), 0, "an empty outbox holds nothing")
    box.submit(message("Heartbeat"))
    eq(box.stored_count("MeterValues"), 0, "none yet")
    for n in range(3):
        box.store("MeterValues", {"n": n})
    eq(box.stored_count("MeterValues"), 3, "three stored")
    eq(len(box), 4, "what the outbox holds: every lane (diag's heap report)")
    await settle(box, link, 4)
    eq([(s[1], s[2].get("n")) for s in link.sent], [("MeterValues", 0), ("MeterValues", 1), ("MeterValues", 2), ("Heartbeat", None)], "order")
    eq(len(journal), 0, "answered messages left the journal")
    eq(box.stored_count("MeterValues"), 0, "the count follows deliveries")
    eq(len(box), 0, "nothing left once all are answered")


async def test_durable_keeps_its_id_across_a_lost_reply():
    # A re-send after no reply is the same message: same unique id.
    replies = [None, {}]
    journal = fakes.Journal()
    box, link, reg = make(peer=lambda a, p: replies.pop(0), journal=journal, MessageTimeout=0.05)
    box.store("StopTransaction", {"transactionId": 1})
    await settle(box, link, 2, 4000)
    eq(len(link.sent), 2, "sent twice")
    eq(link.sent[0][0], link.sent[1][0], "same unique id")
    eq(len(journal), 0, "removed once answered")
    eq(link.probes, 1, "the link was asked to probe after the timeout")


async def test_durable_callerror_attempts_then_dropped():
    # TransactionMessageAttempts (3) attempts, then the message is dropped.
    journal = fakes.Journal()
    box, link, reg = make(peer=lambda a, p: ("error", "InternalError"), journal=journal, TransactionMessageRetryInterval=0)
    box.store("StartTransaction", {})
    box.store("StopTransaction", {})
    await settle(box, link, 6)
    eq([s[1] for s in link.sent], ["StartTransaction"] * 3 + ["StopTransaction"] * 3, "attempts")
    eq(len(journal), 0, "both dropped")


async def test_durable_payload_prepared_at_send_time():
    # A value known only after the message was stored (a transactionId).
    journal = fakes.Journal()
    box, link, reg = make(peer=lambda a, p: {"transactionId": 42, "idTagInfo": {"status": "Accepted"}} if a == "StartTransaction" else {}, journal=journal)
    remote = {}
    box.on_durable("StartTransaction", answered=lambda p, r, tag: remote.update({tag: r["transactionId"]}))
    box.on_durable("StopTransaction", prepare=lambda p, tag: dict(p, transactionId=remote[tag]))
    box.store("StartTransaction", {"local": 1}, 7)
    box.store("StopTransaction", {"local": 1}, 7)
    await settle(box, link, 2)
    eq(link.sent[1][2], {"local": 1, "transactionId": 42}, "StopTransaction as sent")


async def test_keyed_messages_coalesce_behind_the_one_in_flight():
    box, link, reg = make(peer=lambda a, p: None, MessageTimeout=0.2)
    first = box.submit(message(key="k"))
    task = asyncio.create_task(box.run())
    await asyncio.sleep_ms(20)  # first is on the wire now
    waiting = [box.submit(message(key="k")) for _ in range(100)]
    task.cancel()
    eq(waiting[0] is not first, True, "the one in flight takes no more joiners")
    eq(all(m is waiting[0] for m in waiting), True, "one waiting for the flood")


async def test_once_fails_at_once_without_a_link():
    box, link, reg = make(up=False)
    msg = box.submit(message(policy=outbox.ONCE))
    try:
        await msg.wait()
        raise AssertionError("no error")
    except errors.NotConnected:
        pass


async def test_once_fails_at_once_before_the_registration_lets_it_go():
    # BN-04: an Authorize at the card reader while the BootNotification is
    # unanswered or Pending must not wait in the lane: it fails now (the
    # caller's offline rules decide); Accepted, it goes.
    for status in (None, PENDING, REJECTED):
        box, link, reg = make(status=status)
        msg = box.submit(message("Authorize", policy=outbox.ONCE))
        eq(msg.error is not None and type(msg.error).__name__, "NotConnected", "failed at once while %s" % status)
    box, link, reg = make(status=ACCEPTED)
    msg = box.submit(message("Authorize", policy=outbox.ONCE))
    await settle(box, link, 1, 500)
    eq([s[1] for s in link.sent], ["Authorize"], "sent when Accepted")


async def test_persist_survives_a_lost_link():
    # A StatusNotification whose link went down before the reply goes out
    # again on the next connection; a Heartbeat (KEEP) reports the loss.
    import json

    box, link, reg = make(peer=lambda a, p: None, MessageTimeout=5)
    persist = box.submit(message("StatusNotification", outbox.PERSIST))
    task = asyncio.create_task(box.run())
    await asyncio.sleep_ms(20)
    box._rpc.link_lost()
    await asyncio.sleep_ms(20)
    eq(persist.reply is None and persist.error is None, True, "still queued")
    eq([s[1] for s in link.sent], ["StatusNotification"] * 2, "sent again (the fake link is up again at once)")
    await box._rpc.on_message(json.dumps([3, link.sent[-1][0], {}]), link.send)  # answered now
    await asyncio.sleep_ms(20)
    eq(persist.reply, {}, "persist delivered on the second try")
    keep = box.submit(message("Heartbeat", outbox.KEEP))
    await asyncio.sleep_ms(20)
    box._rpc.link_lost()
    await asyncio.sleep_ms(20)
    task.cancel()
    eq(type(keep.error).__name__, "LinkLost", "keep reports")
    eq([s[1] for s in link.sent].count("Heartbeat"), 1, "not sent again")


async def test_failing_send_never_spins():
    # The field bug: ws.send failing while the link still looks up made the
    # boot loop retry without awaiting (173,103 lines in 3 s). Now every
    # failure pauses, and a 10 ms task keeps its pace.
    def broken(action, payload):
        raise OSError("closed")

    box, link, reg = make(peer=broken, status=None)
    boot = BootNotification(box, reg, fakes.Keys(), 1, State())
    ticks = [0]

    async def ticker():
        while True:
            await asyncio.sleep_ms(10)
            ticks[0] += 1

    tasks = [asyncio.create_task(box.run()), asyncio.create_task(boot.run()), asyncio.create_task(ticker())]
    await asyncio.sleep_ms(1500)
    for t in tasks:
        t.cancel()
    attempts = box._backoff.waits
    eq(ticks[0] >= 75, True, "ticker ran %d times in 1.5 s" % ticks[0])
    eq(1 <= attempts <= 5, True, "%d send attempts in 1.5 s" % attempts)
    eq(link.drops >= 1, True, "the link was told to drop")


def test_full_journal_drops_the_oldest_meter_values_only():
    # Bounded on flash: the oldest periodic MeterValues make room; a Start or
    # Stop is never dropped (the store raises when only those are left).
    from check import TempDir

    from uocpp.store.journal import Journal, JournalFull

    with TempDir("full") as d:
        box, link, reg = make(journal=Journal(d + "/j", 1024))
        box.store("StartTransaction", {"n": 0}, 1)
        eq(box.stored_count("MeterValues"), 0, "counted from flash once, then kept up to date")
        for n in range(40):
            box.store("MeterValues", {"n": n, "pad": "x" * 40}, 1)
        box.store("StopTransaction", {"n": 0}, 1)
        kept = box.stored()
        eq(kept[0], ("StartTransaction", 1), "start kept")
        eq(kept[-1], ("StopTransaction", 1), "stop kept")
        eq(len(kept) < 42, True, "some MeterValues dropped")
        eq(box.stored_count("MeterValues"), len([a for a, _ in kept if a == "MeterValues"]), "the count follows the drops")
        try:
            for n in range(40):
                box.store("StopTransaction", {"n": n, "pad": "y" * 40}, n)
            raise AssertionError("never full")
        except JournalFull:
            pass
        actions = [a for a, _ in box.stored()]
        eq("MeterValues" in actions, False, "every MeterValues went before any Stop")
        eq(actions[0], "StartTransaction", "the start is still first")


async def test_a_reply_is_checked_before_any_hook_sees_it():
    # A StartTransaction.conf that breaks the 1.6 shape is a failed attempt
    # (TransactionMessageAttempts), like a CALLERROR: the answered hook never
    # sees it, the dropped hook hears of the give-up.
    journal = fakes.Journal()
    bad = [{"transactionId": 5, "idTagInfo": "Accepted"}, {"transactionId": "5", "idTagInfo": {"status": "Accepted"}}, {"idTagInfo": {"status": "Maybe"}}]
    box, link, reg = make(peer=lambda a, p: bad.pop(0) if bad else {}, journal=journal, TransactionMessageRetryInterval=0)
    seen, dropped = [], []
    box.on_durable("StartTransaction", answered=lambda p, r, tag: seen.append(r), dropped=dropped.append)
    box.store("StartTransaction", {"idTag": "A"}, 3)
    await settle(box, link, 3)
    eq(len(link.sent), 3, "three attempts")
    eq(seen, [], "no hook saw a malformed reply")
    eq(dropped, [3], "given up after the attempts")
    eq(len(journal), 0, "off the journal: not sent again at every boot")


async def test_a_malformed_authorize_reply_is_a_refusal():
    # An Authorize.conf without a valid idTagInfo stands for Invalid: the
    # card is refused, not decided by the offline rules.
    box, link, reg = make(peer=lambda a, p: {"idTagInfo": {}})
    msg = box.submit(message("Authorize", outbox.ONCE))
    await settle(box, link, 1)
    eq(msg.reply, {"idTagInfo": {"status": "Invalid"}}, "taken as Invalid")
    again = box.submit(message("Authorize", outbox.ONCE))
    await settle(box, link, 2)
    eq(again.reply is msg.reply or again.reply["idTagInfo"] is msg.reply["idTagInfo"], False, "a new dict each time (the cache keeps it)")
    # Extra properties are ignored (vendor fields), the rest is checked.
    box, link, reg = make(peer=lambda a, p: {"idTagInfo": {"status": "Blocked", "x": 1}, "vendor": {}})
    msg = box.submit(message("Authorize", outbox.ONCE))
    await settle(box, link, 1)
    eq(msg.reply["idTagInfo"]["status"], "Blocked", "a valid reply with extras passes")


async def test_a_heartbeat_without_current_time_fails_the_message():
    box, link, reg = make(peer=lambda a, p: {"currentTime": 7})
    msg = box.submit(message("Heartbeat", outbox.KEEP))
    await settle(box, link, 1)
    eq(type(msg.error).__name__, "ReplyRefused", "refused")


async def test_memory_error_drops_the_message_not_the_task():
    # Near the heap limit building a volatile message raises MemoryError:
    # that message fails (logged once), the outbox task goes on.
    box, link, reg = make()

    def build():
        raise MemoryError("memory allocation failed")

    first = box.submit(outbox.Message("StatusNotification", build, outbox.PERSIST, key="s1"))
    second = box.submit(message("Heartbeat", outbox.KEEP))
    task = asyncio.create_task(box.run())
    await asyncio.sleep_ms(100)
    eq(task.done(), False, "the outbox task lives")
    eq(str(first.error), "out of memory", "the message that hit it failed")
    eq(second.reply, {"currentTime": "2026-12-02T00:00:00Z"}, "the next one went out")
    task.cancel()


async def test_no_heap_to_send_a_call_keeps_the_link():
    # Near the heap's limit the frame of a CALL finds no heap before a byte
    # of it went out (websocket.py leaves the stream as it was): the link is
    # not at fault and is not dropped (dropped, a reconnection would find no
    # heap either). The message fails as any MemoryError's (its sender posts
    # it again: services/status.py), and the next CALL waits out the pause.
    box, link, reg = make()
    send, starved = link.send, [1]

    async def starving(frame):
        if starved[0]:
            starved[0] -= 1
            raise MemoryError("memory allocation failed, allocating 188 bytes")
        await send(frame)

    link.send = starving
    once = box.submit(message("Authorize", outbox.ONCE))
    beat = box.submit(message("Heartbeat", outbox.KEEP))
    t0 = time.ticks_ms()
    await settle(box, link, 1, 3000)
    eq(link.drops, 0, "the link kept")
    eq((str(once.error), type(once.error)), ("out of memory", errors.NoHeap), "the Authorize failed at once, for lack of heap")
    eq(([s[1] for s in link.sent], beat.reply is not None), (["Heartbeat"], True), "the next CALL went out")
    eq(time.ticks_diff(time.ticks_ms(), t0) >= 400, True, "after the pause")


async def test_memory_error_keeps_a_stored_message():
    # A stored message that hits a MemoryError is not an attempt and stays
    # on flash; it goes out once there is heap again.
    journal = fakes.Journal()
    box, link, reg = make(journal=journal)
    fail = [True]

    def prepare(payload, tag):
        if fail[0]:
            fail[0] = False
            raise MemoryError("memory allocation failed")
        return payload

    box.on_durable("MeterValues", prepare=prepare)
    box.store("MeterValues", {"connectorId": 1})
    await settle(box, link, 1, 3000)
    eq([s[1] for s in link.sent], ["MeterValues"], "sent after the pause")
    eq(len(journal), 0, "answered, then removed")


async def test_a_stored_message_its_hook_chokes_on_is_a_failed_attempt_not_the_end_of_the_task():
    # A prepare hook that raises on a stored message (a poison pill on
    # flash): the message fails its attempts (TransactionMessageAttempts,
    # as a CALLERROR) and is dropped; the task goes on to the next one.
    # (Before: the exception ended the outbox task, and every restart met
    # the same message: nothing stored went out again.)
    journal = fakes.Journal()
    box, link, reg = make(journal=journal, TransactionMessageAttempts=2, TransactionMessageRetryInterval=0)

    def prepare(payload, tag):
        return payload["x"]  # KeyError for the stored {}

    box.on_durable("MeterValues", prepare=prepare)
    box.store("MeterValues", {})
    box.store("StopTransaction", {})
    task = asyncio.create_task(box.run())
    t0 = time.ticks_ms()
    while not link.sent and time.ticks_diff(time.ticks_ms(), t0) < 2000 and not task.done():
        await asyncio.sleep_ms(5)
    await asyncio.sleep_ms(20)  # its answer taken in
    done = task.done()
    task.cancel()
    eq(done, False, "the task goes on")
    eq([s[1] for s in link.sent], ["StopTransaction"], "the next message goes out")
    eq(len(journal), 0, "the poison message dropped after its attempts")


async def test_memory_error_reading_the_journal_loses_nothing():
    # A MemoryError while parsing the head from flash is no verdict on the
    # record (it used to drop it as unreadable).
    journal = fakes.Journal()
    box, link, reg = make(journal=journal)
    box.store("StopTransaction", {"transactionId": 1})
    real = box.head
    calls = [0]

    def head():
        calls[0] += 1
        if calls[0] == 1:
            raise MemoryError("memory allocation failed")
        return real()

    box.head = head
    await settle(box, link, 1, 3000)
    eq([s[1] for s in link.sent], ["StopTransaction"], "sent once there was heap")


async def test_a_reply_that_cannot_be_taken_in_keeps_the_message():
    # The answered hook fails (a full flash under tx.json): the message stays
    # on flash and goes again after TransactionMessageRetryInterval, same id;
    # Heartbeats go meanwhile; the outbox task lives.
    journal = fakes.Journal()
    box, link, reg = make(journal=journal, TransactionMessageRetryInterval=1)
    fails = [True]

    def answered(payload, reply, tag):
        if fails[0]:
            fails[0] = False
            raise OSError(28)  # ENOSPC

    box.on_durable("StopTransaction", answered=answered)
    box.store("StopTransaction", {"transactionId": 1})
    task = asyncio.create_task(box.run())
    await asyncio.sleep_ms(100)
    eq(len(journal), 1, "still on flash")
    hb = box.submit(message("Heartbeat", outbox.KEEP))
    await asyncio.sleep_ms(100)
    eq(hb.reply is not None, True, "the volatile lane goes on")
    for _ in range(40):
        await asyncio.sleep_ms(50)
        if not len(journal):
            break
    eq(task.done(), False, "the outbox task lives")
    eq(len(journal), 0, "taken in on the second try")
    stops = [s for s in link.sent if s[1] == "StopTransaction"]
    eq((len(stops), stops[0][0] == stops[1][0]), (2, True), "sent again with the same id")
    task.cancel()


async def test_an_answered_message_the_flash_cannot_remove_kills_no_task():
    # A full flash (OSError 28) refuses the journal's removal record of an
    # answered StopTransaction: the error went up through the outbox task,
    # which failed on every answered message while the flash stayed full,
    # and the supervisor's verdict (five failures in ten minutes) reset the
    # board, into the same full flash. The message stays on flash, answered,
    # and only its removal is tried again; the task lives.
    journal = fakes.Journal()
    box, link, reg = make(journal=journal, TransactionMessageRetryInterval=1)
    real = journal.remove
    fails = [True]

    def remove(seq):
        if fails[0]:
            fails[0] = False
            raise OSError(28)  # ENOSPC
        real(seq)

    journal.remove = remove
    box.store("StopTransaction", {"transactionId": 1})
    task = asyncio.create_task(box.run())
    for _ in range(60):
        await asyncio.sleep_ms(50)
        if not len(journal) or task.done():
            break
    eq(task.done(), False, "the outbox task lives")
    eq(len(journal), 0, "removed once the flash took it")
    eq([s[1] for s in link.sent], ["StopTransaction"], "not sent again")
    task.cancel()


async def test_an_unreadable_stored_message_the_flash_cannot_remove_kills_no_task():
    # A stored record that checks on flash but is not ours is dropped from
    # the head. A full flash (OSError 28) refusing that removal went up
    # through the outbox task at every restart (the supervisor's verdict
    # then resets the board into the same flash). The lane holds instead,
    # and the removal is tried again when the outbox looks next.
    journal = fakes.Journal()
    box, link, reg = make(journal=journal)
    journal.append(b"not a stored message")
    real = journal.remove
    refused = []

    def remove(seq):
        if not refused:
            refused.append(seq)
            raise OSError(28)  # ENOSPC
        real(seq)

    journal.remove = remove
    task = asyncio.create_task(box.run())
    for _ in range(40):
        await asyncio.sleep_ms(10)
        if refused:
            break
    for _ in range(20):
        await asyncio.sleep_ms(0)
    eq((bool(refused), task.done()), (True, False), "refused, and the outbox task lives")
    box.store("StopTransaction", {"transactionId": 1})  # the outbox looks again
    for _ in range(60):
        await asyncio.sleep_ms(20)
        if link.sent:
            break
    eq([s[1] for s in link.sent], ["StopTransaction"], "the unreadable one gone, the next sent")
    task.cancel()


async def test_a_head_dropped_for_room_leaves_its_attempts_behind():
    # TransactionMessageAttempts counts one message's attempts. The head, a
    # MeterValues the central system refuses, is dropped by a full journal
    # (a new sample makes room) after two attempts: the StopTransaction
    # behind it starts at none, and one CALLERROR does not drop it.
    from check import TempDir

    from uocpp.store.journal import Journal

    with TempDir("attempts") as d:
        mv = {"connectorId": 1, "meterValue": [{"timestamp": "2026-12-02T00:00:00Z", "sampledValue": [{"value": "1"}]}]}
        calls = []

        def peer(action, payload):
            calls.append(action)
            if action == "MeterValues":
                if calls.count("MeterValues") == 2:
                    box.store("MeterValues", mv, 1)  # a new sample: the journal is crowded, the oldest goes
                return ("error", "InternalError")
            return ("error", "InternalError") if calls.count(action) == 1 else {}

        box, link, reg = make(peer=peer, journal=Journal(d + "/j", 1024), TransactionMessageRetryInterval=0)
        answered, dropped = [], []
        box.on_durable("StopTransaction", answered=lambda p, r, tag: answered.append(tag), dropped=dropped.append)
        box.store("MeterValues", mv, 1)
        box.store("StopTransaction", {"transactionId": 1, "pad": "x" * 700}, 1)
        await settle(box, link, 4)
        eq((answered, dropped), ([1], []), "the StopTransaction answered on its second attempt, not dropped after its first")
        eq(calls[:4], ["MeterValues", "MeterValues", "StopTransaction", "StopTransaction"], "the calls")


async def test_a_callerror_ends_the_pause_of_a_transport_failure():
    # The pause is for transport failures (no reply, a send that failed):
    # a CALLERROR is a reply, the link works, as with a refused reply. A
    # pause left from an earlier timeout made every later CALLERROR wait
    # it out again (up to 16 s a message) and the next timeout double it.
    at = []

    def peer(action, payload):
        at.append(time.ticks_ms())
        return None if len(at) == 1 else ("error", "NotImplemented")

    box, link, reg = make(peer=peer, MessageTimeout=0.05)
    for n in range(3):
        box.submit(message("DataTransfer", key="d%d" % n))
    await settle(box, link, 3, 3000)
    eq(len(at), 3, "three CALLs went out")
    eq(time.ticks_diff(at[1], at[0]) >= 500, True, "the timeout's pause came first")
    gap = time.ticks_diff(at[2], at[1])
    eq(gap < 300, True, "the CALL after a CALLERROR went %d ms later" % gap)


async def test_the_next_head_does_not_wait_out_the_retry_interval_of_one_dropped_for_room():
    # OCPP 1.6 section 3.7.1 (Error responses to transaction-related
    # messages): TransactionMessageRetryInterval is how long the message
    # the central system failed to process waits before it is sent again.
    # The head, a MeterValues refused once, is dropped by a full journal (a
    # new sample makes room) while it waits: the StopTransaction behind it
    # never failed and goes at once, not after the interval of the other.
    from check import TempDir

    from uocpp.store.journal import Journal

    with TempDir("interval") as d:
        mv = {"connectorId": 1, "meterValue": [{"timestamp": "2026-12-02T00:00:00Z", "sampledValue": [{"value": "1"}]}]}
        at = {}

        def peer(action, payload):
            at.setdefault(action, time.ticks_ms())
            if action == "MeterValues":
                box.store("MeterValues", mv, 1)  # a new sample: the journal is crowded, the oldest goes
                return ("error", "InternalError")
            return {}

        box, link, reg = make(peer=peer, journal=Journal(d + "/j", 1024), TransactionMessageRetryInterval=3)
        box.store("MeterValues", mv, 1)
        box.store("StopTransaction", {"transactionId": 1, "pad": "x" * 700}, 1)
        await settle(box, link, 2, 5000)
        eq([s[1] for s in link.sent[:2]], ["MeterValues", "StopTransaction"], "the refused head was dropped, not sent again")
        gap = time.ticks_diff(at["StopTransaction"], at["MeterValues"])
        eq(gap < 1000, True, "the StopTransaction went %d ms after the refused MeterValues" % gap)


async def test_a_refused_head_goes_again_after_a_week_offline():
    # OCPP 1.6 section 3.7.1: a transaction message the central system
    # failed to process is sent again after TransactionMessageRetryInterval.
    # Its wait was a ticks_ms deadline: the link lost for a week meanwhile
    # (a site offline), the deadline is over half a board's ticks' period
    # (30 bits: 6.2 days) behind, ticks_diff reads it as days ahead, and
    # the StopTransaction (and the whole journal behind it) waited days more.
    from unit_watchdog import Ticks30

    journal = fakes.Journal()
    box, link, reg = make(peer=lambda a, p: ("error", "InternalError"), journal=journal, TransactionMessageRetryInterval=60)
    box.store("StopTransaction", {"transactionId": 1})
    with Ticks30(outbox) as ticks:
        ticks.now = 1000
        await box._send_durable(*box._next()[0])
        eq(len(journal), 1, "refused once, kept")
        eq(box._next(), (None, 60000), "waits the retry interval")
        ticks.now += 7 * 86400000
        item, wait = box._next()
        eq((item is not None and item[2], wait), ("StopTransaction", None), "due a week later")


async def test_a_start_transaction_conf_that_arrived_but_found_no_heap_to_be_checked_is_not_sent_again():
    # The StartTransaction.conf arrived; checking it (its .conf module
    # loaded, validate.check) found no heap. The central system has opened
    # the transaction: sent again, one that does not de-duplicate by message
    # id opens a second one, which never gets a StopTransaction. Once there
    # is heap the reply that came is checked and taken in, not asked again.
    journal = fakes.Journal()
    box, link, reg = make(journal=journal)
    taken = []
    box.on_durable("StartTransaction", answered=lambda payload, reply, tag: taken.append(reply["transactionId"]))
    box.store("StartTransaction", {"connectorId": 1, "idTag": "ALICE", "meterStart": 0, "timestamp": "2026-12-02T00:00:00Z"}, 1)
    real, starved = outbox.validate.check, [1]

    def check(*args):
        if starved[0]:
            starved[0] -= 1
            raise MemoryError("memory allocation failed, allocating 64 bytes")
        return real(*args)

    outbox.validate.check = check
    try:
        task = asyncio.create_task(box.run())
        t0 = time.ticks_ms()
        while len(journal) and time.ticks_diff(time.ticks_ms(), t0) < 3000:
            await asyncio.sleep_ms(10)
        task.cancel()
    finally:
        outbox.validate.check = real
    eq(taken, [1], "the reply taken in")
    eq([s[1] for s in link.sent], ["StartTransaction"], "sent once")
    eq(len(journal), 0, "answered, then removed")


async def test_a_stored_meter_value_that_never_finds_heap_does_not_block_the_stop_behind_it_for_ever():
    # A stored MeterValues whose handling finds no heap at every try (its
    # payload too large for what the heap has left): it was never counted
    # as an attempt, stayed the head, and the StopTransaction behind it
    # (the bill) never went. Counted now: dropped after
    # TransactionMessageAttempts, like a refused one; the stop goes.
    journal = fakes.Journal()
    box, link, reg = make(journal=journal, TransactionMessageAttempts=2, TransactionMessageRetryInterval=0)

    def prepare(payload, tag):
        raise MemoryError("memory allocation failed, allocating 4096 bytes")

    box.on_durable("MeterValues", prepare=prepare)
    box.store("MeterValues", {"connectorId": 1, "meterValue": []}, 1)
    box.store("StopTransaction", {"transactionId": 1}, 1)
    await settle(box, link, 1, 5000)
    eq([s[1] for s in link.sent], ["StopTransaction"], "the stop goes")
    eq(len(journal), 0, "nothing left")


async def test_a_stop_transaction_that_finds_no_heap_is_never_dropped_and_tried_once_per_retry_interval():
    # The same for a StopTransaction: never dropped (a later try may find
    # heap: it bills), but tried once per TransactionMessageRetryInterval,
    # not every half second for ever (a log line and a security event each).
    journal = fakes.Journal()
    box, link, reg = make(journal=journal, TransactionMessageAttempts=1, TransactionMessageRetryInterval=1)
    tries = []

    def prepare(payload, tag):
        tries.append(time.ticks_ms())
        if len(tries) < 3:
            raise MemoryError("memory allocation failed, allocating 4096 bytes")
        return payload

    box.on_durable("StopTransaction", prepare=prepare)
    box.store("StopTransaction", {"transactionId": 1}, 1)
    await settle(box, link, 1, 5000)
    eq([s[1] for s in link.sent], ["StopTransaction"], "sent once there was heap")
    eq(len(journal), 0, "answered, then removed")
    eq([time.ticks_diff(b, a) >= 900 for a, b in zip(tries, tries[1:])], [True, True], "a retry interval between tries")
