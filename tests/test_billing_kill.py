"""Billing-grade kill test of the charging sessions (issue 12, item 6).

The firmware runs charging sessions on the unix port's EVSE simulator (two
connectors, MeterValueSampleInterval 1 s) against the bundled central
system, and is SIGKILLed at seeded random moments, then restarted on the
same flash, over and over (KILLS times):

- at boot, while it connects, registers and recovers the last run;
- right after a simulator command was answered (the command's effect, a
  transaction begun or stopped, is on flash by then);
- in the middle of a command (a card or an unplug sent, the kill a few
  milliseconds later, before the reply);
- the instant a file on flash changes (the journal grows or shrinks, or
  tx.json is replaced): right after one write of a multi-write step; after
  some of those that caught an append, the harness cuts the appended record
  short, as a power cut in the middle of that write leaves it;
- while charging, after a stop (its StopTransaction queued or in flight);
- while charging, with the central system now and then asking for the
  meter (TriggerMessage MeterValues: stored and billed like a sample);
- with the central system up, stopped (cs.stop(), then a new
  CentralSystemThread on the same port: killed while the firmware
  reconnects), or answering CALLERROR to StartTransaction, MeterValues or
  StopTransaction for a while (TransactionMessageAttempts 3,
  TransactionMessageRetryInterval 1 s, so some messages are given up).

Sessions start by card (the simulator's `card`; unknown idTags are
accepted offline) and stop by unplugging, the same card or a
RemoteStopTransaction, each with a unique idTag and a meter range of its own.
Some sessions started offline have an idTag the central system answers
Blocked once it sees the StartTransaction: they stop as DeAuthorized.

Every frame goes into a ledger on the central system's side
(harness/ledger.py), with what was on flash at each kill and the
firmware's log. At the end the central system answers everything, the last
run drains the journal, and the ledger checks:

- every transaction the central system answered a StartTransaction for is
  stopped by exactly one StopTransaction (copies with the same CALL id are
  allowed and counted; a second id is a violation), unless that
  StopTransaction was refused with CALLERROR until the firmware gave it up
  (reported, as the issue allows);
- meterStop >= meterStart, and >= every sampled value the central system
  received for the transaction;
- MeterValues carry a transactionId the central system gave out, before
  their transaction's StopTransaction; sampled values have no hole longer
  than the interval (plus tolerance);
- no CALL id ever carried two different messages;
- every message that was on flash at a kill arrived, with what was stored
  (but for a timestamp put right once the clock was set, held in tx.json's
  "fix" map at that kill; or the firmware logged it as unsendable because
  its StartTransaction was given up);
- every transaction running in tx.json at a kill ended as the power-loss
  rules say (sessions.py recover()): its StopTransaction already in the
  journal, nothing more; no transactionId and no StartTransaction on flash,
  forgotten (and logged so); otherwise stopped with reason PowerLoss, at
  meterStop >= the last stored reading, stamped with that reading's time;
- (checked on the way: SIGKILL ends the interpreter itself; the PyPI
  micropython wrapper runs the port in-process, with no child process);
- nothing is left on flash (the journal's Journal.__len__() is 0, tx.json
  holds no transaction), and the firmware logged no unexpected error.
"""

import json
import os
import random
import signal
import socket
import struct
import time

import pytest

from harness.net import free_port
from harness.firmware import FAST, Firmware, merge, run_micropython
from harness.ledger import Ledger, read_journal, read_tx, scan_journal

from ocpp.v16 import call

# tools/ is on the path (conftest.py)
import evse  # noqa: E402, I001
from central_system import CentralSystemThread  # noqa: E402

SEED = int(os.environ.get("BILLING_SEED", "1216"))
KILLS = int(os.environ.get("BILLING_KILLS", "102"))
VERBOSE = bool(os.environ.get("BILLING_VERBOSE"))
CP = "CP001"
INTERVAL = 1  # MeterValueSampleInterval
POWER_W = 36000  # 10 Wh per second of charging
KEYS = {
    "MeterValueSampleInterval": str(INTERVAL),
    "TransactionMessageAttempts": "3",
    "TransactionMessageRetryInterval": "1",
    # Sessions also start while the central system is down (unknown idTags
    # are accepted offline), so transactions pile up on flash.
    "AllowOfflineTxForUnknownId": "true",
}
TX_ERRORS = ("StartTransaction", "MeterValues", "StopTransaction")

