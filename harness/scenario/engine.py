"""The scenario engine: a plan drawn from a seed, executed against the real
firmware, with its invariants checked while it runs.

The plan (make_plan) is a list of timed events drawn from one
random.Random(seed) and a model of what the EVSE should be doing (which
connector has an EV plugged in, is charging, is faulted; a kill leaves all
unplugged, as the simulator restarts empty): the same seed always gives the
same plan, and a longer run of a seed starts with the plan of a shorter one.
The reply fault of the k-th CALL of each action is drawn from its own
random.Random("seed:action:k"), so it does not depend on when the replies
come. What the real processes do with the plan (timing, which CALL is
in flight when a link drops) may differ from run to run.

Invariants, checked while the scenario runs (each violation is reported at
once with the seed, the time and the last events):

- relay: after a fault, an unplug, the card that started the transaction or
  an accepted RemoteStopTransaction, the connector's relay (simulator
  `state`) is open within RELAY_S;
- settle: every simulator command is acted on (the simulator's reply) within
  its 10 s settle time;
- answer: while the link is up, every CALL of the central system (a probe
  every second, and the scenario's own) is answered within 2 s (proxy.py);
  a malformed one with a CALLERROR, a valid one with a CALLRESULT;
- heartbeat: while the link is up and the charge point registered, a CALL
  of its own (a Heartbeat when nothing else) at least every call_gap_s;
- ledger: the billing ledger (harness/ledger.py) over the central
  system's frames: no transactionId named that was not given out, no CALL id
  with two messages, no StartTransaction sent twice under a new id, meter
  values never below meterStart nor above meterStop, one StopTransaction per
  transaction; at the end (after a drain with every fault off) every
  transaction stopped, and what was on flash at each kill delivered;
- task: no Traceback (an exception that left a task) in the firmware's log,
  also through heap faults: windows in which every module of STARVED (what
  the charger loads on use) fails to load with MemoryError;
- exit: the firmware never exits by itself; boot: it comes up after a kill;
- heap: the live heap it reports (log.heapInterval) stays under HEAP_BOUND;
- spin: no line of the firmware's log comes SPIN_LINES times within one
  second of its clock (a loop whose next deadline stays "now", a retry
  that never waits, says the same thing over and over: SpinWatch).

The "energy" profile adds the house around the charger (a grid meter, an
energy manager over MQTT, solar, the EVs following the pilot) and the
invariants of energy management: harness/scenario/energy.py.
"""

import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.firmware import FAST, REPO, Firmware, merge
from harness.ledger import Ledger, read_journal, read_tx, scan_journal
from harness.scenario import energy as energy_world
from harness.scenario.proxy import ANSWER_S, Proxy

sys.path.insert(0, str(REPO / "tools"))

import evse as evse_client  # noqa: E402
from central_system import CentralSystemThread  # noqa: E402

MESSAGE_TIMEOUT = 2  # s; slow replies go up to twice this
HEARTBEAT_S = 4  # the BootNotification.conf interval
RELAY_S = 1.0
# The charge point's CALLs on a live registered link: at most this far apart
# (a Heartbeat is due HEARTBEAT_S after the last CALL; one in flight may wait
# out MessageTimeout, and a retry TransactionMessageRetryInterval).
CALL_GAP_S = HEARTBEAT_S + 2 * MESSAGE_TIMEOUT + 3
BUDGET = json.loads((REPO / "bench" / "heap_budget.json").read_text())["live_heap_after_boot"]
# The idle budget plus what the scenario adds: two connectors with the
# simulator, the heap report, two charging sessions, the durable backlog, a
# 5,000-character malformed reply (short runs peak 42-55 KB above the budget
# on the 64-bit unix port; a leak over a long soak crosses it).
HEAP_BOUND = BUDGET + 80 * 1024
# The energy profile runs energy management on (the manager, the grid meter,
# solar, phase switching: +49.9 KB idle, docs/energy.md) and the MQTT mirror.
ENERGY_HEAP = 80 * 1024
FLASH_BYTES = 2 * 1024 * 1024  # the tmpfs flash for storage faults
KEYS = {
    "MeterValueSampleInterval": "2",
    "TransactionMessageAttempts": "3",
    "TransactionMessageRetryInterval": "1",
    "ConnectionTimeOut": "15",
    "AllowOfflineTxForUnknownId": "true",
}
FAULT_CODES = (
    "GroundFailure",
    "OverCurrentFailure",
    "HighTemperature",
    "OverVoltage",
    "UnderVoltage",
    "PowerSwitchFailure",
    "EVCommunicationError",
    "OtherError",
)
CALLERROR_CODES = ("InternalError", "NotImplemented", "GenericError", "FormationViolation", "ProtocolError", "SecurityError")

