"""A billing ledger on the central system's side of the wire.

Fed with every frame the bundled central system saw (`feed(frame)`, from
`cs.on_frame` or from `cs.frames` after the fact, in order, one central
system instance after the other), it rebuilds what a billing back end knows:

- each CALL by its unique id (every copy of it, and whether the central
  system answered it with a CALLRESULT or a CALLERROR);
- transactions, keyed by the StartTransaction's CALL id; the transactionIds
  the central system handed out for it (a re-sent StartTransaction with the
  same id may be given a fresh one by a central system that does not
  de-duplicate: both name the same transaction);
- the StopTransaction(s) and MeterValues of each transaction.

Two more inputs come from the charge point's side, for the rules that are
about what was on its flash, not about the wire:

- `persisted(records, tx)`: what was on flash when the firmware was killed
  (the live records of `flash/outbox.journal`, read with `read_journal`, and
  `flash/tx.json`, read with `read_tx`); every stored message must arrive
  as it was stored (but for a timestamp put right once the clock was set,
  which tx.json's "fix" map holds before it is sent), and every transaction
  running on flash must end as sessions.py's recover() says;
- `firmware_log(lines)`: the log of every run, for the messages the
  firmware reports as given up (CALLERROR retries used up, or a message of a
  transaction whose StartTransaction was given up).

`check()` returns the violations as readable sentences (empty: all good);
`figures()` the counts (duplicates, CALLERRORs, drops, PowerLoss stops ...).
"""

import importlib.util
import json
import re
import struct
import zlib
from pathlib import Path

ENERGY = "Energy.Active.Import.Register"


