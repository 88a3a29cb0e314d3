# The one sender of our CALLs. Services submit messages and await their
# result; the outbox decides what goes next and retries, so no service has
# a retry loop of its own. Lanes, first to last:
#   boot      BootNotification, before anything else (BN-04)
#   urgent    Authorize: a person waits at the card reader, so it goes before
#             the durable backlog (after the one CALL in flight)
#   durable   transaction messages: on flash (store/journal.py) before they
#             are sent, delivered in order, each retried by the
#             TransactionMessageAttempts / TransactionMessageRetryInterval rules
#   volatile  Heartbeat, StatusNotification, triggered messages: in memory,
#             coalesced by key (one waiting per key, whatever the flood)
# One CALL is in flight at a time (J-17), sent only while the link is up and
# the registration state permits it; the central system's CALLs are
# answered meanwhile by the link's reader (J-18). A payload is built when its
# message goes out, so one queued offline can carry what is known only later.
#
# The durable lane: transaction messages on flash (store/journal.py)
# from before they are sent until they are answered, oldest first. Each
# record is [unique id, action, payload, tag]: the id is given when the
# message is stored, so every re-send (after a lost reply, after a reboot)
# is recognisably the same message; the tag ties it to its transaction.
# A record's text is compact (store/record.py). The journal's module is
# imported (~6 KB of heap) only once there is something to store, or the
# file holds messages from before a reboot.
#
# Flash wear when full: periodic MeterValues may fill at most _MV_SHARE of
# the journal; past it each new one drops the oldest. The rest stays free
# for StartTransaction and StopTransaction, and it is what lets the journal
# append without compacting itself for every message: a compaction copies
# at most the live part and frees at least the rest, so while full it runs
# once per (1 - share) of the journal appended, and writes about
# share / (1 - share) times the bytes appended (3x at 75%), whatever the
# journal's size (it used to compact, i.e. rewrite the whole journal, for
# every message). Crash safety is the journal's and unchanged: a drop is a
# removal record appended (or a compaction: temp file, then rename), each
# checked by its CRC, so a power cut during one loses at most that drop or
# the message being appended; and the compact text is only the body of a
# record, which the journal treats as opaque bytes.
import asyncio
import os
import time

from micropython import const

from uocpp import errors, log, rpc, security_event, sleep, snake, unload, validate
from uocpp.model.state import REJECTED

# What a message does when its CALL fails (no link, no reply, CALLERROR or a
# reply its check refuses):
ONCE = const(0)  # one attempt, every failure reported; no link now: fails at once
KEEP = const(1)  # waits for a link to be sent; once sent, every failure reported
PERSIST = const(2)  # as KEEP, but a link lost before the reply sends it again
RETRY = const(3)  # every failure retried with back-off until a reply passes

BOOT = const(0)
_VOLATILE = const(2)
URGENT = const(3)  # queued with the volatile ones, chosen before the durable lane

# After a transport failure (send failed, no reply) nothing goes out for a
# while: the link is replaced or probed, and the loop can never spin.
_PAUSE_MIN_MS = const(500)
_PAUSE_MAX_MS = const(16000)
_MV_SHARE = const(75)  # percent of the journal MeterValues may fill


class Message:
    # A CALL to send: build() -> payload at send time; check(reply) -> True
    # when the reply is usable (else it counts as a failure); on_failure(e)
    # -> what to log for a failure that is retried; answered(reply) takes a
    # reply in, whether or not anybody awaits the message. Await wait() for
    # the reply payload; a failure raises errors.CallFailed.
    def __init__(self, action, build, policy=KEEP, lane=_VOLATILE, key=None, triggered=False, check=None, on_failure=None, answered=None):
        self.action = action
        self.build = build
        self.policy = policy
        self.lane = lane
        self.key = key
        self.triggered = triggered
        self.check = check
        self.on_failure = on_failure
        self.answered = answered
        self.reply = None
        self.error = None
        self._done = asyncio.Event()

    def _finish(self, reply, error):
        self.reply, self.error = reply, error
        self._done.set()

    def finished(self):
        # Answered or failed for good (False while queued, on the wire, or
        # kept for the next connection).
        return self._done.is_set()

    async def wait(self):
        await self._done.wait()
        if self.error is not None:
            raise self.error
        return self.reply