# Fault mixes. "test" (make test): EVSE events, reply faults (slow Authorize
# freezing the other connector, malformed StartTransaction.conf killing the
# outbox are in its classes), central-system CALLs, link faults and kills
# (one about every 15 s); no storage faults. "soak": everything, storage
# faults included, a kill about every 45 s (long enough runs for the heap).
PROFILES = {
    "test": {
        "gap": 0.45,
        "mix": {"evse": 50, "freeze": 10, "cs": 22, "link": 6, "kill": 3, "storage": 0, "heap": 3},
        "replies": {"pass": 62, "delay": 14, "drop": 6, "callerror": 6, "malformed": 12},
    },
    "soak": {
        "gap": 0.5,
        "mix": {"evse": 48, "freeze": 8, "cs": 22, "link": 7, "kill": 1, "storage": 4, "heap": 3},
        "replies": {"pass": 66, "delay": 12, "drop": 6, "callerror": 6, "malformed": 10},
    },
    # "energy": the test mix with the house around the charger (energy.py):
    # house load steps, the energy manager's commands and silences, modes,
    # solar, a lost grid meter; a kill about every 20 s.
    "energy": {
        "gap": 0.4,
        "mix": {"evse": 40, "freeze": 5, "cs": 14, "link": 4, "kill": 2, "storage": 0, "energy": 32},
        "replies": {"pass": 70, "delay": 12, "drop": 6, "callerror": 4, "malformed": 8},
    },
}

# The modules a heap fault makes fail to load (harness/failing_imports.py):
# what the charger loads on use while it runs (card handling and
# authorization, a held stop's retry, the journal for a transaction's
# messages, the declarations its replies are checked against, the central
# system's operations and the key table). During a heap fault (and for a
# moment after it) a valid CALL may get a CALLERROR InternalError instead
# of its CALLRESULT; it must still be answered in time.
STARVED = (
    "uocpp.services.cards", "uocpp.services.authorize", "uocpp.model.auth_cache", "uocpp.services.held_stops",
    "uocpp.store.journal", "uocpp.store.record",
    "uocpp.confs.authorize", "uocpp.confs.start_transaction", "uocpp.confs.stop_transaction", "uocpp.confs.heartbeat",
    "uocpp.ops.remote_start_transaction", "uocpp.ops.remote_stop_transaction", "uocpp.ops.change_configuration",
    "uocpp.ops.trigger_message", "uocpp.ops.get_configuration", "uocpp.ops.change_availability", "uocpp.model.keytable",
)  # fmt: skip

# The central system's malformed CALLs: (action, payload or raw text with
# %s for the uid). Each must get a CALLERROR.
BAD_CALLS = [
    ("RemoteStartTransaction", {"idTag": 5}),
    ("RemoteStartTransaction", {"connectorId": 1, "idTag": "x" * 21}),
    ("RemoteStopTransaction", {"transactionId": "abc"}),
    ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": 5}),
    ("ChangeConfiguration", {"key": "MeterValueSampleInterval"}),
    ("TriggerMessage", {"requestedMessage": "Bogus"}),
    ("GetConfiguration", {"key": "HeartbeatInterval"}),
    ("ChangeAvailability", {"connectorId": 1}),
    ("ChangeAvailability", {"connectorId": "1", "type": "Operative"}),
    ("FlyToTheMoon", {}),
    ("GetConfiguration", '[2, "%s", "GetConfiguration", []]'),
    ("Heartbeat", '[2, "%s", "Heartbeat"]'),
]


class Event:
    __slots__ = ("t", "kind", "args")

    def __init__(self, t, kind, *args):
        self.t, self.kind, self.args = t, kind, args

    def __repr__(self):
        return "%.2f %s %s" % (self.t, self.kind, " ".join(map(str, self.args)))


