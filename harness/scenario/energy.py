"""The scenario engine's energy profile (issue 27 item 6): the house around
the charger, and the invariants of energy management.

The world (EnergyWorld, one thread beside the engine's) holds what a real
installation has and the firmware can only measure or be told:

- the house's own load per phase, stepped by the plan (`house a b c`);
- the EVs: each plugged EV wants a current (the plan's `plug`/`power`
  watts over 3 x 230 V) and draws min(wanted, pilot offer) while its relay
  is closed in state C, one tick (TICK_S) after the pilot changes (IEC
  61851-1 gives it 5 s; ours follows at once). The world sets the
  simulator's `power` to that (the simulator's meter reads amps =
  watts / 230, on every phase of a 3-phase connector, on L1 of a 1-phase
  one: how energy/grid.py counts the charger's own draw);
- the grid meter at the house connection: a pymodbus SDM630 on a pty
  (harness/modbus_meter.py) showing house + EVs on each phase and the
  total power less the solar production (`solar W`); `grid_lost` /
  `grid_back` stop and restart its answers;
- the energy manager: a real mosquitto and mosquitto_pub; it repeats its
  limit per connector every EM_REPEAT_S (as evcc's watchdog does), sends
  valid, out-of-range and malformed limits (`em_limit`, `em_bad`), changes
  the charging mode (`em_mode`) and falls silent for longer than
  localTimeout (`em_silence`).

Invariants, checked every tick from the simulator's `state` and `phases N`
and from what the world knows:

- offer: the pilot offer of each connector never exceeds a source's limit
  in force (hardware maxCurrent; the local limit: the last command the
  firmware can have had, safeCurrent from boot until the first and after
  localTimeout of silence; load management: (mainsFuse - the house's
  largest phase) / the charging connectors, gridSafeCurrent once the grid
  meter has been lost gridLostAfter; solar: max(6 A, the surplus) in the
  solar modes) beyond REACT_S: at time t the offer must be at most the
  highest limit of that source over [t - REACT_S, t]. REACT_S is the 2 s
  docs/energy.md promises for an overload (a lower limit applies at the
  grid reading that shows it, within gridInterval + one read);
- fuse: the house connection's largest phase current (house + EVs) is over
  mainsFuse while an EV draws for at most REACT_S + TICK_S (the firmware's
  2 s and the modeled EV's own delay), except while the grid meter is lost
  (the charger is blind then: gridSafeCurrent is the installer's choice)
  and for REACT_S after it is back;
- pause: a relay is never closed with less than 6 A offered, and a
  connector that stays Charging has at least 6 A offered (below 6 A it is
  SuspendedEVSE) beyond REACT_S;
- phases: no phase switch under load (the simulator's `underLoad` count
  stays 0).
"""

import collections
import json
import subprocess
import threading
import time

from harness.modbus_meter import Relay, SdmServer
from harness.mqtt_broker import Broker, _tool
from harness.net import free_port

TICK_S = 0.2
REACT_S = 2.0
EM_REPEAT_S = 1.5
VOLTS = 230.0
INF = float("inf")
SLACK_A = 0.11  # the firmware floors limits to 0.1 A; Modbus floats round

# The installation as the world models it; the firmware gets the same
# figures (energy_config) unless a test overrides them to break it.
FUSE = 25
MAX_A = 16
SAFE_A = 8
GRID_SAFE_A = 6
LOCAL_TIMEOUT = 4
GRID_LOST_AFTER = 1.5
ENERGY = {
    "enabled": True,
    "localTimeout": LOCAL_TIMEOUT,
    "safeCurrent": SAFE_A,
    "resumeHysteresis": 1,
    "resumeDelay": 1,
    "grid": True,
    "gridAddress": 2,
    "gridInterval": 0.5,
    "gridTimeout": 0.2,
    "gridLostAfter": GRID_LOST_AFTER,
    "gridSafeCurrent": GRID_SAFE_A,
    "mainsFuse": FUSE,
    "rampStep": 2,
    "mode": "fast",
    "solarStartDelay": 2,
    "solarStopDelay": 4,
    "phaseSwitch": True,
    "phaseDelay": 0.5,
    "phaseStopTimeout": 3,
}
HOUSE_STEPS = (0, 2, 3, 5, 8, 10, 13, 17, 22)
EM_LIMITS = (0, 5.5, 6, 8, 10, 12.5, 16, 16)
EM_BAD = ("17", "40", "-3", "lots", "nan", "1e9", "16A", "inf")
MODES = ("fast", "solar", "min+solar")
SOLAR_W = (0, 1500, 3000, 5000, 8000, 12000)
KINDS = ("house", "em_limit", "em_bad", "em_silence", "em_mode", "solar", "grid_lost", "grid_back")