class Outbox:
    # fn() -> True when the durable lane may go on (sessions: tx.json holds
    # what RAM holds, so an answer cannot outrun what flash says); None: always.
    gate = None
    # (uid, reply) of a stored message whose reply came but found no heap to
    # be checked (_call): taken in at its next try, never asked again.
    reply = None

    def __init__(self, rpc_layer, link, registration, keys, backoff, journal=None, journal_bytes=32768):
        # backoff: the failure back-off for RETRY messages (RetryBackOff* keys).
        # journal: a store.journal.Journal, or the path of its file.
        self._rpc = rpc_layer
        self._link = link
        self._registration = registration
        self._keys = keys
        self._backoff = backoff
        self._boot = []
        self._volatile = []
        self._wake = asyncio.Event()
        self._pause_ms = 0
        self._failed_on = None
        # Durable lane: hooks per action, the head's attempts and its next try.
        self._hooks = {}
        self._attempts = 0
        self._head = None  # seq of the head _attempts counts for (a name the journal has: no new one)
        self._not_before = None
        self._taken = None  # seq of the head answered while the gate was shut (_send_durable)
        self._current = None  # the Message whose CALL is out
        self._path = None
        self._bytes = journal_bytes
        self._journal = journal
        self._counts = None  # action -> stored messages of it, once asked
        self._full = False  # dropping MeterValues for room (logged once)
        self.unreadable = None  # why the journal on flash cannot be read, while it cannot
        if isinstance(journal, str):
            self._path = journal
            self._journal = None
            # Opened now when it holds something, or its temp file alone
            # does (FAT: a compaction killed between its remove and rename),
            # which the journal adopts when opened.
            for path in (journal, journal + ".tmp"):
                try:
                    if os.stat(path)[6]:
                        break
                except OSError:
                    pass
            else:
                return
            try:
                from uocpp.store.journal import Journal

                self._journal = Journal(journal, journal_bytes)
            except Exception as e:
                # A damaged file system must not stop the boot: the
                # charger stays online; what the journal holds waits
                # (store() tries to open it again and fails, so no new
                # transaction starts unbilled), and nothing is decided
                # from a journal nobody could read (App.run).
                self.unreadable = repr(e)
                log.error("outbox", "%s cannot be read (%s): no transaction until it can", journal, e)

    # -- submitting ------------------------------------------------------------
    def submit(self, msg):
        # Queue a message; returns the message to await. A keyed message
        # joins one with the same key that is still waiting (not in flight).
        if msg.policy == ONCE and not (self._link.up.is_set() and (msg.lane == BOOT or self._registration.may_send(msg.triggered))):
            # ONCE is for what cannot wait (Authorize at the card reader):
            # without a link, or before the registration lets it go (BN-04),
            # it fails now and the caller falls back (offline rules).
            msg._finish(None, errors.NotConnected("no link" if not self._link.up.is_set() else "not registered"))
            return msg
        if msg.key is not None:
            for queued in self._volatile:
                if queued.key == msg.key and queued is not self._current:
                    return queued  # waiting, not gone out yet
        (self._boot if msg.lane == BOOT else self._volatile).append(msg)
        self._wake.set()
        return msg

    def withdraw(self, msg):
        # A queued message nobody waits for any more (an Authorize past its
        # deadline); one in flight goes on and its answer is still taken in.
        if msg is not self._current and msg in self._volatile:
            self._volatile.remove(msg)
            msg._finish(None, errors.NotConnected("withdrawn"))

    def wake(self):
        # The registration state changed: look again at what may go.
        self._wake.set()

    async def request(self, msg):
        return await self.submit(msg).wait()

    def on_durable(self, action, prepare=None, answered=None, dropped=None):
        # For stored messages of `action`, each stored with a tag (say, the
        # local transaction id): prepare(payload, tag) -> payload to send
        # (fill in what became known since it was stored), or None to drop
        # it; answered(payload, reply, tag) learns from the reply (a
        # transactionId) before the message leaves flash; dropped(tag) hears
        # of one given up (TransactionMessageAttempts) or not preparable.
        self._hooks[action] = (prepare, answered, dropped)

    async def drained(self, seconds):
        # Waits until no stored message is left, at most `seconds` (a Reset
        # lets the StopTransaction of its transactions go first).
        deadline = time.ticks_add(time.ticks_ms(), int(seconds * 1000))
        while self._journal and time.ticks_diff(deadline, time.ticks_ms()) > 0 and self._link.up.is_set():
            await asyncio.sleep_ms(50)

    def __len__(self):
        # Messages waiting or on the wire, every lane (diag's heap report:
        # a live heap measured while some are queued holds them too). A
        # special name is no new interned name; it makes an empty outbox
        # false, so code asks `outbox is not None`, never `if outbox`.
        return len(self._boot) + len(self._volatile) + len(self._journal or ())

    # -- the durable lane ------------------------------------------------------
    def store(self, action, payload, tag=None):
        # Durable: on flash when this returns (raises journal.JournalFull or
        # OSError when it cannot be); goes out in order, after the boot lane.
        # A full journal makes room by dropping the oldest periodic
        # MeterValues, never a StartTransaction or StopTransaction;
        # MeterValues make room once they fill _MV_SHARE percent of it.
        if self._journal is None:
            from uocpp.store.journal import Journal

            self._journal = Journal(self._path, self._bytes)
            self.unreadable = None
        from uocpp.store.record import dumps

        body = dumps([rpc.new_id(), action, payload, tag])
        roomy = action == "MeterValues" and not self._crowded(len(body))
        crowded = action == "MeterValues" and not roomy
        while True:
            try:
                if crowded and self._drop_oldest(action):
                    crowded = self._crowded(len(body))
                    continue
                seq = self._journal.append(body)
                self._count(action, 1)
                if roomy:
                    self._full = False  # room again: the next drop is news
                self._wake.set()
                return seq
            except Exception as e:
                if type(e).__name__ != "JournalFull" or not self._drop_oldest("MeterValues"):
                    log.error("outbox", "cannot store %s: %s", action, e)
                    raise

    def _crowded(self, n):
        j = self._journal
        return 12 + n + j.live_bytes > j.max_bytes * _MV_SHARE // 100

    def _drop_oldest(self, action):
        from uocpp.store.record import loads

        for seq, body in self._journal.records():
            if loads(body)[1] == action:
                if not self._full:
                    # Once until the journal has room again: a line for
                    # every message would wear the flash log instead.
                    log.warning("outbox", "journal full: dropping the oldest stored %s", action)
                    self._full = True
                self._journal.remove(seq)
                self._count(action, -1)
                return True
        return False

    def stored(self):
        # (action, tag) of every stored message, oldest first (read from flash).
        out = []
        if self._journal is not None:
            from uocpp.store.record import loads

            for _seq, body in self._journal.records():
                try:
                    record = loads(body)
                    out.append((record[1], record[3]))
                except (ValueError, IndexError, MemoryError):
                    pass
        return out

    def last_reading(self, tag):
        # (Wh, timestamp) of the highest energy register in the MeterValues
        # stored for `tag`, or None. A PowerLoss stop never bills below a
        # sample on flash (one stored while tx.json could not be rewritten,
        # or one the central system already has).
        best = None
        if self._journal is not None:
            from uocpp.store.record import loads

            for _seq, body in self._journal.records():
                try:
                    record = loads(body)
                    if record[1] != "MeterValues" or record[3] != tag:
                        continue
                    for mv in record[2]["meterValue"]:
                        for sv in mv["sampledValue"]:
                            if sv.get("measurand") == "Energy.Active.Import.Register" and "phase" not in sv:
                                wh = int(float(sv["value"]) * (1000 if sv.get("unit") == "kWh" else 1))
                                if best is None or wh > best[0]:
                                    best = (wh, mv["timestamp"])
                except (ValueError, IndexError, KeyError, TypeError, MemoryError):
                    pass
        return best

    def stored_count(self, action):
        # Stored messages of `action`: read from flash once, then kept up to
        # date (a start asks it; scanning the journal each time would parse
        # every waiting message).
        if self._counts is None:
            self._counts = {}
            for a, _tag in self.stored():
                self._counts[a] = self._counts.get(a, 0) + 1
        return self._counts.get(action, 0)

    def _count(self, action, step):
        if self._counts is not None:
            self._counts[action] = self._counts.get(action, 0) + step

    def head(self):
        # (seq, uid, action, payload, tag) of the oldest stored message, or None.
        while self._journal is not None:
            head = self._journal.first()
            if head is None:
                return None
            seq, body = head
            from uocpp.store.record import loads

            try:
                uid, action, payload, tag = loads(body)
                return seq, uid, action, payload, tag
            except (ValueError, TypeError):
                # A record that checked on flash but is not ours cannot be
                # sent; keeping it would block the lane for ever. (A
                # MemoryError is no verdict on the record: it goes up, and
                # the outbox reads it again later.)
                log.error("outbox", "dropping unreadable stored message %d", seq)
                try:
                    self._journal.remove(seq)
                except OSError as e:
                    # A full flash refuses the removal: the lane holds (the
                    # outbox task waits and tries again), no task dies.
                    log.error("outbox", "stored message %d not removed (%s): tried again later", seq, e)
                    return None
        return None

    # -- choosing --------------------------------------------------------------
    def _next(self):
        # The next thing to send: a Message, a durable head tuple, or None
        # with the milliseconds to wait before asking again (None: until woken).
        if self._boot:
            return self._boot[0], None
        reg = self._registration
        accepted = reg.may_send(False)
        wait = None
        if accepted:
            for msg in self._volatile:
                if msg.lane == URGENT:
                    return msg, None
            gate = self.gate
            head = self.head() if gate is None or gate() else None
            if head is None and self._journal and gate is not None:
                wait = 1000  # held: ask the gate again
            if head is not None:
                # The wait is its own head's: one dropped for room meanwhile
                # (a full journal) leaves none to the next.
                left = 0 if self._not_before is None or head[0] != self._head else time.ticks_diff(self._not_before, time.ticks_ms())
                # Longer than any wait it was given: a deadline over half the
                # ticks' period behind (a week offline) reads as ahead.
                if left <= 0 or left > self._keys.get("TransactionMessageRetryInterval") * 1000 * max(1, self._attempts):
                    return head, None
                wait = left
        if reg.status != REJECTED:
            for msg in self._volatile:
                if accepted or reg.may_send(msg.triggered):
                    return msg, None
        return None, wait

    # -- the sending task ------------------------------------------------------
    async def run(self):
        # One frame for the task's whole life (a wrapper coroutine would be
        # a second frame on the heap for ever).
        link = self._link
        while True:
            try:
                if not link.up.is_set():
                    # ONCE messages are not sent at all while there is no link.
                    for lane in (self._boot, self._volatile):
                        for msg in lane[:]:
                            if msg.policy == ONCE:
                                lane.remove(msg)
                                msg._finish(None, errors.NotConnected("no link"))
                    await link.up.wait()
                    continue
                item, wait = self._next()
                if item is None:
                    self._wake.clear()
                    if wait is None:
                        await self._wake.wait()
                    else:
                        await sleep.until(self._wake, wait)
                    continue
                try:
                    if isinstance(item, Message):
                        await self._send(item)
                    else:
                        await self._send_durable(*item)
                finally:
                    self._rpc.taken.set()  # its reply is taken in: the link's reader goes on
                if self._pause_ms:
                    # The link failed us: let it be replaced or probed first,
                    # a pause cut short by a new connection (the link it
                    # failed on is gone, the new one may be used at once).
                    deadline = time.ticks_add(time.ticks_ms(), self._pause_ms)
                    while link.connections == self._failed_on:
                        left = time.ticks_diff(deadline, time.ticks_ms())
                        if left <= 0:
                            break
                        await asyncio.sleep_ms(min(left, 50))
            except MemoryError:
                # Reading the next message (a stored one is parsed from
                # flash) found no heap: nothing is lost, it is tried again.
                log.warning("outbox", "out of memory: again in %d ms", _PAUSE_MIN_MS)
                security_event.report("MemoryExhaustion", "outbox")
                await asyncio.sleep_ms(_PAUSE_MIN_MS)

    async def _call(self, action, payload, uid=None):
        # One CALL; keeps the transport pause up to date and tells the link
        # what went wrong with it. A reply that breaks action's .conf
        # (confs/) raises ReplyRefused here, before any hook sees it.
        reply = self.reply
        if uid is not None:
            self.reply = None  # kept for its own message only
        try:
            if reply is not None and reply[0] == uid:
                reply = reply[1]  # it came (a StartTransaction sent again: a second transaction)
            else:
                reply = await self._rpc.call(self._link.send, action, payload, uid)
        except errors.LinkLost:
            raise  # the link is already down and reconnects with its own back-off
        except errors.NotConnected as e:
            self._link.drop("send failed: %s" % e)
            self._pause()
            raise
        except errors.CallTimeout:
            self._link.probe()
            self._pause()
            raise
        except errors.CallErrorReceived:
            self._pause_ms = 0  # a reply: the link works
            raise
        except errors.ReplyRefused as e:
            self._pause_ms = 0  # the link works: the reply came
            log.warning("outbox", "%s.conf refused: %s", action, e)
            raise
        except MemoryError:
            # No heap to make or send the CALL: the connection is not at
            # fault and stays (dropped, a reconnection near the heap's limit
            # would find no heap either). The next CALL waits out the pause;
            # this message fails as any MemoryError's (_send, _send_durable).
            self._pause()
            raise
        self._pause_ms = 0
        conf = None
        try:
            conf = conf_of(action)
            if conf is not None:
                validate.check(conf.CONF, reply, False)
        except errors.OcppError as e:
            log.warning("outbox", "%s.conf refused: %s", action, e.description)
            raise errors.ReplyRefused(e.description)
        except MemoryError:
            # The reply came, with no heap to check it: a stored message's
            # is checked at its next try, not asked again.
            if uid is not None:
                self.reply = (uid, reply)
            raise
        finally:
            # Dropped once checked (loaded again with the next reply):
            # each .conf module costs 0.3-0.8 KB of a .mpy build's heap,
            # and kept, those of a transaction's replies would sit in it
            # for the whole charging session, the session's peak.
            if conf is not None:
                unload(conf.__name__)
        return reply

    def _pause(self):
        self._pause_ms = min(_PAUSE_MAX_MS, max(_PAUSE_MIN_MS, self._pause_ms * 2))
        self._failed_on = self._link.connections

    async def _send(self, msg):
        lane = self._boot if msg.lane == BOOT else self._volatile
        self._current = msg
        try:
            try:
                reply = await self._call(msg.action, msg.build())
            except errors.ReplyRefused:
                # What a refused reply stands for, if more than a failure
                # (confs/authorize.py).
                instead = getattr(conf_of(msg.action), "instead", None)
                if instead is None:
                    raise
                reply = instead()
            if msg.check is not None and not msg.check(reply):
                raise errors.ReplyRefused("the reply breaks %s.conf" % msg.action)
        except (errors.CallFailed, MemoryError) as e:
            if isinstance(e, MemoryError):
                # Near the heap limit: this message is given up (logged once,
                # like any failure), the task goes on with the next one.
                e = errors.NoHeap("out of memory")
            if msg.policy == RETRY:
                why = msg.on_failure(e) if msg.on_failure else e
                delay = self._backoff.next()
                log.info("outbox", "%s: next %s in %.1f s", why, msg.action, delay)
                await asyncio.sleep_ms(int(delay * 1000))
                return
            if msg.policy != ONCE and isinstance(e, errors.NotConnected) and (msg.policy == PERSIST or not isinstance(e, errors.LinkLost)):
                return  # stays first in its lane for the next connection
            log.info("outbox", "%s failed: %s", msg.action, e)
            lane.remove(msg)
            msg._finish(None, e)
            return
        finally:
            self._current = None
        if msg.policy == RETRY:
            self._backoff.reset()
        lane.remove(msg)
        if msg.answered:
            _hook(msg.action, msg.answered, reply)
        msg._finish(reply, None)

    async def _send_durable(self, seq, uid, action, payload, tag):
        if seq == self._taken:
            # Answered already; what the answer taught is on flash now (the
            # gate let the lane go again): it leaves the journal, unsent.
            self._taken = None
            self._done_durable(seq, action)
            return
        if seq != self._head:
            # Not the head attempted before: that one left the journal
            # unanswered (a full journal dropped it for room), and its
            # attempts and its wait are not this message's.
            self._head, self._attempts = seq, 0
        prepare, answered, dropped = self._hooks.get(action, (None, None, None))
        try:
            if prepare is not None:
                try:
                    payload = prepare(payload, tag)
                except MemoryError:
                    raise
                except Exception as e:
                    # A hook that chokes on the stored message: a failed
                    # attempt, as a CALLERROR (below). Never the end of the
                    # task, which would meet the same message at every restart.
                    log.exception("outbox", "%s: a hook failed", e, action)
                    raise errors.ReplyRefused("no payload from the stored message")
                if payload is None:
                    log.warning("outbox", "%s %s cannot be sent: dropped", action, uid)
                    self._done_durable(seq, action, dropped, tag)
                    return
            # The id was stored with the message: a re-send after a lost reply
            # (or a reboot) is recognisably the same message.
            reply = await self._call(action, payload, uid)
        except (errors.CallErrorReceived, errors.ReplyRefused, MemoryError) as e:
            # A CALLERROR or a reply that breaks the .conf: a failed attempt
            # (TransactionMessageAttempts), never taken in.
            nomem = isinstance(e, MemoryError)
            if nomem:
                # Not the central system's fault. A StartTransaction or
                # StopTransaction is never given up for it (a later try may
                # find heap: it bills), but goes again only after
                # TransactionMessageRetryInterval (at least the pause, _call's
                # own when the CALL found no heap; else this one), not every
                # half second for ever. A MeterValues that never finds heap
                # would hold the lane, and the stop behind it, for ever: an
                # attempt, given up after TransactionMessageAttempts.
                log.warning("outbox", "%s %s: out of memory, again later", action, uid)
                security_event.report("MemoryExhaustion", action)
                if not self._pause_ms:
                    self._pause()
                e = "out of memory"
            if not nomem or action == "MeterValues":
                self._attempts += 1
                if self._attempts >= self._keys.get("TransactionMessageAttempts"):
                    log.error("outbox", "%s %s dropped after %d attempts: %s", action, uid, self._attempts, e)
                    self._done_durable(seq, action, dropped, tag)
                    return
            delay_s = self._keys.get("TransactionMessageRetryInterval") * max(1, self._attempts)
            if not nomem:
                log.warning("outbox", "%s %s: %s; attempt %d in %d s", action, uid, e, self._attempts + 1, delay_s)
            self._not_before = time.ticks_add(time.ticks_ms(), delay_s * 1000)
            return
        except errors.CallFailed:
            return  # no link or no reply: the same message again, same id
        if answered is not None and not _hook(action, answered, payload, reply, tag):
            # The reply could not be taken in (a full flash under tx.json):
            # the message stays on flash, so that what it records is not
            # lost (a reboot would stop its transaction a second time), and
            # goes again, same id, after TransactionMessageRetryInterval;
            # the volatile lane goes on meanwhile. Not an attempt.
            self._not_before = time.ticks_add(time.ticks_ms(), self._keys.get("TransactionMessageRetryInterval") * 1000)
            return
        gate = self.gate
        if gate is not None and not gate():
            # Taken in, but what the answer taught (a transactionId) is not
            # on flash yet (tx.json refused its rewrite): the message stays on
            # flash until it is, so a power cut now cannot lose both; the
            # lane is held meanwhile, then it leaves unsent (above).
            self._taken = seq
            return
        self._done_durable(seq, action)

    def _done_durable(self, seq, action, dropped=None, tag=None):
        if dropped is not None:
            _hook(action, dropped, tag)
        try:
            self._journal.remove(seq)
            self._count(action, -1)
        except OSError as e:
            # Not removed (a full flash): it stays on flash, done; only its
            # removal is tried again, after TransactionMessageRetryInterval
            # (an error up through this task failed it for every message,
            # and the supervisor then reset the board).
            log.error("outbox", "%s stays on flash (%s): removed later", action, e)
            self._taken = seq
            self._not_before = time.ticks_add(time.ticks_ms(), self._keys.get("TransactionMessageRetryInterval") * 1000)
            return
        self._attempts = 0
        self._not_before = None


# Actions whose .conf is empty: any JSON object will do (no module).
_ANY_CONF = const(",MeterValues,StatusNotification,DiagnosticsStatusNotification,FirmwareStatusNotification,")


def conf_of(action):
    # The module declaring action's .conf (uocpp/confs/), imported with its
    # first reply, or None when there is nothing to check.
    if "," + action + "," in _ANY_CONF:
        return None
    try:
        return __import__("uocpp.confs." + snake(action), None, None, ("CONF",))
    except ImportError:
        return None  # not an action of ours: nothing is known of its reply


def _hook(action, fn, *args):
    # -> True when the hook ran. Its failure is logged with its traceback;
    # the outbox goes on.
    try:
        fn(*args)
        return True
    except Exception as e:
        log.exception("outbox", "%s: a hook failed", e, action)
        return False