def make_plan(seed, seconds, profile="test"):
    """The events of a run: [Event], in time order."""
    prof = PROFILES[profile]
    rng = random.Random(seed)
    plugged, charging, faulted = [False] * 3, [False] * 3, [False] * 3
    busy = [0.0] * 3  # a watched relay: no new EVSE event on it before this
    sessions = [0]
    out = []
    t = 0.5

    def tag():
        sessions[0] += 1
        return "S%d-%d" % (seed % 100000, sessions[0])

    def plug(at, n):
        sessions[0] += 1
        out.append(Event(at, "plug", n, 100000 * sessions[0], rng.choice((3600, 7200, 11000, 22000))))
        plugged[n] = True

    kinds, weights = zip(*prof["mix"].items())
    while t < seconds:
        t += rng.expovariate(1 / prof["gap"])
        what = rng.choices(kinds, weights)[0]
        n = rng.choice((1, 2))
        if what in ("evse", "freeze") and busy[n] > t:
            n = 3 - n
            if busy[n] > t:
                continue
        if what == "evse":
            if not plugged[n]:
                if rng.random() < 0.75:
                    plug(t, n)
                    out.append(Event(t + 0.2, "card", n, tag()))
                    if rng.random() < 0.8:
                        out.append(Event(t + 0.4, "charge", n))
                        charging[n] = True
                    busy[n] = t + 0.5
                else:
                    out.append(Event(t, "card", n, tag()))
                continue
            r = rng.random()
            if r < 0.16:
                out.append(Event(t, "unplug", n))
                plugged[n] = charging[n] = False
                busy[n] = t + 1.3
            elif r < 0.30 and not faulted[n]:
                out.append(Event(t, "fault", n, rng.choice(FAULT_CODES)))
                faulted[n] = True
                busy[n] = t + 1.3
            elif r < 0.42 and faulted[n]:
                out.append(Event(t, "clear", n))
                faulted[n] = False
            elif r < 0.55:
                out.append(Event(t, "suspend" if charging[n] else "charge", n))
                charging[n] = not charging[n]
            elif r < 0.70:
                # A card: now and then the one that started the connector's
                # transaction (a stop, watched like an unplug), else a new one.
                new = tag()
                if r < 0.60:
                    out.append(Event(t, "card_stop", n))
                else:
                    out.append(Event(t, "card", n, new))
            elif r < 0.80:
                out.append(Event(t, "power", n, rng.choice((0, 1500, 7400, 22000))))
            elif r < 0.90:
                out.append(Event(t, "meter_jump", n, rng.choice((1, 50, 1000, 25000))))
            else:
                out.append(Event(t, "lock", n, rng.choice(("ok", "ok", "fail"))))
        elif what == "freeze":
            # A card at one connector (its Authorize maybe slow) while the
            # other charges, then a fault, an unplug or a suspend there.
            m = 3 - n
            if not (plugged[n] and charging[n]) or faulted[n]:
                if not plugged[n]:
                    plug(t, n)
                if faulted[n]:
                    out.append(Event(t, "clear", n))
                    faulted[n] = False
                out.append(Event(t + 0.2, "card", n, tag()))
                out.append(Event(t + 0.4, "charge", n))
                charging[n] = True
                t += 1.5
            out.append(Event(t, "card", m, tag()))
            t += rng.uniform(0.05, 1.5)
            r = rng.random()
            if r < 0.5:
                out.append(Event(t, "fault", n, rng.choice(FAULT_CODES)))
                faulted[n] = True
            elif r < 0.8:
                out.append(Event(t, "unplug", n))
                plugged[n] = charging[n] = False
            else:
                out.append(Event(t, "suspend", n))
                charging[n] = False
            busy[n] = t + 1.3
        elif what == "cs":
            r = rng.random()
            if r < 0.15:
                out.append(Event(t, "remote_start", n, tag()))
            elif r < 0.30:
                out.append(Event(t, "remote_stop", n))
            elif r < 0.40:
                out.append(Event(t, "sample_interval", rng.choice((0, 1, 2, 5, 10))))
            elif r < 0.55:
                out.append(Event(t, "trigger", rng.choice(("Heartbeat", "StatusNotification", "MeterValues", "BootNotification")), n))
            elif r < 0.63:
                out.append(Event(t, "get_configuration"))
            elif r < 0.72:
                c = rng.choice((0, n, n))
                out.append(Event(t, "availability", c, "Inoperative"))
                out.append(Event(t + rng.uniform(1, 6), "availability", c, "Operative"))
            else:
                out.append(Event(t, "bad_call", rng.randrange(len(BAD_CALLS))))
        elif what == "link":
            r = rng.random()
            if r < 0.4:
                out.append(Event(t, "link_close"))
            elif r < 0.75:
                out.append(Event(t, "half_open", round(rng.uniform(3, 14), 1)))
            else:
                out.append(Event(t, "refuse", rng.choice((1, 1, 2, 3))))
        elif what == "kill":
            gap = round(rng.uniform(0.1, 2.0), 2)
            out.append(Event(t, "kill", gap))
            plugged[1:] = [False, False]
            charging[1:] = [False, False]
            faulted[1:] = [False, False]
            t += gap + 1.5
        elif what == "storage":
            out.append(Event(t, "storage", rng.choice(("full", "full", "readonly"))))
            out.append(Event(t + rng.uniform(2, 15), "storage", "ok"))
        elif what == "heap":
            out.append(Event(t, "heap", "starved"))
            out.append(Event(t + rng.uniform(1, 8), "heap", "ok"))
        elif what == "energy":
            t = energy_world.plan_event(rng, t, n, out, Event)
    out.sort(key=lambda e: e.t)
    return [e for e in out if e.t < seconds]


class Violation:
    def __init__(self, seed, kind, t, text, last):
        self.seed, self.kind, self.t, self.text, self.last = seed, kind, t, text, last

    def __str__(self):
        return "VIOLATION seed %d t=%.1fs [%s] %s\n  last events:\n    %s" % (self.seed, self.t, self.kind, self.text, "\n    ".join(self.last))