def plan_event(rng, t, n, out, event):
    """The energy mix of make_plan: appends Event(s) at t for connector n; -> the new t."""
    r = rng.random()
    if r < 0.28:
        amps = [rng.choice(HOUSE_STEPS[:3]) for _ in range(3)]
        amps[rng.randrange(3)] = rng.choice(HOUSE_STEPS)  # one phase steps, often high
        out.append(event(t, "house", *amps))
    elif r < 0.44:
        out.append(event(t, "em_limit", n, rng.choice(EM_LIMITS)))
    elif r < 0.52:
        out.append(event(t, "em_bad", n, rng.choice(EM_BAD)))
    elif r < 0.58:
        out.append(event(t, "em_silence", round(rng.uniform(LOCAL_TIMEOUT + 1, LOCAL_TIMEOUT + 6), 1)))
    elif r < 0.70:
        out.append(event(t, "em_mode", rng.choice(MODES)))
    elif r < 0.86:
        out.append(event(t, "solar", rng.choice(SOLAR_W)))
    else:
        out.append(event(t, "grid_lost"))
        out.append(event(t + rng.uniform(1, 6), "grid_back"))
    return t


class _Publisher:
    """One mosquitto_pub -l per topic: each line written is one message."""

    def __init__(self, port, topic):
        self.proc = subprocess.Popen(
            [_tool("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-l"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def send(self, payload):
        self.proc.stdin.write("%s\n" % payload)
        self.proc.stdin.flush()

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def _amps(x):
    if x == INF:
        return "inf"
    return ("%d" % x) if x == int(x) else ("%.1f" % x)


class EnergyWorld:
    def __init__(self, scn, firmware_energy=None):
        self.scn = scn
        self.count = 2
        self.lock = threading.Lock()
        self.fw_energy = dict(ENERGY, **(firmware_energy or {}))  # what the firmware is told
        self.house = [0.0, 0.0, 0.0]
        self.solar_w = 0.0
        self.wish = [0.0] * 3  # A per phase each EV wants
        self.draw = [0.0] * 3  # A per phase each EV draws (the simulator's power / 230)
        self.sent = [None] * 3  # the power last set at the simulator
        self.em_want = [None, MAX_A, MAX_A]  # what the energy manager commands
        self.em_silent_until = 0.0
        self.local = [None, None, None]  # (amps, time) of the last command the firmware can have had, this run
        self.mode = "fast"  # the mode in force (kept on the firmware's flash across kills)
        self.grid_lost_at = None
        self.grid_back_at = None
        self.booted_at = None
        self.listening = False  # the firmware's MQTT session subscribed to the commands (its log)
        self._scan = 0
        self._fw = None
        self.hist = collections.defaultdict(collections.deque)  # (n, source) -> deque of (t, limit)
        self.over = {}  # (n, what) -> time it started, for the checks with a reaction time
        self.longest = collections.Counter()  # what -> the longest time it was bad (within its grace or not), s
        self.reported = set()
        self.fuse_over_since = None
        self.fuse_peak = 0.0
        self.offer_checks = 0
        self.drawing_s = 0.0  # EV-seconds drawn (a run that claims to test the fuse must charge)
        self.draw_peak = 0.0
        self._stop = threading.Event()
        self._thread = None
        self.broker = self.relay = self.grid = None
        self.pubs = {}

    # -- peers --------------------------------------------------------------------------------
    def start(self):
        work = self.scn.workdir
        work.mkdir(parents=True, exist_ok=True)
        self.broker = Broker(str(work / "broker"), free_port()).start()
        self.relay = Relay().start()
        self.grid = SdmServer(self.relay.meter_path, address=2).start()
        self._push_grid()
        base = "ocpp/CP001/energy/"
        for key, topic in (("1", "1/limit/set"), ("2", "2/limit/set"), ("mode", "mode/set")):
            self.pubs[key] = _Publisher(self.broker.port, base + topic)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for p in self.pubs.values():
            p.stop()
        if self.grid is not None:
            self.grid.stop()
        if self.relay is not None:
            self.relay.close()
        if self.broker is not None:
            self.broker.stop()

    def config(self):
        en = dict(self.fw_energy, gridDevice=self.relay.path)
        return {
            "mqtt": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": self.broker.port,
                "keepalive": 5,
                "timeout": 1,
                "reconnectMinimum": 0.2,
                "reconnectRandomRange": 0,
            },
            "connectors": {"count": 2, "maxCurrent": MAX_A, "phases": 3},
            "energy": en,
        }

    # -- the engine's hooks --------------------------------------------------------------------
    def booted(self, fw):
        with self.lock:
            now = self.scn.now()
            self._fw, self._scan, self.listening = fw, 0, False
            self.booted_at = now
            self.local = [None, None, None]
            self.sent = [None] * 3
            self.draw = [0.0] * 3
            self.over.clear()
            # Nothing is known before the first grid reading: no claim on
            # load and solar for REACT_S (their histories restart at +inf).
            for key in list(self.hist):
                self.hist[key].clear()
            for n in (1, 2):
                for src in ("load", "solar"):
                    self.hist[(n, src)].append((now, INF))

    def plugged(self, n, watts):
        with self.lock:
            self.wish[n] = min(32.0, watts / (3 * VOLTS))

    def execute(self, e):
        k, a = e.kind, e.args
        now = self.scn.now()
        with self.lock:
            if k == "house":
                self.house = [float(x) for x in a]
            elif k == "solar":
                self.solar_w = float(a[0])
            elif k == "grid_lost":
                if self.grid_lost_at is None:
                    self.relay.present = set()  # no answer at any address, as a cut RS-485 pair
                    self.grid_lost_at = now
            elif k == "grid_back":
                if self.grid_lost_at is not None:
                    self.relay.present = None
                    self.grid_lost_at = None
                    self.grid_back_at = now
            elif k == "em_limit":
                self.em_want[a[0]] = a[1]
                self._publish_limit(a[0], now)
            elif k == "em_bad":
                if now >= self.em_silent_until:
                    self.pubs[str(a[0])].send(a[1])  # changes nothing at the firmware
            elif k == "em_silence":
                self.em_silent_until = now + a[0]
            elif k == "em_mode":
                if now >= self.em_silent_until and self.listening:
                    self.pubs["mode"].send(a[0])
                    self.mode = a[0]
                else:
                    self.scn.count("energy mode commands while not listening")
        self.scn.count("energy " + k)

    def _publish_limit(self, n, now):
        # (with the lock) The energy manager's command, if it is not silent;
        # the firmware has it only if its MQTT session is subscribed.
        if now < self.em_silent_until:
            return
        self.pubs[str(n)].send(_amps(self.em_want[n]))
        if self.listening:
            self.local[n] = (float(self.em_want[n]), now)

    # -- the world's tick ---------------------------------------------------------------------
    def _read_log(self):
        fw = self._fw
        if fw is None:
            return
        lines = fw.lines_after(self._scan)
        self._scan += len(lines)
        for _, line in lines:
            if "listening for commands" in line:
                self.listening = True
            elif " mqtt: " in line and any(w in line for w in ("closed the connection", "no PINGRESP", "took no data", "failed", "retrying")):
                self.listening = False

    def _run(self):
        last_em = 0.0
        while not self._stop.wait(TICK_S):
            try:
                with self.lock:
                    self._read_log()
                    now = self.scn.now()
                    if now - last_em >= EM_REPEAT_S:
                        last_em = now
                        for n in (1, 2):
                            self._publish_limit(n, now)
                self._tick()
            except Exception as e:  # the world must not die silently: a harness defect is a violation
                self.scn.violation("energy-harness", "the energy world failed: %r" % e)
                time.sleep(1)

    def _tick(self):
        scn = self.scn
        if scn.killing or self._fw is None:
            return
        run = scn.run_no
        replies = scn.sim_lines(["state", "phases 1", "phases 2"])
        if replies is None or len(replies) < 3 or not all(r.startswith("ok ") for r in replies) or run != scn.run_no:
            return
        st = json.loads(replies[0][3:])
        ph = [None] + [json.loads(r[3:]) for r in replies[1:]]
        now = scn.now()
        power = []
        with self.lock:
            for n in (1, 2):
                c = st[str(n)]
                drawing = c["relay"] and c["pilot"] in ("C", "D")
                want = round(min(self.wish[n], c["offeredA"]), 1) if drawing else 0.0
                self.draw[n] = want
                if want != self.sent[n]:
                    self.sent[n] = want
                    power.append("power %d %d" % (n, round(want * VOLTS)))
        if power:
            scn.sim_lines(power)
        with self.lock:
            self._push_grid(ph)
            self._check(now, st, ph)

    def _phase_amps(self, ph):
        amps = list(self.house)
        for n in (1, 2):
            one = ph is not None and ph[n]["phases"] == 1
            for i in range(1 if one else 3):
                amps[i] += self.draw[n]
        return amps

    def _push_grid(self, ph=None):
        amps = self._phase_amps(ph)
        watts = VOLTS * sum(self.house) + VOLTS * (self.draw[1] + self.draw[2]) - self.solar_w
        self.grid.set(V1=VOLTS, V2=VOLTS, V3=VOLTS, I1=amps[0], I2=amps[1], I3=amps[2], P_TOTAL=watts, FREQ=50.0, IMPORT_KWH=1.0)

    # -- the invariants -----------------------------------------------------------------------
    def _limits(self, now, st, ph):
        # -> {source: limit} for every connector: what the world says is in force.
        share = max(
            1, sum(1 for n in (1, 2) if st[str(n)]["transactionId"] is not None or st[str(n)]["status"] in ("Charging", "SuspendedEVSE", "SuspendedEV"))
        )
        lost = self.grid_lost_at is not None
        blind = lost and now - self.grid_lost_at < GRID_LOST_AFTER
        if blind:
            load = INF  # the firmware cannot know yet
        elif lost:
            load = GRID_SAFE_A
        else:
            load = max(0.0, FUSE - max(self.house)) / share
        out = {}
        for n in (1, 2):
            cmd = self.local[n]
            local = SAFE_A if cmd is None or now - cmd[1] >= LOCAL_TIMEOUT else cmd[0]
            if self.mode == "fast" or blind:
                solar = INF
            elif lost:
                solar = 6.0 if self.mode == "min+solar" else 0.0
            else:
                phases = ph[n]["phases"] if ph else 3
                surplus = (self.solar_w - VOLTS * sum(self.house)) / (VOLTS * phases) / share
                solar = max(6.0, surplus)
            out[n] = {"hardware": MAX_A, "local": local, "load": load, "solar": solar}
        return out

    def _check(self, now, st, ph):
        limits = self._limits(now, st, ph)
        for n in (1, 2):
            c = st[str(n)]
            offer = c["offeredA"]
            self.offer_checks += 1
            for src, lim in limits[n].items():
                h = self.hist[(n, src)]
                h.append((now, lim))
                while len(h) > 1 and h[1][0] <= now - REACT_S:
                    h.popleft()  # h[0] stays: the limit in force at now - REACT_S
                allowed = max(v for _, v in h)
                self._judge((n, "offer " + src), offer > allowed + SLACK_A, now, 0, "energy-offer",
                            "connector %d: offer %s A over the %s limit (%s A, the highest in force over the last %.1f s)"
                            % (n, _amps(offer), src, _amps(round(allowed, 1)), REACT_S))  # fmt: skip
            self._judge((n, "relay"), c["relay"] and offer < 6, now, 0, "energy-pause",
                        "connector %d: relay closed with %s A offered (under 6 A)" % (n, _amps(offer)))  # fmt: skip
            self._judge((n, "charging"), c["status"] == "Charging" and offer < 6, now, REACT_S, "energy-pause",
                        "connector %d: Charging with %s A offered for over %.1f s (below 6 A is SuspendedEVSE)" % (n, _amps(offer), REACT_S))  # fmt: skip
            if ph[n]["underLoad"]:
                self._judge((n, "phases"), True, now, 0, "energy-phases",
                            "connector %d: %d phase switch(es) under load (%s)" % (n, ph[n]["underLoad"], json.dumps(ph[n])))  # fmt: skip
        amps = max(self._phase_amps(ph))
        ev = self.draw[1] + self.draw[2]
        self.drawing_s += TICK_S * sum(1 for n in (1, 2) if self.draw[n] > 0)
        self.draw_peak = max(self.draw_peak, self.draw[1], self.draw[2])
        self.fuse_peak = max(self.fuse_peak, amps)
        exempt = self.grid_lost_at is not None or (self.grid_back_at is not None and now - self.grid_back_at < REACT_S)
        self._judge(("fuse",), amps > FUSE + SLACK_A and ev > 0 and not exempt, now, REACT_S + TICK_S, "energy-fuse",
                    "house connection at %.1f A on a %d A fuse for over %.1f s (house %s A, EVs %s A)"
                    % (amps, FUSE, REACT_S + TICK_S, "/".join(_amps(x) for x in self.house), "+".join(_amps(self.draw[n]) for n in (1, 2))))  # fmt: skip

    def _judge(self, key, bad, now, grace, kind, text):
        # A violation once per episode: bad for longer than grace.
        if not bad:
            self.over.pop(key, None)
            self.reported.discard(key)
            return
        since = self.over.setdefault(key, now)
        what = key[-1].split(" ")[0]
        self.longest[what] = max(self.longest[what], now - since)
        if now - since >= grace and key not in self.reported:
            self.reported.add(key)
            self.scn.violation(kind, text)

    def figures(self):
        longest = ", ".join("%s %.1f s" % kv for kv in sorted(self.longest.items())) or "none"
        return (
            "energy: %d offer checks, EVs drawing %.0f s (peak %.1f A), fuse peak %.1f A (fuse %d A), mode %s at the end; longest time over a limit (as judged): %s"
            % (
                self.offer_checks,
                self.drawing_s,
                self.draw_peak,
                self.fuse_peak,
                FUSE,
                self.mode,
                longest,
            )
        )


def is_energy(kind):
    return kind in KINDS