CHECK_FLASH = """
from uocpp.store.journal import Journal
from uocpp.model.transactions import Transactions
import os
try:
    os.stat(%(j)r)
    n = len(Journal(%(j)r, 32768))
except OSError:
    n = 0
print("journal", n, "tx", Transactions(%(t)r).count())
"""


class Rig:
    """The central system (replaced when it is stopped), the firmware (one run
    per kill, on one flash) and the ledger's inputs."""

    def __init__(self, workdir, rng):
        self.rng = rng
        self.workdir = workdir
        self.port = free_port()
        self.sim = free_port()
        self.cfg = merge(
            FAST,
            {
                "centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % self.port},
                "ocpp": {"messageTimeout": 1.5},
                "simulator": {"port": self.sim},
                "connectors": {"count": 2},
                "log": {"level": "info"},
            },
        )
        self.css = []  # every central system, in order (their frames feed the ledger)
        self.cs = None
        self.next_tx = 1000
        self.fw = None
        self.runs = []  # log lines of every run
        self.session_no = 0
        self.blocked = set()  # idTags the central system answers Blocked
        self.kills = {}
        self.torn = 0  # kills that left a torn journal tail (cut short or not)
        self.cuts = 0  # records cut short by the harness after a kill
        self.triggers = 0
        self.flash = workdir / "flash"
        self.flash.mkdir(parents=True, exist_ok=True)
        (self.flash / "keys.json").write_text(json.dumps(KEYS))
        self.cs_up(set())

    # -- the central system ------------------------------------------------------
    def cs_up(self, errors=()):
        if self.cs is None:
            # The same port: the firmware reconnects to it. transactionIds go on
            # where the last one stopped (a central system keeps its counter).
            self.cs = CentralSystemThread(port=self.port, boot_plan=[("Accepted", 60)]).start()
            self.cs.cs._next_tx = self.next_tx
            self.css.append(self.cs)
        # On the CentralSystem itself: CentralSystemThread forwards reads of
        # unknown attributes to it, but an assignment would stay on the thread
        # object, and the central system would go on answering.
        self.cs.cs.error_actions = set(errors)
        self.cs.cs.id_tags.update((tag, {"status": "Blocked"}) for tag in self.blocked)

    def cs_down(self):
        if self.cs is not None:
            self.next_tx = self.cs.cs._next_tx
            self.cs.stop()
            self.cs = None

    # -- the firmware ------------------------------------------------------------
    def boot(self):
        self.fw = Firmware(self.workdir, self.cfg).start()
        self.fw.wait_log(r"evse: simulator listening", 15)

    def kill(self, why):
        fw = self.fw
        fw.proc.kill()  # SIGKILL (a no-op once kill_on_change() got it and it was reaped)
        fw.proc.wait(5)
        fw._pump_thread.join(5)
        self.runs.append([line for _, line in fw.lines])
        self.kills[why] = self.kills.get(why, 0) + 1
        self.fw = None
        records, torn = scan_journal(self.flash / "outbox.journal")
        if torn:
            self.torn += 1
        return records, read_tx(self.flash / "tx.json")

    def sim_send(self, lines):
        replies = evse.send(lines, port=self.sim, timeout=20)
        bad = [(line, r) for line, r in zip(lines, replies) if not r.startswith("ok")]
        assert not bad, bad
        return replies

    def state(self):
        return json.loads(self.sim_send(["state"])[0][3:])

    def sim_unanswered(self, line, rng):
        # A command whose reply is never read: the kill comes 0-20 ms after it.
        with socket.create_connection(("127.0.0.1", self.sim), timeout=20) as s:
            s.sendall((line + "\n").encode())
            time.sleep(rng.uniform(0, 0.02))

    # -- sessions ----------------------------------------------------------------
    def begin(self, n, blocked=False):
        # -> (idTag, simulator commands) of a new session on connector n: a
        # unique idTag, and a meter range of its own, above anything billed
        # before. A blocked idTag is accepted offline, and the
        # StartTransaction.conf then says Blocked: stopped as DeAuthorized.
        self.session_no += 1
        tag = "T%05d" % self.session_no
        if blocked:
            self.blocked.add(tag)
            if self.cs is not None:
                self.cs.cs.id_tags[tag] = {"status": "Blocked"}
        m = 10000 * self.session_no
        return tag, ["meter %d %d" % (n, m), "power %d %d" % (n, POWER_W), "plug %d" % n, "card %d %s" % (n, tag), "charge %d" % n]