class Scenario:
    def __init__(self, seed, seconds, workdir, profile="test", out=None, sim_port=None, replay=None, plan=None, energy_config=None):
        # plan: [Event] instead of the seed's; energy_config: what the
        # firmware's energy section says over the world's installation (a
        # test that breaks the firmware's limits on purpose).
        self.seed = seed
        self.seconds = seconds
        self.profile = profile
        self.prof = PROFILES[profile]
        self.workdir = Path(workdir)
        self.out = out or (lambda line: print(line, flush=True))
        self.replay = replay or "python -m harness.soak --seed %d --seconds %d --profile %s" % (seed, seconds, profile)
        self.plan = plan if plan is not None else make_plan(seed, seconds, profile)
        self.energy = energy_world.EnergyWorld(self, energy_config) if "energy" in self.prof["mix"] else None
        self.heap_bound = HEAP_BOUND + (ENERGY_HEAP if self.energy else 0)
        self.violations = []
        self.counts = collections.Counter()
        self.recent = collections.deque(maxlen=12)
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.registered_t = None
        self.heartbeat_s = HEARTBEAT_S
        self.call_gap_s = CALL_GAP_S
        self.draining = False
        self.fw = None
        self.runs = []  # every Firmware, in order
        self.run_no = 0
        self.epoch = 0  # bumped at each kill: queued EVSE commands of the last run are dropped
        self.killing = False
        self.restart_needed = False
        self.proc_lock = threading.RLock()  # one firmware process at a time
        self.kills = 0
        self.events = 0
        self.heap_peak = 0
        self.relay_worst = 0.0
        self.snapshots = []  # (kill, journal records, tx.json) at each kill
        self._reply_k = collections.Counter()
        self._ledger_seen = set()
        self._shown = {}
        self._stop = threading.Event()
        self.sim_port = sim_port or _free_port()
        self.flash = self.workdir / "flash"
        self.mounted = False
        self.storage_note = None
        self.starved = False  # a heap fault is on (STARVED)
        self.starved_t = float("-inf")  # when the last one began or ended
        self.filler = None
        self.readonly = False
        self.readonly_pending = False
        self.per_conn = [ThreadPoolExecutor(1) for _ in range(3)]  # EVSE commands, in order per connector
        self.cs_pool = ThreadPoolExecutor(1)  # the central system's CALLs, in order
        self.watch_pool = ThreadPoolExecutor(6)  # relay watchers

    # -- reporting (any thread) -----------------------------------------------------
    def now(self):
        return time.monotonic() - self.t0

    def note(self, text):
        with self.lock:
            self.recent.append("%.2f %s" % (self.now(), text))

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] += n

    def violation(self, kind, text):
        with self.lock:
            v = Violation(self.seed, kind, self.now(), text, list(self.recent)[-8:])
            self.violations.append(v)
            # A defect that repeats (a dead task: every command unsettled) is
            # printed three times, and counted every time.
            key = (kind, re.sub(r"\d+", "#", text)[:70])
            shown = self._shown[key] = self._shown.get(key, 0) + 1
        if shown <= 3:
            self.out(str(v) + "\n  replay: " + self.replay)
        elif shown == 4:
            self.out("VIOLATION seed %d t=%.1fs [%s] again (%s...): further ones like it are counted, not shown" % (self.seed, v.t, kind, key[1][:50]))

    # -- reply faults (the proxy asks, once per CALL of the charge point) ------------
    def reply_fault(self, action):
        with self.lock:
            k = self._reply_k[action]
            self._reply_k[action] += 1
        if self.draining:
            return ("pass",)
        rng = random.Random("%d:%s:%d" % (self.seed, action, k))
        kinds, weights = zip(*self.prof["replies"].items())
        kind = rng.choices(kinds, weights)[0]
        if kind == "delay":
            return ("delay", round(rng.uniform(0.2, 2 * MESSAGE_TIMEOUT), 2))
        if kind == "callerror":
            return ("callerror", rng.choice(CALLERROR_CODES))
        if kind == "malformed":
            return ("malformed", rng)
        return (kind,)

    # -- processes ------------------------------------------------------------------------
    def _config(self):
        cfg = merge(
            FAST,
            {
                "centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % self.proxy.port},
                "ocpp": {"messageTimeout": MESSAGE_TIMEOUT, "webSocketPingInterval": 5},
                "simulator": {"port": self.sim_port},
                "connectors": {"count": 2},
                "log": {"level": "info", "heapInterval": 1},
            },
        )
        return merge(cfg, self.energy.config()) if self.energy else cfg

    def boot(self):
        with self.proc_lock:
            self.run_no += 1
            fw = Firmware(self.workdir, self._config())
            # Heap faults: a window in which every load on use below finds
            # no heap (MemoryError), off at each boot (a board's boot finds
            # the heap whole).
            fw.fail_imports(*STARVED)
            fw.fail_now(False)
            self.starved = False
            fw.scanned = 0  # log lines the checker has read
            fw.spin = SpinWatch()  # the spin invariant, per run: its clock starts at each boot
            self.fw = fw.start()
            self.runs.append(fw)
            if self.energy:
                self.energy.booted(fw)
            self.killing = False  # from here on an exit is the firmware's own
            deadline = time.monotonic() + 20
            while "evse: simulator listening" not in fw.log:
                if fw.proc.poll() is not None:
                    return  # the checker reports the exit; the plan loop restarts it
                if time.monotonic() > deadline:
                    self.violation("boot", "the firmware did not come up within 20 s (run %d): %s" % (self.run_no, " | ".join(x for _, x in fw.lines[-5:])))
                    return
                time.sleep(0.05)

    def restart_if_needed(self):
        # A firmware that exited by itself (reported by the checker) starts
        # again, as a board's watchdog or reset would start it.
        if self.restart_needed:
            self.restart_needed = False
            time.sleep(1)
            self.boot()

    def kill(self, gap):
        with self.proc_lock:
            self._kill(gap)

    def _kill(self, gap):
        self.killing = True
        self.registered_t = None
        fw = self.fw
        fw.proc.kill()
        fw.proc.wait(5)
        fw._pump_thread.join(5)
        self.kills += 1
        self.note("kill %d (SIGKILL), restart in %.2f s" % (self.kills, gap))
        records, _torn = scan_journal(self.flash / "outbox.journal")
        self.snapshots.append((self.kills, records, read_tx(self.flash / "tx.json")))
        if self.readonly_pending and self.mounted:
            self.readonly_pending = False
            r = subprocess.run(["mount", "-o", "remount,ro", str(self.flash)], capture_output=True, text=True)
            if r.returncode == 0:
                self.readonly = True
                self.note("storage: flash read-only from this boot on")
                self.count("storage read-only at boot")
        time.sleep(gap)
        self.boot()

    # -- storage faults (a tmpfs flash, as root) -----------------------------------------
    def _mount(self):
        self.flash.mkdir(parents=True, exist_ok=True)
        if not self.prof["mix"].get("storage"):
            return
        if os.geteuid() != 0:
            self.storage_note = "storage faults skipped: not root (a tmpfs flash needs mount)"
            return
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % FLASH_BYTES, "tmpfs", str(self.flash)], capture_output=True, text=True)
        if r.returncode:
            self.storage_note = "storage faults skipped: mount -t tmpfs failed: %s" % r.stderr.strip()
            return
        self.mounted = True

    def _umount(self):
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,rw", str(self.flash)], capture_output=True)
            saved = self.workdir / "flash.saved"
            shutil.rmtree(saved, ignore_errors=True)
            shutil.copytree(self.flash, saved)  # kept for a post-mortem
            r = subprocess.run(["umount", str(self.flash)], capture_output=True, text=True)
            if r.returncode:
                subprocess.run(["umount", "-l", str(self.flash)], capture_output=True)
            self.mounted = False

    def storage(self, what):
        if not self.mounted:
            if what != "ok":
                self.count("storage faults skipped")
            return
        if what == "full":
            self.filler = self.flash / "filler.bin"
            try:
                with open(self.filler, "ab") as f:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
            except OSError:
                pass
            try:
                with open(self.filler, "ab") as f:  # the last few bytes too
                    while True:
                        f.write(b"\0" * 512)
                        f.flush()
            except OSError:
                pass
            self.note("storage: flash full")
            self.count("storage full")
        elif what == "readonly":
            r = subprocess.run(["mount", "-o", "remount,ro", str(self.flash)], capture_output=True, text=True)
            if r.returncode:
                # The kernel refuses while the firmware holds a file open for
                # writing (its log ring): the flash turns read-only at the
                # next power cut instead, and the firmware boots on it.
                self.readonly_pending = True
                self.note("storage: read-only refused while files are open: at the next kill")
                self.count("storage read-only deferred to the next kill")
            else:
                self.readonly = True
                self.note("storage: flash read-only")
                self.count("storage read-only")
        else:
            self.readonly_pending = False
            if self.readonly:
                subprocess.run(["mount", "-o", "remount,rw", str(self.flash)], capture_output=True)
                self.readonly = False
            if self.filler is not None:
                try:
                    self.filler.unlink()
                except FileNotFoundError:
                    pass
                self.filler = None
            self.note("storage: flash healthy again")

    # -- the simulator -----------------------------------------------------------------------
    def sim(self, line, timeout=12):
        """One simulator command: -> its reply, or None when the firmware is not there."""
        if self.killing:
            return None
        run = self.run_no
        t = time.monotonic()
        try:
            reply = evse_client.send([line], port=self.sim_port, timeout=timeout)[0]
        except OSError as e:
            if run == self.run_no and not self.killing and "timed out" in str(e):
                self.violation("settle", "simulator command %r not answered within %d s" % (line, timeout))
            return None
        took = time.monotonic() - t
        if reply.startswith("error the firmware did not settle"):
            self.violation("settle", "%r: %s" % (line, reply))
        elif took > 2 and line != "state":
            self.note("evse: %r took %.1f s to settle" % (line, took))
        return reply

    def sim_lines(self, lines, timeout=12):
        """Several simulator commands on one connection: -> their replies, or None."""
        if self.killing:
            return None
        try:
            return evse_client.send(lines, port=self.sim_port, timeout=timeout)
        except OSError:
            return None

    def state(self):
        reply = self.sim("state", timeout=5)
        if not reply or not reply.startswith("ok "):
            return None
        return json.loads(reply[3:])

    def heap_fault_near(self):
        # A heap fault is on, or began or ended within two answer times: what
        # the charger loads on use may have found no heap.
        return self.starved or time.monotonic() - self.starved_t < 2 * ANSWER_S

    def watch_relay(self, n, t0, why, run, card=False):
        # The relay of connector n must be open within RELAY_S of t0. A card
        # that stops a transaction is the exception during a heap fault: card
        # handling is loaded on use, and a card it finds no heap for is not
        # read (a tap again is read again), where a fault or an unplug is
        # acted on from the EVSE alone.
        reported = False
        while True:
            st = self.state()
            now = time.monotonic()
            if st is None or run != self.run_no:
                return  # killed meanwhile: nothing to judge
            if not st[str(n)]["relay"]:
                took = now - t0
                with self.lock:
                    self.relay_worst = max(self.relay_worst, took)
                if reported:
                    self.note("connector %d: relay opened %.2f s after %s" % (n, took, why))
                self.count("relay checks")
                return
            if now - t0 > RELAY_S and not reported:
                reported = True
                if card and self.heap_fault_near():
                    self.count("card stops during a heap fault (the card may not be read)")
                    self.note("connector %d: relay still closed %.2f s after %s, during a heap fault" % (n, now - t0, why))
                    return
                self.violation("relay", "connector %d: relay still closed %.2f s after %s (status %s)" % (n, now - t0, why, st[str(n)]["status"]))
            if now - t0 > 15:
                return
            time.sleep(0.05)

    def running_tag(self, n):
        # (transactionId, idTag) of the transaction running on connector n,
        # the idTag from the StartTransaction the central system answered
        # with that transactionId; None when there is none (or not known yet).
        st = self.state()
        tid = st and st[str(n)]["transactionId"]
        if tid is None:
            return None
        with self.cs.cs._cond:
            frames = list(self.cs.cs.frames)
        starts = {f.msg[1]: f.msg[3] for f in frames if f.direction == "in" and f.action == "StartTransaction"}
        for f in reversed(frames):
            if f.direction == "out" and f.kind == 3 and f.msg[1] in starts and isinstance(f.msg[2], dict) and f.msg[2].get("transactionId") == tid:
                return tid, starts[f.msg[1]]["idTag"]
        return None

    def _evse(self, e, epoch, planned):
        # Queued behind commands the firmware was slow to settle: a kill
        # since, or too late to mean what the plan meant, is skipped.
        if epoch != self.epoch or time.monotonic() - planned > 5:
            self.count("evse commands skipped (a kill, or the firmware behind)")
            return
        n = e.args[0]
        if e.kind == "plug":
            _n, base, watts = e.args
            lines = ["meter %d %d" % (n, base), "power %d %d" % (n, watts), "plug %d" % n]
            if self.energy:  # the EV wants that; the world sets what it draws
                self.energy.plugged(n, watts)
                del lines[1]
        elif e.kind == "card":
            lines = ["card %d %s" % (n, e.args[1])]
        elif e.kind == "fault":
            lines = ["fault %d %s" % (n, e.args[1])]
        elif e.kind == "power":
            if self.energy:
                self.energy.plugged(n, e.args[1])
                return
            lines = ["power %d %d" % (n, e.args[1])]
        elif e.kind == "lock":
            lines = ["lock %d %s" % (n, e.args[1])]
        elif e.kind == "card_stop":
            found = self.running_tag(n)
            if found is None:
                self.count("card stops without a transaction")
                return
            tid, tag = found
            self.watch_pool.submit(self.watch_relay, n, time.monotonic(), "card %s (stop of transaction %s)" % (tag, tid), self.run_no, True)
            self.sim("card %d %s" % (n, tag))
            self.count("card stops")
            return
        elif e.kind == "meter_jump":
            st = self.state()
            if st is None:
                return
            lines = ["meter %d %d" % (n, st[str(n)]["energyWh"] + e.args[1])]
        else:
            lines = ["%s %d" % (e.kind, n)]
        for line in lines:
            if e.kind in ("fault", "unplug"):
                self.watch_pool.submit(self.watch_relay, n, time.monotonic(), line, self.run_no)
            reply = self.sim(line)
            if reply is not None and not reply.startswith("ok"):
                self.count("evse commands refused")

    # -- the central system's CALLs -------------------------------------------------------------
    def cs_call(self, action, payload, raw=None, want=3):
        reply = self.proxy.call(action, payload, raw=raw)
        if reply is None or reply == "timeout":
            self.count("cs calls without a link" if reply is None else "cs calls unanswered")
            return None
        self.count("cs calls answered")
        if reply[0] == 4 and want == 3 and (self.filler is not None or self.readonly):
            # A request that must be stored (ChangeAvailability, ...) may be
            # refused while the flash is full or read-only.
            self.count("cs calls refused during a storage fault")
            self.note("%s refused during a storage fault: %s" % (action, _short(reply)))
        elif reply[0] == 4 and want == 3 and reply[2] == "InternalError" and self.heap_fault_near():
            # No heap for the operation's module: its CALLERROR says so.
            self.count("cs calls refused during a heap fault")
            self.note("%s refused during a heap fault: %s" % (action, _short(reply)))
        elif reply[0] != want:
            self.violation(
                "answer",
                "%s %s answered %s, expected a %s"
                % (action, _short(payload if raw is None else raw("uid")), _short(reply), "CALLRESULT" if want == 3 else "CALLERROR"),
            )
        return reply

    def _cs(self, e):
        k, a = e.kind, e.args
        if k == "remote_start":
            self.cs_call("RemoteStartTransaction", {"connectorId": a[0], "idTag": a[1]})
        elif k == "remote_stop":
            st = self.state()
            tid = st and st[str(a[0])]["transactionId"]
            if tid is None:
                self.count("remote stops without a transaction")
                return
            run = self.run_no
            reply = self.cs_call("RemoteStopTransaction", {"transactionId": tid})
            if reply and reply[0] == 3 and reply[2].get("status") == "Accepted":
                self.watch_pool.submit(self.watch_relay, a[0], time.monotonic(), "RemoteStopTransaction %s" % tid, run)
        elif k == "sample_interval":
            self.cs_call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": str(a[0])})
        elif k == "trigger":
            payload = {"requestedMessage": a[0]}
            if a[0] in ("StatusNotification", "MeterValues"):
                payload["connectorId"] = a[1]
            self.cs_call("TriggerMessage", payload)
        elif k == "get_configuration":
            self.cs_call("GetConfiguration", {})
        elif k == "availability":
            self.cs_call("ChangeAvailability", {"connectorId": a[0], "type": a[1]})
        elif k == "bad_call":
            action, payload = BAD_CALLS[a[0]]
            if isinstance(payload, str):
                self.cs_call(action, None, raw=lambda uid, p=payload: p % uid, want=4)
            else:
                self.cs_call(action, payload, want=4)

    # -- continuous checks ---------------------------------------------------------------------
    def _checker(self):
        last_ledger = time.monotonic()
        tb = []
        heap_over = False
        while not self._stop.wait(0.2):
            fw = self.fw
            if fw is None:
                continue
            lines = fw.lines_after(fw.scanned)
            fw.scanned += len(lines)
            for t, line in lines:
                spun = fw.spin.feed(line)
                if spun is not None:
                    self.violation("spin", "the same line %d times within a second: %s" % (SPIN_LINES, spun[:160]))
                if "registration Accepted" in line:
                    self.registered_t = t
                m = re.search(r"heap alloc=(\d+)", line)
                if m:
                    alloc = int(m.group(1))
                    self.heap_peak = max(self.heap_peak, alloc)
                    if alloc > self.heap_bound and not heap_over:
                        heap_over = True
                        self.violation("heap", "live heap %d B over the bound %d B" % (alloc, self.heap_bound))
                if "test: no heap for" in line:
                    self.count("heap faults met")  # a load on use that found no heap, and said so
                if line.startswith("Traceback"):  # (asyncio's "Task exception wasn't retrieved" comes with one)
                    tb = [line]
                elif re.search(r"task .* died", line):
                    self.violation("task", line.strip())
                elif tb:
                    tb.append(line)
                    if not line.startswith(" "):
                        where = [_frame(x) for x in tb if x.strip().startswith("File")]
                        self.violation("task", "an exception left a task: %s (at %s)" % (line.strip(), " < ".join(reversed(where[-3:])) or "?"))
                        tb = []
            if fw.proc.poll() is not None and not self.killing and fw is self.fw and not getattr(fw, "exit_seen", False):
                fw.exit_seen = True
                self.violation("exit", "the firmware exited by itself with status %s: %s" % (fw.proc.returncode, " | ".join(x for _, x in fw.lines[-4:])))
                self.registered_t = None
                self.restart_needed = True
            if time.monotonic() - last_ledger > 5:
                last_ledger = time.monotonic()
                self.check_ledger(final=False)

    def check_ledger(self, final):
        with self.cs.cs._cond:
            frames = list(self.cs.cs.frames)
        ledger = Ledger()
        ledger.feed_all(frames)
        if final:
            for kill, records, tx in self.snapshots:
                ledger.persisted(records, tx, kill=kill)
        # The logs always: a StartTransaction the firmware gave up (its
        # CALLERRORs used TransactionMessageAttempts) leaves its transaction
        # orphaned at the central system, not open, also while draining.
        for fw in list(self.runs):
            ledger.firmware_log([line for _, line in list(fw.lines)])
        found = [v for v in ledger.check() if not v.startswith("firmware log:")]
        if not final:
            found = [v for v in found if "was never stopped" not in v and "was never answered" not in v]
        # Nothing sent twice under a new id: a StartTransaction is one
        # session's (its idTag is unique in a scenario) whatever its CALL id.
        starts = {}
        for uid in ledger.order:
            call = ledger.calls[uid]
            if call.action == "StartTransaction":
                key = json.dumps(call.payload, sort_keys=True)
                if key in starts and starts[key] != uid:
                    found.append("StartTransaction sent twice under new ids %s and %s: %s" % (starts[key], uid, _short(call.payload)))
                starts.setdefault(key, uid)
        for v in found:
            if v not in self._ledger_seen:
                self._ledger_seen.add(v)
                self.violation("ledger", v)
        return ledger

    # -- the run ---------------------------------------------------------------------------------
    def run(self):
        self.out("scenario: seed %d, %d s, profile %s, %d planned events; replay: %s" % (self.seed, self.seconds, self.profile, len(self.plan), self.replay))
        self.cs = CentralSystemThread(boot_plan=[("Accepted", HEARTBEAT_S)]).start()
        self.proxy = Proxy(self, self.cs.port).start()
        checker = threading.Thread(target=self._checker, daemon=True)
        try:
            self._mount()
            if self.storage_note:
                self.out("scenario: " + self.storage_note)
            (self.flash / "keys.json").write_text(json.dumps(KEYS))
            if self.energy:
                self.energy.start()
            self.t0 = time.monotonic()
            self.boot()
            checker.start()
            for e in self.plan:
                wait = self.t0 + e.t - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.restart_if_needed()
                self.execute(e)
            self.drain()
        finally:
            self._stop.set()
            if checker.is_alive():
                checker.join(5)
            for pool in self.per_conn + [self.cs_pool, self.watch_pool]:
                pool.shutdown(wait=True, cancel_futures=True)
            if self.fw is not None:
                self.fw.stop()
                self.fw.kill()
            self.proxy.stop()
            self.cs.stop()
            if self.energy:
                self.energy.stop()
            self._umount()
        if self.proxy.server.errors:
            self.violation("proxy", "the proxy failed: %r" % self.proxy.server.errors[:3])
        return self

    def execute(self, e):
        self.note("%s %s" % (e.kind, " ".join(map(str, e.args))))
        self.events += 1
        self.count("event " + e.kind)
        if e.kind in ("plug", "unplug", "card", "card_stop", "charge", "suspend", "fault", "clear", "power", "meter_jump", "lock"):
            self.per_conn[e.args[0]].submit(self._evse, e, self.epoch, time.monotonic())
        elif e.kind in ("remote_start", "remote_stop", "sample_interval", "trigger", "get_configuration", "availability", "bad_call"):
            self.cs_pool.submit(self._cs, e)
        elif e.kind == "link_close":
            self.proxy.close()
        elif e.kind == "half_open":
            self.proxy.half_open(e.args[0])
        elif e.kind == "refuse":
            self.proxy.refuse(e.args[0])
            self.proxy.close()
        elif e.kind == "storage":
            self.storage(e.args[0])
        elif e.kind == "heap":
            with self.proc_lock:
                self.starved = e.args[0] == "starved"
                self.starved_t = time.monotonic()
                self.fw.fail_now(self.starved)
        elif e.kind == "kill":
            self.epoch += 1  # commands still queued are not sent to the next run
            self.kill(e.args[0])
        elif energy_world.is_energy(e.kind):
            self.energy.execute(e)

    def drain(self, timeout=60):
        """Every fault off; the EVs leave; everything stored must reach the
        central system and every transaction must be stopped."""
        self.draining = True
        self.note("drain: every fault off")
        self.storage("ok")
        with self.proc_lock:
            self.fw.fail_now(False)
            self.starved = False
            self.starved_t = time.monotonic()
        self.restart_if_needed()
        self.proxy.refuse(0)
        link = self.proxy.link
        if link is not None and link.half_open:
            self.proxy.close()
        self.epoch += 1
        for pool in self.per_conn + [self.cs_pool]:
            pool.submit(lambda: None).result(60)  # what is under way ends (10 s at most per command)
        self.cs_call("ChangeAvailability", {"connectorId": 0, "type": "Operative"})
        for n in (1, 2):
            self.sim("clear %d" % n)
            self.sim("unplug %d" % n)
        deadline = time.monotonic() + timeout
        empty_since = None  # the flash holds nothing more to send since then
        while True:
            self.restart_if_needed()
            left = read_journal(self.flash / "outbox.journal")
            txs = read_tx(self.flash / "tx.json")
            ledger = self.check_ledger(final=False)
            open_tx = [t for t in ledger.transactions() if ledger._stop_state(t)[0] == "open"]
            if not left and not txs and not open_tx:
                break
            now = time.monotonic()
            empty_since = (empty_since or now) if not left and not txs else None
            if now > deadline or (empty_since and now - empty_since > 8):
                self.violation(
                    "drain",
                    "not drained %d s after every fault stopped: %d stored messages (%s), %d transactions on flash, %d open at the central system%s"
                    % (now - deadline + timeout, len(left), ", ".join(sorted({r[2] for r in left})), len(txs), len(open_tx), _describe(open_tx)),
                )
                break
            time.sleep(0.5)
        time.sleep(1)
        self.killing = True  # the run's own end: an exit from here on is ours
        self.fw.stop()
        self.check_ledger(final=True)

    def summary(self, minutes=None):
        span = "minutes %g" % minutes if minutes is not None else "seconds %d" % self.seconds
        return "soak: seed %d %s events %d kills %d violations %d" % (self.seed, span, self.events, self.kills, len(self.violations))

    def figures(self):
        c = dict(self.counts)
        lines = [
            "figures: heap peak %d B (bound %d B), slowest relay opening %.2f s, %d firmware runs"
            % (self.heap_peak, self.heap_bound, self.relay_worst, len(self.runs))
        ]
        if self.energy:
            lines.append("  " + self.energy.figures())
        lines.append("  " + ", ".join("%s %d" % kv for kv in sorted(c.items())))
        by_kind = collections.Counter(v.kind for v in self.violations)
        if by_kind:
            lines.append("  violations by invariant: " + ", ".join("%s %d" % kv for kv in sorted(by_kind.items())))
        return "\n".join(lines)