def _firmware_record_codec():
    # The firmware's own decoder of a record's text (lib/uocpp/store/record.py:
    # plain code, runs on CPython too), so the ledger reads what it wrote.
    path = Path(__file__).resolve().parent.parent / "lib" / "uocpp" / "store" / "record.py"
    spec = importlib.util.spec_from_file_location("uocpp_store_record", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_record = _firmware_record_codec()

# -- reading the firmware's flash (read-only, CPython) -------------------------

_HDR = 12


def read_journal(path):
    """Live records of an outbox journal (lib/uocpp/store/journal.py) as the
    firmware's recovery would see them, without touching the file:
    [(seq, uid, action, payload, tag)], oldest first. The scan stops at the
    first record that does not check (torn tail), exactly like _scan()."""
    return scan_journal(path)[0]


def scan_journal(path):
    """-> (read_journal()'s records, bytes after the last good record: a torn tail)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    live, pos, prev, last = {}, 0, 0, 0
    while pos + _HDR <= len(data):
        magic, kind, n, seq = struct.unpack_from("<BBHI", data, pos)
        if magic != 0xA5 or kind not in (0x53, 0x44, 0x52) or (kind != 0x44 and n) or pos + _HDR + n > len(data):
            break
        (want,) = struct.unpack_from("<I", data, pos + 8)
        body = data[pos + _HDR : pos + _HDR + n]
        if zlib.crc32(body, zlib.crc32(data[pos : pos + 8])) != want:
            break
        if kind == 0x53:
            if pos:
                break
            last = seq
        elif kind == 0x44:
            if seq <= prev:
                break
            prev = seq
            live[seq] = body
            last = max(last, seq)
        else:
            if seq > last:
                break
            prev = last
            live.pop(seq, None)
        pos += _HDR + n
    out = []
    for seq in sorted(live):
        try:
            uid, action, payload, tag = _record.loads(live[seq])
        except (ValueError, TypeError):
            uid, action, payload, tag = None, "<unreadable>", live[seq], None
        out.append((seq, uid, action, payload, tag))
    return out, len(data) - pos


class TxFile:
    """flash/tx.json as model/transactions.py writes it, read at a kill:
    `run` {local id (str): {"c", "tag", "start", "t", "wh", "wt"?, "remote",
    "p"}} the running transactions, `remote` {local id (str): transactionId}
    the stopped ones whose StopTransaction still waits in the journal, `fix`
    {"s<local>" | "e<local>": time} the Start/StopTransactions stamped before
    the clock was set, with the time they are sent with (sessions.py
    _put_right). len(): the transactions on flash (Transactions.count())."""

    __slots__ = ("run", "remote", "fix")

    def __init__(self, run=None, remote=None, fix=None):
        self.run = run or {}
        self.remote = remote or {}
        self.fix = fix or {}

    @classmethod
    def of(cls, saved):
        # The parsed file (or a TxFile); what Transactions.__init__ takes for
        # nothing (no dict, no "run" dict) is empty here too.
        if isinstance(saved, cls):
            return cls(dict(saved.run), dict(saved.remote), dict(saved.fix))
        if not isinstance(saved, dict) or not isinstance(saved.get("run"), dict):
            return cls()
        return cls({k: dict(v) for k, v in saved["run"].items()}, dict(saved.get("remote") or {}), dict(saved.get("fix") or {}))

    def __len__(self):
        return len(self.run) + len(self.remote)

    def __repr__(self):
        return "TxFile(run=%r, remote=%r, fix=%r)" % (self.run, self.remote, self.fix)


def read_tx(path):
    """flash/tx.json as a TxFile (empty when absent)."""
    try:
        saved = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return TxFile()
    return TxFile.of(saved)


# -- the ledger ------------------------------------------------------------------


class _Call:
    __slots__ = ("uid", "action", "payload", "copies", "results", "errors", "first_t", "events")

    def __init__(self, uid, action, payload, t):
        self.uid, self.action, self.payload = uid, action, payload
        self.copies = 0
        self.results = []  # CALLRESULT payloads the central system sent
        self.errors = []  # CALLERROR codes it sent
        self.first_t = t
        self.events = []  # "in" (a copy), "result", "error", in the order they happened


class _Tx:
    __slots__ = ("start", "ids", "stops", "values")

    def __init__(self, start):
        self.start = start  # the StartTransaction _Call
        self.ids = []  # transactionIds the central system gave it
        self.stops = []  # StopTransaction _Calls naming one of them, first copy order
        self.values = []  # MeterValues _Calls naming one of them


_LOG_DROPPED = re.compile(r"outbox: (\w+) (\S+) dropped after (\d+) attempts")
_LOG_UNSENDABLE = re.compile(r"outbox: (\w+) (\S+) cannot be sent: dropped")
_LOG_START_GIVEN_UP = re.compile(r"session: StartTransaction of transaction local (\d+) could not be delivered")
_LOG_FORGOTTEN = re.compile(r"session: transaction local (\d+) never reached flash: forgotten")
_LOG_EXPECTED_ERRORS = (_LOG_DROPPED, _LOG_START_GIVEN_UP)
_LOG_BAD = re.compile(r"Traceback|MemoryError|JournalFull|dropping unreadable stored message|task .* (died|failed)")


def energy_of(payload):
    """The Energy.Active.Import.Register values (Wh) in a MeterValues payload."""
    out = []
    for mv in payload.get("meterValue", []):
        for sv in mv.get("sampledValue", []):
            if sv.get("measurand", ENERGY) == ENERGY:
                out.append(float(sv["value"]))
    return out


class Ledger:
    def __init__(self, sample_interval=None, gap_tolerance=3.0):
        # sample_interval: MeterValueSampleInterval in force (s): consecutive
        # samples of a transaction must then be at most interval +
        # gap_tolerance apart (their timestamps are whole seconds and the
        # metering loop may run up to a second late).
        self.sample_interval = sample_interval
        self.gap_tolerance = gap_tolerance
        self.calls = {}  # uid -> _Call (charge point's CALLs)
        self.order = []  # uids in the order their first copy arrived
        self.cs_calls = {}  # uid -> [action, payload, reply or None] (central system's CALLs)
        self.tx = {}  # StartTransaction uid -> _Tx
        self.by_id = {}  # transactionId -> StartTransaction uid
        self.violations = []
        # From the charge point's side:
        self.stored = {}  # uid -> (action, payload, tag) of every record seen on flash at a kill
        self.tx_snapshots = []  # (kill, journal at the kill [(uid, action, tag)], TxFile)
        self.fixes = {}  # "s<local>" / "e<local>" -> times tx.json's fix map held at some kill
        self.start_uid = {}  # local id -> its StartTransaction's CALL id (from the journal at a kill)
        self.snapshot_cases = {}  # how _check_snapshots() judged each running transaction at a kill
        self.log_dropped = {}  # uid -> (action, attempts) given up after CALLERRORs
        self.log_unsendable = {}  # uid -> action dropped because its transaction never started
        self.start_given_up = set()  # local ids whose StartTransaction was given up
        self.forgotten = set()  # local ids forgotten at boot (StartTransaction never stored)
        self.log_errors = []

    # -- inputs ------------------------------------------------------------------
    def feed(self, frame):
        msg = frame.msg
        if not isinstance(msg, list) or len(msg) < 3:
            return
        kind, uid = msg[0], msg[1]
        if frame.direction == "in" and kind == 2:
            self._call(uid, msg[2], msg[3] if len(msg) > 3 else None, frame.t)
        elif frame.direction == "out" and kind in (3, 4):
            call = self.calls.get(uid)
            if call is None:
                return
            call.events.append("result" if kind == 3 else "error")
            if kind == 3:
                call.results.append(msg[2])
                if call.action == "StartTransaction" and isinstance(msg[2], dict):
                    self._started(call, msg[2].get("transactionId"))
            else:
                call.errors.append(msg[2])
        elif frame.direction == "out" and kind == 2:
            self.cs_calls[uid] = [msg[2], msg[3], None]
        elif frame.direction == "in" and kind in (3, 4) and uid in self.cs_calls:
            self.cs_calls[uid][2] = msg[2] if kind == 3 else ("CALLERROR", msg[2])

    def feed_all(self, frames):
        for f in frames:
            self.feed(f)

    def _call(self, uid, action, payload, t):
        call = self.calls.get(uid)
        if call is None:
            call = self.calls[uid] = _Call(uid, action, payload, t)
            self.order.append(uid)
            self._classify(call)
        elif [call.action, call.payload] != [action, payload]:
            self.violations.append(
                "CALL id %s carried two different messages: %s %s, then %s %s" % (uid, call.action, _short(call.payload), action, _short(payload))
            )
        call.copies += 1
        call.events.append("in")

    def _classify(self, call):
        # A new message (first copy): attach it to its transaction.
        p = call.payload if isinstance(call.payload, dict) else {}
        if call.action == "StartTransaction":
            self.tx[call.uid] = _Tx(call)
        elif call.action in ("StopTransaction", "MeterValues") and "transactionId" in p:
            start = self.by_id.get(p["transactionId"])
            if start is None:
                self.violations.append("%s %s names transactionId %r, which the central system never gave out" % (call.action, call.uid, p["transactionId"]))
                return
            t = self.tx[start]
            if call.action == "StopTransaction":
                t.stops.append(call)
            else:
                if t.stops:
                    self.violations.append(
                        "MeterValues %s of transaction %r arrived after its StopTransaction %s" % (call.uid, p["transactionId"], t.stops[0].uid)
                    )
                t.values.append(call)

    def _started(self, call, tid):
        t = self.tx[call.uid]
        if tid in t.ids:
            return
        if tid in self.by_id:
            self.violations.append("transactionId %r given to two StartTransactions (%s, %s)" % (tid, self.by_id[tid], call.uid))
            return
        t.ids.append(tid)
        self.by_id[tid] = call.uid

    def persisted(self, records, tx, kill=None):
        """What was on flash at a kill: records from read_journal(), tx from
        read_tx() (or tx.json's parsed content)."""
        tx = TxFile.of(tx)
        journal = []
        for _seq, uid, action, payload, tag in records:
            if uid is None:
                self.violations.append("kill %s: an unreadable record on flash: %r" % (kill, payload))
                continue
            before = self.stored.get(uid)
            if before is not None and before[:2] != (action, payload):
                self.violations.append("stored id %s changed on flash: %s -> %s" % (uid, _short(before[1]), _short(payload)))
            self.stored[uid] = (action, payload, tag)
            journal.append((uid, action, tag))
            if action == "StartTransaction" and tag is not None:
                self.start_uid[tag] = uid
        for key, when in tx.fix.items():
            self.fixes.setdefault(key, set()).add(when)
        self.tx_snapshots.append((kill, journal, tx))

    def firmware_log(self, lines):
        for line in lines:
            m = _LOG_DROPPED.search(line)
            if m:
                self.log_dropped[m.group(2)] = (m.group(1), int(m.group(3)))
            m = _LOG_UNSENDABLE.search(line)
            if m:
                self.log_unsendable[m.group(2)] = m.group(1)
            m = _LOG_START_GIVEN_UP.search(line)
            if m:
                self.start_given_up.add(int(m.group(1)))
            m = _LOG_FORGOTTEN.search(line)
            if m:
                self.forgotten.add(int(m.group(1)))
            if _LOG_BAD.search(line) or (" E " in line and not any(rx.search(line) for rx in _LOG_EXPECTED_ERRORS)):
                self.log_errors.append(line)

    # -- the rules -------------------------------------------------------------------
    def answered(self, call):
        return bool(call.results)

    def transactions(self):
        """Transactions the central system saw started: it answered the StartTransaction."""
        return [t for t in self.tx.values() if t.ids]

    def _stop_state(self, t):
        # -> (state, stop _Call or None); state one of "stopped", "stop-dropped",
        # "orphaned", "open".
        if t.stops:
            stop = t.stops[0]
            if stop.results:
                return "stopped", stop
            if stop.uid in self.log_dropped:
                return "stop-dropped", stop
            return "open", stop
        if t.start.uid in self.log_dropped:
            # The central system took a first copy, refused the re-send (after a
            # kill lost its answer), and the firmware gave the message up.
            return "orphaned", None
        return "open", None

    def check(self):
        v = list(self.violations)
        for line in self.log_errors:
            v.append("firmware log: %s" % line)
        # Every transaction started at the central system is stopped exactly once.
        for t in self.transactions():
            sp = t.start.payload
            name = "transaction %s (StartTransaction %s, idTag %s)" % ("/".join(map(str, t.ids)), t.start.uid, sp.get("idTag"))
            uids = []
            for s in t.stops:
                if s.uid not in uids:
                    uids.append(s.uid)
            if len(uids) > 1:
                v.append("%s was stopped by %d different StopTransactions: %s" % (name, len(uids), ", ".join(uids)))
            state, stop = self._stop_state(t)
            if state == "open":
                if stop is None:
                    v.append("%s was never stopped" % name)
                else:
                    v.append("%s: its StopTransaction %s was never answered and not reported as dropped" % (name, stop.uid))
            if stop is not None:
                p = stop.payload
                if p["meterStop"] < sp["meterStart"]:
                    v.append("%s: meterStop %s < meterStart %s" % (name, p["meterStop"], sp["meterStart"]))
                sampled = [e for mv in t.values for e in energy_of(mv.payload)]
                if sampled and p["meterStop"] < max(sampled):
                    v.append(
                        "%s: billed meterStop %s (%s) is below the sampled value %s the central system received%s"
                        % (name, p["meterStop"], p.get("reason"), max(sampled), self._last_kill(sp))
                    )
                if p["timestamp"] < sp["timestamp"]:
                    v.append("%s: stopped at %s before its start %s" % (name, p["timestamp"], sp["timestamp"]))
            for mv in t.values:
                if mv.payload.get("connectorId") != sp["connectorId"]:
                    v.append("%s: MeterValues %s for connector %s" % (name, mv.uid, mv.payload.get("connectorId")))
                es = energy_of(mv.payload)
                if es and min(es) < sp["meterStart"]:
                    v.append("%s: MeterValues %s below meterStart: %s" % (name, mv.uid, es))
            v.extend(self._gaps(name, t, stop))
        # A StopTransaction must belong to a transaction (checked as it came,
        # in _classify); so must MeterValues with a transactionId.
        v.extend(self._check_persisted())
        v.extend(self._check_snapshots())
        return v

    def _gaps(self, name, t, stop):
        # Sampled values of a transaction come every MeterValueSampleInterval:
        # a longer gap means samples went missing (kills end a transaction, so
        # this never spans one).
        if not self.sample_interval:
            return []
        stamps = [t.start.payload["timestamp"]]
        for mv in t.values:
            for m in mv.payload.get("meterValue", []):
                if any(sv.get("context") == "Sample.Periodic" for sv in m.get("sampledValue", [])):
                    stamps.append(m["timestamp"])
        if stop is not None and stop.payload.get("reason") != "PowerLoss":
            stamps.append(stop.payload["timestamp"])
        secs = sorted(_unix(s) for s in stamps)
        most = self.sample_interval + self.gap_tolerance
        out = []
        for a, b in zip(secs, secs[1:]):
            if b - a > most:
                out.append("%s: no sampled value for %d s (interval %d s): samples lost" % (name, b - a, self.sample_interval))
        return out

    def max_gap(self):
        worst = 0
        for t in self.transactions():
            secs = sorted(_unix(m["timestamp"]) for mv in t.values for m in mv.payload.get("meterValue", []))
            secs = [_unix(t.start.payload["timestamp"])] + secs
            for a, b in zip(secs, secs[1:]):
                worst = max(worst, b - a)
        return worst

    def _excused(self, uid, tag):
        # A message the firmware did not send because its transaction's
        # StartTransaction was given up (or never stored): logged, expected.
        return uid in self.log_unsendable and tag is not None and (tag in self.start_given_up or tag in self.forgotten)

    def _check_persisted(self):
        # Every message that was on flash at a kill arrived, with what was stored.
        out = []
        for uid, (action, payload, tag) in self.stored.items():
            call = self.calls.get(uid)
            if call is None:
                if not self._excused(uid, tag):
                    out.append("stored %s %s (transaction %s) never arrived: %s" % (action, uid, tag, _short(payload)))
                continue
            got = dict(call.payload)
            extra = set(got) - set(payload)
            if call.action != action or extra - {"transactionId"} or any(k not in got for k in payload):
                out.append("stored %s %s arrived changed: stored %s, received %s" % (action, uid, _short(payload), _short(call.payload)))
                continue
            changed = {k for k in payload if got[k] != payload[k]}
            if changed == {"timestamp"} and got["timestamp"] in self._fixed_times(action, tag):
                continue  # stamped before the clock was set, put right (tx.json's fix map said so first)
            if changed:
                out.append("stored %s %s arrived changed: stored %s, received %s" % (action, uid, _short(payload), _short(call.payload)))
        return out

    def _fixed_times(self, action, local):
        # The times tx.json's fix map held, at some kill, for this
        # transaction's StartTransaction ("s<local>") or StopTransaction ("e<local>").
        key = {"StartTransaction": "s", "StopTransaction": "e"}.get(action)
        if key is None or local is None:
            return ()
        return self.fixes.get("%s%s" % (key, local), ())

    def _last_kill(self, start_payload):
        # "; running at kill K": the kill that interrupted the transaction.
        for kill, journal, tx in self.tx_snapshots:
            stops = {tag for _uid, action, tag in journal if action == "StopTransaction"}
            for local, rec in tx.run.items():
                if rec.get("tag") == start_payload.get("idTag") and int(local) not in stops:
                    return "; running at kill %s" % kill
        return ""

    def _start_of(self, local, rec):
        # The central system's view (_Tx) of the transaction with this local
        # id: by its StartTransaction's CALL id (stored in the journal at
        # some kill) or by the transactionId tx.json held for it.
        uid = self.start_uid.get(local)
        if uid is None and rec.get("remote") is not None:
            uid = self.by_id.get(rec["remote"])
        return self.tx.get(uid) if uid is not None else None

    def _journal_reading(self, journal, local):
        # (Wh, time) of the highest energy reading among the transaction's
        # MeterValues in a journal snapshot (their payloads as stored); None
        # if it has none.
        best = None
        for uid, action, tag in journal:
            if action != "MeterValues" or tag != local:
                continue
            payload = self.stored[uid][1]
            for mv in payload.get("meterValue", []) if isinstance(payload, dict) else ():
                for sv in mv.get("sampledValue", []):
                    if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register":
                        try:
                            wh = int(float(sv["value"]))
                        except (KeyError, ValueError):
                            continue
                        if best is None or wh > best[0]:
                            best = (wh, mv.get("timestamp"))
        return best

    def _check_snapshots(self):
        # Each transaction running on flash at a kill ends as sessions.py's
        # recover() decides at the next boot (model/transactions.py's header):
        # - its StopTransaction in the journal: it was stopped before the
        #   power went (the stored Stop must arrive: _check_persisted);
        # - no transactionId and no StartTransaction in the journal: it never
        #   started ("never reached flash: forgotten" in the firmware's log);
        # - otherwise stopped with reason PowerLoss, meterStop the meter's
        #   register at boot or the last stored reading, whichever is higher
        #   (so >= max(wh, start)), at the last stored reading's time ("wt")
        #   or the start's ("t"), never before the start.
        out = []
        cases = self.snapshot_cases = {}
        for kill, journal, tx in self.tx_snapshots:
            starts = {tag for _uid, action, tag in journal if action == "StartTransaction"}
            stops = {tag for _uid, action, tag in journal if action == "StopTransaction"}
            for key, rec in tx.run.items():
                local = int(key)
                if local in stops:
                    cases["stopped"] = cases.get("stopped", 0) + 1
                    continue
                t = self._start_of(local, rec)
                if t is not None:
                    sp = t.start.payload
                    times = {rec["t"]} | set(self._fixed_times("StartTransaction", local))
                    if (sp.get("connectorId"), sp.get("idTag"), sp.get("meterStart")) != (rec["c"], rec["tag"], rec["start"]) or sp.get(
                        "timestamp"
                    ) not in times:
                        out.append("kill %s: transaction %d on flash %s differs from its StartTransaction %s" % (kill, local, _short(rec), _short(sp)))
                if rec.get("remote") is None and local not in starts:
                    cases["forgotten"] = cases.get("forgotten", 0) + 1
                    if local not in self.forgotten:
                        out.append(
                            "kill %s: transaction %d (idTag %s) was running with no transactionId and no StartTransaction on flash, and the firmware did not say it forgot it"
                            % (kill, local, rec["tag"])
                        )
                    if t is not None and t.ids and t.start.uid not in self.log_dropped:
                        out.append(
                            "kill %s: transaction %d (idTag %s) was forgotten at boot, but the central system started it as %s"
                            % (kill, local, rec["tag"], "/".join(map(str, t.ids)))
                        )
                    continue
                if t is None:
                    continue  # its stored StartTransaction never arrived: _check_persisted says so
                if not t.ids:
                    if local not in self.start_given_up:
                        out.append(
                            "kill %s: transaction %d (idTag %s) on flash never started at the central system, and the firmware did not say it gave it up"
                            % (kill, local, rec["tag"])
                        )
                    continue
                cases["PowerLoss"] = cases.get("PowerLoss", 0) + 1
                state, stop = self._stop_state(t)
                want_wh = max(rec["wh"], rec["start"])
                want_t = max(rec.get("wt") or rec["t"], rec["t"])
                times = set(self._fixed_times("StopTransaction", local))
                # A sample in the journal above tx.json's reading (stored
                # while tx.json could not be written: a full flash) is what
                # the stop bills, at that sample's time (power_loss.py).
                sampled = self._journal_reading(journal, local)
                if sampled is not None and sampled[0] > rec["wh"]:
                    want_wh = max(want_wh, sampled[0])
                    want_t = max(want_t, sampled[1])
                what = "kill %s: transaction %d was running (last stored reading %s Wh at %s)" % (kill, local, rec["wh"], rec.get("wt") or rec["t"])
                if stop is None:
                    if state != "orphaned":
                        out.append("%s: expected a PowerLoss stop at >= %s Wh, none arrived" % (what, want_wh))
                    continue
                got = stop.payload
                times.add(want_t)
                if (
                    got.get("reason") != "PowerLoss"
                    or not isinstance(got.get("meterStop"), int)
                    or got["meterStop"] < want_wh
                    or got.get("timestamp") not in times
                ):
                    out.append(
                        "%s: expected a PowerLoss stop at >= %s Wh stamped %s, got %s"
                        % (what, want_wh, " or ".join(sorted(times)), _short({k: v for k, v in got.items() if k != "transactionData"}))
                    )
        return out

    # -- figures -------------------------------------------------------------------
    def figures(self):
        per = {}
        for call in self.calls.values():
            f = per.setdefault(
                call.action, {"messages": 0, "copies": 0, "retried_after_callerror": 0, "resent_answer_lost": 0, "resent_unanswered": 0, "callerrors": 0}
            )
            f["messages"] += 1
            f["copies"] += call.copies
            # Each copy after the first, by what the central system had done
            # with the previous one: answered CALLERROR (a retry), answered
            # CALLRESULT (the answer was lost to a kill or a dropped link), or
            # not answered at all (the link or the central system went away).
            before = None
            for e in call.events:
                if e == "in" and before is not None:
                    f[{"error": "retried_after_callerror", "result": "resent_answer_lost", "in": "resent_unanswered"}[before]] += 1
                before = e
            f["callerrors"] += len(call.errors)
        states = {}
        reasons = {}
        for t in self.transactions():
            state, stop = self._stop_state(t)
            states[state] = states.get(state, 0) + 1
            if stop is not None:
                r = stop.payload.get("reason", "Local")
                reasons[r] = reasons.get(r, 0) + 1
        self._check_snapshots()  # counts its cases
        return {
            "started": len(self.transactions()),
            "start_calls": len(self.tx),
            # StartTransactions the central system only ever refused (CALLERROR):
            # no transaction for it, the firmware gave the message up.
            "never_started": sum(1 for t in self.tx.values() if not t.ids),
            "restarted_with_new_id": sum(1 for t in self.tx.values() if len(t.ids) > 1),
            "states": states,
            "stop_reasons": reasons,
            "meter_values": len([c for c in self.calls.values() if c.action == "MeterValues"]),
            "per_action": per,
            "duplicates": sum(f["resent_answer_lost"] + f["resent_unanswered"] for f in per.values()),
            "callerror_retries": sum(f["retried_after_callerror"] for f in per.values()),
            "callerrors": sum(f["callerrors"] for f in per.values()),
            "dropped_after_attempts": dict(_count(a for a, _n in self.log_dropped.values())),
            "dropped_unsendable": dict(_count(self.log_unsendable.values())),
            "stored_checked": dict(_count(a for a, _p, _t in self.stored.values())),
            "tx_snapshots": sum(len(tx.run) for _k, _j, tx in self.tx_snapshots),
            # Running at a kill: stopped already / forgotten / PowerLoss expected (the checks ran)
            "snapshot_cases": dict(sorted(self.snapshot_cases.items())),
            "remote_calls": dict(_count(c[0] for c in self.cs_calls.values())),
        }


def _count(items):
    out = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return sorted(out.items())


def _short(obj, n=160):
    text = json.dumps(obj, sort_keys=True)
    return text if len(text) <= n else text[: n - 3] + "..."


def _unix(iso):
    from datetime import datetime

    return int(datetime.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S").timestamp())