def file_sig(p):
    try:
        st = os.stat(p)
        return (st.st_ino, st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        return None


def kill_on_change(rig, paths, within):
    """SIGKILL the firmware the instant one of the files changes (size, inode
    or mtime), or after `within` seconds; returns what changed."""
    sig = file_sig
    before = [sig(p) for p in paths]
    pid = rig.fw.proc.pid
    deadline = time.monotonic() + within
    hit = None
    while time.monotonic() < deadline:
        for i, p in enumerate(paths):
            if sig(p) != before[i]:
                os.kill(pid, signal.SIGKILL)
                hit = p.name
                break
        if hit:
            break
    return hit


def cut_last_append(rig, rng):
    """After a kill right behind a journal append: cut that record short, as
    a power cut in the middle of the write would have left it. Only when
    nothing happened after the append that such a cut would have prevented:
    no later write to tx.json, and the message not on the wire yet."""
    path, tx = rig.flash / "outbox.journal", rig.flash / "tx.json"
    time.sleep(0.05)  # whatever was in the socket reaches the central system
    records, torn = scan_journal(path)
    if torn or not records or (tx.exists() and tx.stat().st_mtime_ns > path.stat().st_mtime_ns):
        return False
    data = path.read_bytes()
    pos = last = 0
    while pos < len(data):
        last = pos
        pos += 12 + struct.unpack_from("<H", data, pos + 2)[0]
    kind, seq = data[last + 1], struct.unpack_from("<I", data, last + 4)[0]
    uid = records[-1][1]
    if kind != 0x44 or seq != records[-1][0] or (rig.cs and any(f.msg[1] == uid for f in rig.cs.received())):
        return False
    with open(path, "r+b") as f:
        f.truncate(rng.randrange(last + 1, len(data)))
    return True


def charge_for(rig, t, sessions):
    """Charging for t seconds; now and then the central system asks for the
    meter (TriggerMessage MeterValues: during a transaction its MeterValues
    is stored and billed like a sample)."""
    rng = rig.rng
    end = time.monotonic() + t
    if rig.cs is not None and sessions and rng.random() < 0.5:
        for _ in range(rng.choice((1, 2, 3))):
            time.sleep(max(0, min(end - time.monotonic(), rng.uniform(0, t / 2))))
            if CP not in rig.cs.charge_points:
                break
            try:
                rig.cs.call(CP, call.TriggerMessage(requested_message="MeterValues", connector_id=rng.choice(sorted(sessions))), timeout=1)
                rig.triggers += 1
            except Exception:
                break
    time.sleep(max(0, end - time.monotonic()))


def episode(rig):
    """One firmware run, from boot to its kill; returns the kind of kill."""
    rng = rig.rng
    r = rng.random()
    if r < 0.55:
        mode = "up"
        rig.cs_up(set())
    elif r < 0.75:
        mode = "down"
        rig.cs_down()
    else:
        mode = "error"
        rig.cs_up(set(rng.sample(TX_ERRORS, rng.choice((1, 1, 2)))))
    rig.boot()
    fw = rig.fw
    if rng.random() < 0.2:
        # At boot: recovery of the last run, connecting, registering, the
        # stored messages going out.
        time.sleep(rng.uniform(0, 0.25))
        return "boot-" + mode
    if mode == "up" and rng.random() < 0.5:
        fw.wait_log(r"registration Accepted", 10)
    # Charging time: mostly short, sometimes long enough for samples and for
    # CALLERROR retries to run out; long sessions on both connectors.
    t = rng.choices((rng.uniform(0.05, 0.5), rng.uniform(0.5, 1.3), rng.uniform(1.5, 3.0)), (60, 26, 14))[0]
    conns = rng.sample((1, 2), 2 if t > 1.5 else rng.choice((1, 2)))
    sessions = {}
    for i, n in enumerate(conns):
        tag, lines = rig.begin(n, blocked=mode == "down" and rng.random() < 0.25)
        if i == len(conns) - 1 and rng.random() < 0.1:
            # In the middle of a command: the card is presented, the kill
            # comes a few ms later, before the simulator's reply.
            rig.sim_send(lines[:3])
            rig.sim_unanswered(lines[3], rng)
            return "mid-card-" + mode
        rig.sim_send(lines)
        sessions[n] = tag
    if rng.random() < 0.1:
        return "after-command-" + mode
    if mode == "error" and rng.random() < 0.15:
        # Until the firmware gives a refused message up (after
        # TransactionMessageAttempts, about 3 s), then the kill.
        try:
            fw.wait_log(r"dropped after \d+ attempts", 6)
        except TimeoutError:
            pass
        time.sleep(rng.uniform(0, 0.3))
        return "after-drop-" + mode
    if mode == "down" and rng.random() < 0.4:
        # The central system comes back during the sessions: what was stored
        # offline goes out now (a Blocked idTag's transaction is stopped).
        time.sleep(rng.uniform(0, t / 2))
        rig.cs_up(set())
        mode = "back"
    r = rng.random()
    if r < 0.17:
        # The instant the next write lands on flash: a message stored or
        # removed after its reply, tx.json rewritten; after a second of
        # charging, mostly a sample (its MeterValues appended, then the
        # reading stored in tx.json).
        if rng.random() < 0.5:
            charge_for(rig, 0.9, sessions)
        files = rng.choice(([rig.flash / "outbox.journal", rig.flash / "tx.json"], [rig.flash / "outbox.journal"], [rig.flash / "tx.json"]))
        hit = kill_on_change(rig, files, 1.6)
        if hit == "outbox.journal" and rng.random() < 0.8:
            rig.fw.proc.wait(5)
            if cut_last_append(rig, rng):
                rig.cuts += 1
                return "on-write-cut-short-%s" % mode
        return "on-write-%s-%s" % (hit or "none", mode)
    if r < 0.31 and mode != "down":
        # The central system goes away while charging and comes back; the
        # kill comes while the firmware reconnects, or just after.
        time.sleep(t / 2)
        errors = set(rig.cs.error_actions) if rig.cs else set()
        rig.cs_down()
        time.sleep(rng.uniform(0.1, 1.0))
        rig.cs_up(errors)
        time.sleep(rng.uniform(0, 0.6))
        return "reconnect-" + mode
    charge_for(rig, t, sessions)
    if r < 0.5:
        return "charging-" + mode
    # Stop each session: the EV unplugged, the same card again, or a
    # RemoteStopTransaction from the central system.
    for n, tag in sessions.items():
        how = rng.choice(("unplug", "card", "remote"))
        if how == "remote" and rig.cs is not None:
            tid = rig.state()[str(n)]["transactionId"]
            if tid is not None and CP in rig.cs.charge_points:
                try:
                    rig.cs.call(CP, call.RemoteStopTransaction(transaction_id=tid), timeout=5)
                    continue
                except Exception:
                    pass
            how = "unplug"
        if how == "card":
            rig.sim_send(["card %d %s" % (n, tag)])
        else:
            if rng.random() < 0.15:
                rig.sim_unanswered("unplug %d" % n, rng)
                return "mid-unplug-" + mode
            rig.sim_send(["unplug %d" % n])
    if mode == "error" and rng.random() < 0.5:
        rig.cs_up(set())  # the central system answers again, for a while
    time.sleep(rng.choice((0, rng.uniform(0, 0.1), rng.uniform(0.1, 0.5))))
    return "after-stop-" + mode


def drain(rig, timeout=60):
    """The central system up and answering; the last run delivers everything."""
    rig.cs_up(set())
    rig.boot()
    deadline = time.monotonic() + timeout
    while True:
        left = read_journal(rig.flash / "outbox.journal")
        txs = read_tx(rig.flash / "tx.json")
        if not left and not txs:
            break
        assert time.monotonic() < deadline, "not drained: %d stored messages, %d transactions\n%s" % (len(left), len(txs), rig.fw.log[-3000:])
        time.sleep(0.1)
    rig.fw.stop()
    rig.runs.append([line for _, line in rig.fw.lines])


def shut_down(rig, ledger):
    """Kill what still runs, then feed the ledger every central system's frames and every run's log."""
    if rig.fw is not None:
        rig.fw.kill()
    rig.cs_down()
    for cs in rig.css:
        ledger.feed_all(cs.frames)
    for lines in rig.runs:
        ledger.firmware_log(lines)


# The >= 100 kills run as two halves on two seeds, side by side on two test
# workers (one run of 102 kills was the suite's longest test by far).
HALVES = 2


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("half", range(HALVES))
def test_billing_ledger_under_kills(tmp_path, half):
    """Issue 12 item 6: transactions, MeterValues and power loss under >= 100 SIGKILLs (two halves), checked by a
    central-system ledger."""
    t0 = time.monotonic()
    seed, kills_wanted = SEED + 1000 * half, KILLS // HALVES
    rng = random.Random(seed)
    rig = Rig(tmp_path / "fw", rng)
    ledger = Ledger(sample_interval=INTERVAL, gap_tolerance=float(os.environ.get("BILLING_GAP_TOLERANCE", "3")))
    try:
        # kill() must end the interpreter itself: .venv/bin/micropython is a
        # CPython script, but it runs the port in-process (a C extension), so
        # there is no child process left behind by SIGKILL.
        rig.boot()
        kids = set()
        for task in os.listdir("/proc/%d/task" % rig.fw.proc.pid):
            kids |= set(open("/proc/%d/task/%s/children" % (rig.fw.proc.pid, task)).read().split())
        assert not kids, "the micropython wrapper has child processes %s: kill() would miss them" % kids
        ledger.persisted(*rig.kill("first-boot"), kill=0)
        kills = 1
        while kills < kills_wanted:
            te = time.monotonic()
            why = episode(rig)
            if VERBOSE:
                print("kill %3d %-36s %.2f s" % (kills, why, time.monotonic() - te))
            if rig.fw is not None:
                records, tx = rig.kill(why)
                ledger.persisted(records, tx, kill="%d (%s)" % (kills, why))
            kills += 1
        drain(rig)
    finally:
        shut_down(rig, ledger)
    if os.environ.get("BILLING_DUMP"):
        _dump(os.environ["BILLING_DUMP"], rig)
    res = run_micropython(CHECK_FLASH % {"j": str(rig.flash / "outbox.journal"), "t": str(rig.flash / "tx.json")})
    violations = ledger.check()
    fig = ledger.figures()
    elapsed = time.monotonic() - t0
    print("\nbilling kill test: seed %d, %d kills in %.1f s" % (seed, sum(rig.kills.values()), elapsed))
    print("  kills by moment: %s" % ", ".join("%s %d" % kv for kv in sorted(rig.kills.items())))
    for key in (
        "started",
        "start_calls",
        "never_started",
        "restarted_with_new_id",
        "states",
        "stop_reasons",
        "meter_values",
        "duplicates",
        "callerrors",
        "callerror_retries",
        "dropped_after_attempts",
        "dropped_unsendable",
        "stored_checked",
        "tx_snapshots",
        "snapshot_cases",
        "remote_calls",
    ):
        print("  %s: %s" % (key, fig[key]))
    for action, f in sorted(fig["per_action"].items()):
        print("  %-18s %s" % (action, f))
    print("  TriggerMessage(MeterValues) accepted during transactions: %d" % rig.triggers)
    print("  journal appends cut short after a kill (power cut mid-write): %d; torn tails left by a SIGKILL itself: %d" % (rig.cuts, rig.torn - rig.cuts))
    print("  longest gap between samples of a transaction: %d s" % ledger.max_gap())
    print("  flash after the last run: %s" % res.stdout.strip())
    for line in violations:
        print("  VIOLATION " + line)
    assert not violations, "%d violation(s):\n%s" % (len(violations), "\n".join(violations[:40]))
    assert res.stdout.split() == ["journal", "0", "tx", "0"], res.stdout + res.stderr
    assert sum(rig.kills.values()) >= kills_wanted
    if KILLS >= 100:
        # Each half exercised what it claims to (the seed and the load decide
        # the exact figures).
        assert fig["started"] >= 15, fig
        assert fig["stop_reasons"].get("PowerLoss", 0) >= 5, fig
        assert fig["callerrors"] >= 2, fig
        assert fig["meter_values"] >= 7, fig
        assert fig["stored_checked"].get("MeterValues", 0) >= 1, fig
        # The flash-snapshot rules judged transactions running at a kill (they
        # had gone dead once, reading an old tx.json format).
        assert fig["snapshot_cases"].get("PowerLoss", 0) >= 5, fig


def _dump(where, rig):
    # BILLING_DUMP=dir: every run's log and every frame, for a post-mortem.
    os.makedirs(where, exist_ok=True)
    with open(os.path.join(where, "runs.log"), "w") as f:
        for i, lines in enumerate(rig.runs):
            f.write("===== run %d\n" % i)
            f.write("\n".join(lines) + "\n")
    with open(os.path.join(where, "frames.log"), "w") as f:
        for n, cs in enumerate(rig.css):
            for fr in cs.frames:
                f.write("%d %.3f %s %s\n" % (n, fr.t, fr.direction, fr.raw))


def started_before_the_clock_was_set(tmp_path, monkeypatch, skew_h):
    """The central system's clock skew_h hours off the firmware's; a transaction started offline (so before
    BootNotification.conf set the clock), then the central system up. -> (rig, ledger); the caller stops the rig."""
    import central_system
    from datetime import datetime, timedelta, timezone

    skew = timedelta(hours=skew_h)
    monkeypatch.setattr(central_system, "utc_now", lambda: (datetime.now(timezone.utc) + skew).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    rig = Rig(tmp_path / "fw", random.Random(0))
    rig.cs_down()
    (rig.flash / "keys.json").write_text(json.dumps(dict(KEYS, MeterValueSampleInterval="0")))
    try:
        rig.boot()
        tag, lines = rig.begin(1)
        rig.sim_send(lines)
        rig.fw.wait_log(r"transaction local 1 started by %s" % tag, 10)
        rig.cs_up(set())
    except BaseException:
        if rig.fw is not None:
            rig.fw.kill()
        rig.cs_down()
        raise
    return rig, Ledger()


@pytest.mark.parametrize("skew_h", (24, -24))
def test_a_start_put_right_after_the_clock_was_set_is_what_a_power_loss_stop_follows(tmp_path, monkeypatch, skew_h):
    """A transaction started offline before the clock was set (the central system's clock a day ahead of the
    firmware's, or a day behind) has its StartTransaction's time put right once BootNotification.conf sets the clock;
    the firmware is killed while that transaction runs, with no meter reading stored (MeterValueSampleInterval 0):
    - a day ahead: the instant tx.json takes the corrected time (before the StartTransaction is answered);
    - a day behind: once the StartTransaction.conf is on flash.
    The next boot stops it PowerLoss; the ledger (with tx.json at the kill) finds the start on flash as the central
    system got it, and the stop not before that start."""
    rig, ledger = started_before_the_clock_was_set(tmp_path, monkeypatch, skew_h)
    try:
        if skew_h > 0:
            assert kill_on_change(rig, [rig.flash / "tx.json"], 30) == "tx.json"
            why = "tx.json took the corrected start time"
        else:
            deadline = time.monotonic() + 30
            while read_tx(rig.flash / "tx.json").run.get("1", {}).get("remote") is None:
                assert time.monotonic() < deadline, rig.fw.log[-2000:]
                time.sleep(0.02)
            why = "StartTransaction.conf on flash"
        records, tx = rig.kill(why)
        assert "1" in tx.run and "wt" not in tx.run["1"], tx
        ledger.persisted(records, tx, kill=why)
        drain(rig)
    finally:
        shut_down(rig, ledger)
    fig = ledger.figures()
    assert fig["snapshot_cases"] == {"PowerLoss": 1} and fig["stop_reasons"] == {"PowerLoss": 1}, fig
    assert ledger.check() == []


def test_a_start_put_right_is_sent_again_with_its_corrected_time_after_a_kill_behind_its_answer(tmp_path, monkeypatch):
    """A StartTransaction stamped before the clock was set (the central system's clock a day ahead) is put right and
    sent; the firmware is killed the instant its answer is taken into tx.json, before the message leaves the journal.
    Its transactionId is on flash: the next boot takes it as answered and does not send it again (a central system
    that does not de-duplicate by CALL id would open a second transaction); the PowerLoss stop carries that id.
    (Before: sent again under the same CALL id, with the corrected time.)"""
    rig, ledger = started_before_the_clock_was_set(tmp_path, monkeypatch, 24)
    try:
        deadline = time.monotonic() + 30
        while "s1" not in read_tx(rig.flash / "tx.json").fix:  # put right, about to be sent
            assert time.monotonic() < deadline, rig.fw.log[-2000:]
        # Killed the moment tx.json holds its answer (the transactionId):
        # watched by content, not by a change of the file, so that neither a
        # busy machine (the answer already in before a watch starts) nor the
        # fix's own write (a change before the message was sent) misleads it.
        while read_tx(rig.flash / "tx.json").run.get("1", {}).get("remote") is None:
            assert time.monotonic() < deadline, rig.fw.log[-2000:]
        os.kill(rig.fw.proc.pid, signal.SIGKILL)
        records, tx = rig.kill("StartTransaction.conf on flash")
        ledger.persisted(records, tx, kill="StartTransaction.conf on flash")
        drain(rig)
    finally:
        shut_down(rig, ledger)
    starts = [f.msg for cs in rig.css for f in cs.frames if f.direction == "in" and f.msg[0] == 2 and f.msg[2] == "StartTransaction"]
    if [a for _s, _u, a, _p, _t in records] == ["StartTransaction"]:
        # The kill came between the two writes (mostly): the message does not go again.
        assert len(starts) == 1, starts
    assert ledger.check() == []