def _describe(open_tx):
    # What the central system saw of each transaction still open, so that a
    # drain violation says which message went missing and how.
    out = []
    for t in open_tx:
        sp = t.start.payload
        stops = ["%s copies %d events %s errors %s" % (s.uid, s.copies, "/".join(s.events), s.errors) for s in t.stops]
        out.append(
            "; transaction %s (StartTransaction %s, connector %s, idTag %s, start copies %d events %s) stops: %s"
            % ("/".join(map(str, t.ids)), t.start.uid, sp.get("connectorId"), sp.get("idTag"), t.start.copies, "/".join(t.start.events), stops or "none")
        )
    return "".join(out)


def _free_port():
    # The simulator's port must stay the same across the run's power cuts,
    # so it is taken below Linux's ephemeral range (32768 and up): a port
    # the kernel hands out for bind(0) elsewhere (another test's free_port())
    # could be taken in the moment between a kill and the restart.
    import os
    import socket

    for i in range(2000):
        port = 20000 + (os.getpid() * 7 + i * 13) % 12000
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


# A firmware line: its seconds since boot, then the text ("12.345 I link: ...").
_STAMPED = re.compile(r"(\d+)\.\d+ (.*)")
SPIN_LINES = 200  # identical lines within one second of the firmware's clock


class SpinWatch:
    """The spin invariant: feed() each line of one firmware run; it returns
    the text of a line said SPIN_LINES times within one second of the
    firmware's clock (once per such second), else None. The busiest honest
    second (a burst of replies, a reconnection's lines) says a line a few
    times; a loop that spins says it thousands of times."""

    def __init__(self):
        self._second = None
        self._said = collections.Counter()

    def feed(self, line):
        m = _STAMPED.match(line)
        if m is None:
            return None
        if m.group(1) != self._second:
            self._second = m.group(1)
            self._said.clear()
        text = m.group(2)
        self._said[text] += 1
        return text if self._said[text] == SPIN_LINES else None


def _frame(line):
    # '  File "/x/lib/uocpp/store/json_file.py", line 32, in write' -> 'store/json_file.py:32 write'
    m = re.search(r'File "(?:.*/uocpp/|.*/)?([^"]+)", line (\d+)(?:, in (\S+))?', line)
    return "%s:%s %s" % m.groups("") if m else line.strip()


def _short(obj, n=120):
    text = json.dumps(obj) if not isinstance(obj, str) else obj
    return text if len(text) <= n else text[: n - 3] + "..."
