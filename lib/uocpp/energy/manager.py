# The energy manager: per connector the limit of each source (limits.py),
# the offer that follows (the least of them), a pause below 6 A with
# hysteresis on resume, and the charging mode (kept on flash). It hands the
# offer to the sessions (sessions.set_limit: the pilot and the relay, at
# once, never awaiting anything) and shows every source in the state (MQTT
# mirror, status page) and in the log when the offer or its source changes.
#   OCPP composite schedule: smart_charging.py calls ocpp() at each change
#   local limit: mqtt.py calls local() per command; no command within
#     energy.localTimeout -> energy.safeCurrent (the fail-safe, logged)
#   load management, solar: grid.py calls load() and solar() per reading
#   phase switching: phases.py holds the offer at 0 while it switches
import asyncio
import time

from micropython import const

from uocpp import log, sleep
from uocpp.energy import limits as lm
from uocpp.energy.limits import MODES, SOURCES
from uocpp.store import json_file

_IDLE_MS = const(3600000)
MODE = "energy/mode"  # state fields (MQTT topics under the mirror's base)
OFFER = "energy/%d/offer"  # the offer in A ("0": paused)
SOURCE = "energy/%d/source"  # the deciding source's name
LIMITS = "energy/%d/sources"  # {"hardware": 32, "ocpp": null, ...} as JSON
PHASES = "energy/%d/phases"


def _num(v):
    # A limit as JSON text: whole amps as ints.
    return "null" if v is None else ("%d" % v if v == int(v) else "%.1f" % v)


class Energy:
    def __init__(self, settings, sessions, state, flash, keys, evse, meter):
        # evse, meter: the platform's (phases.py drives the one, grid.py reads the other).
        self._evse = evse
        self._meter = meter
        cfg = self.cfg = settings["energy"]
        conn = settings["connectors"]
        self.count = count = conn["count"]
        self.volts = conn["voltage"]
        self._sessions = sessions
        self._state = state
        self._file = json_file.join(flash, "energy.json")
        hw = conn["maxCurrent"]
        self.limits = [None] + [[hw, None, None, None, None, None] for _ in range(count)]
        self.offer = [None] * (count + 1)
        self.decider = [None] * (count + 1)
        self._pause = [None] + [lm.Pause(cfg["resumeHysteresis"], int(cfg["resumeDelay"] * 1000)) for _ in range(count)]
        self.phases = [conn["phases"]] * (count + 1)
        self.want_phases = [None] * (count + 1)  # the OCPP schedule's numberPhases (phases.py decides)
        self.solar_phases = None  # the solar rule's wish (grid.py)
        self._local_ms = int(cfg["localTimeout"] * 1000)
        now = time.ticks_ms()
        self._local_at = [now] * (count + 1)
        self._wanted = [cfg["safeCurrent"]] * (count + 1)  # the last limit commanded
        self._enabled = [True] * (count + 1)
        # The fail-safe in force (also from boot until the first command).
        self._failsafe = [bool(self._local_ms)] * (count + 1)
        self.changed = asyncio.Event()
        self.mode = cfg["mode"]
        try:
            saved = json_file.read_json(self._file, None)
            # A solar mode kept from before the grid meter left config.json
            # is not taken: nothing would measure a surplus, and "solar"
            # would charge at the full offer from the grid.
            if isinstance(saved, dict) and saved.get("mode") in MODES and (saved["mode"] == "fast" or cfg["grid"]):
                self.mode = saved["mode"]
        except Exception:
            pass  # unreadable: the configured mode
        if self._local_ms:
            # Nothing heard from the energy manager since boot: the safe limit
            # until its first command.
            for n in range(1, count + 1):
                self.limits[n][lm.LOCAL] = cfg["safeCurrent"]
        state.set(MODE, self.mode)
        self.switcher = None  # phases.py, when energy.phaseSwitch
        if cfg["phaseSwitch"]:
            keys.use("ConnectorSwitch3to1PhaseSupported", True)  # read-only, false without it
        log.info(
            "energy",
            "on: mode %s%s%s%s",
            self.mode,
            ", local limit (fail-safe %s A after %s s)" % (_num(cfg["safeCurrent"]), _num(cfg["localTimeout"])) if self._local_ms else "",
            ", mains fuse %s A" % _num(cfg["mainsFuse"]) if cfg["mainsFuse"] else "",
            ", phase switching" if cfg["phaseSwitch"] else "",
        )

    # -- the sources ----------------------------------------------------------------
    def ocpp(self, n, got):
        # smart_charging.py: (A, numberPhases or None) of the schedule, or None.
        self._set(n, lm.OCPP, None if got is None else got[0])
        want = None if got is None else got[1]
        if want != self.want_phases[n]:
            self.want_phases[n] = want
            self.changed.set()

    def local(self, n, amps=None, enabled=None):
        # A checked command from the energy manager (mqtt.py): a limit, or
        # enable/disable (disabled: the local limit is 0, a pause; the limit
        # commanded is kept for the enable). Either shows it is alive.
        self._local_at[n] = time.ticks_ms()
        if amps is not None:
            self._wanted[n] = amps
        if enabled is not None:
            self._enabled[n] = enabled
        amps = self._wanted[n] if self._enabled[n] else 0
        if self._failsafe[n]:
            self._failsafe[n] = False
            log.info("energy", "connector %d: local limit %s A from the energy manager", n, _num(amps))
        self._set(n, lm.LOCAL, amps)
        self.changed.set()  # the fail-safe's deadline moved

    def load(self, amps):
        # grid.py: what load management leaves for each charging connector.
        for n in range(1, self.count + 1):
            self._set(n, lm.LOAD, amps)

    def solar(self, amps):
        for n in range(1, self.count + 1):
            self._set(n, lm.SOLAR, amps)

    def show_phases(self, n):
        self._state.set(PHASES % n, self.phases[n])

    def want_solar(self, phases):
        if phases != self.solar_phases:
            self.solar_phases = phases
            self.changed.set()

    def hold(self, n, on):
        # phases.py: 0 A while the phases are switched.
        self._set(n, lm.SWITCH, 0 if on else None)
        if not on:
            self._pause[n].release()
            self._apply(n)

    def request_mode(self, mode, where):
        # A mode asked for over MQTT or on the status page -> True when taken.
        if mode not in MODES:
            log.warning("energy", "mode %r refused (%s): fast, solar or min+solar", mode[:20], where)
            return False
        if mode != "fast" and not self.cfg["grid"]:
            log.warning("energy", "mode %s refused (%s): no grid meter (energy.grid)", mode, where)
            return False
        self.set_mode(mode)
        return True

    def set_mode(self, mode):
        if mode == self.mode:
            return
        self.mode = mode
        log.info("energy", "charging mode %s", mode)
        self._state.set(MODE, mode)
        try:
            json_file.write_json_atomic(self._file, {"mode": mode})
        except Exception as e:  # kept in RAM; the next boot has the last one on flash
            log.error("energy", "cannot keep the mode on flash: %s", e)
        if mode == "fast":
            self.solar(None)
        elif self.limits[1][lm.SOLAR] is None:
            # From fast: no surplus measured for it yet (none ever, with a
            # grid meter that cannot be used): what a lost meter gives,
            # until a reading decides.
            self.solar(lm.MIN_AMPS if mode == "min+solar" else 0)
        self.changed.set()

    def charging(self):
        # How many connectors run a transaction (at least 1): the shares of
        # the house connection and of the surplus.
        s = self._sessions
        return max(
            1, sum(1 for n in range(1, self.count + 1) if s.transaction_id(n) is not None or s.status(n) in ("Charging", "SuspendedEVSE", "SuspendedEV"))
        )

    # -- the offer ------------------------------------------------------------------
    def _set(self, n, i, amps):
        if amps is not None:
            amps = lm.floor_tenth(amps)
        lim = self.limits[n]
        if lim[i] != amps:
            lim[i] = amps
            self._show(n)
            self._apply(n)

    def _show(self, n):
        # Every source's limit in the state, as JSON: made only when one changed.
        lim = self.limits[n]
        self._state.set(LIMITS % n, "{" + ",".join('"%s":%s' % (SOURCES[i], _num(lim[i])) for i in range(len(lim))) + "}")

    def _apply(self, n):
        amps, who = lm.effective(self.limits[n])
        p = self._pause[n]
        waiting = p.since
        paused = p.step(amps, time.ticks_ms(), who)
        offer = 0 if paused else amps
        if waiting is None and p.since is not None:
            self.changed.set()  # a resume is pending: the run loop wakes for it
        if offer == self.offer[n] and who == self.decider[n]:
            return
        was = self.offer[n]
        self.offer[n], self.decider[n] = offer, who
        # The sessions cap at connectors.maxCurrent; below 6 A a running
        # transaction is SuspendedEVSE (relay open, pilot without PWM).
        self._sessions.set_limit(n, offer)
        st = self._state
        st.set(OFFER % n, _num(offer))
        st.set(SOURCE % n, SOURCES[who])
        if paused and (was is None or was >= lm.MIN_AMPS):
            log.info("energy", "connector %d: paused: %s A from %s (below %d A)", n, _num(amps), SOURCES[who], lm.MIN_AMPS)
        elif not paused and was == 0 and amps >= lm.MIN_AMPS:
            log.info("energy", "connector %d: resumed at %s A (%s)", n, _num(offer), SOURCES[who])
        else:
            log.info("energy", "connector %d: offer %s A (%s)", n, _num(offer), SOURCES[who])

    # -- what app.py and the MQTT mirror start ---------------------------------------
    def tasks(self):
        # -> [(name, async fn)] for the supervisor; each part loaded only when configured.
        # A part that cannot start (no phase-switch output, a grid meter's
        # port that cannot be opened) is logged and left out, never the end
        # of the firmware; without its grid meter the charger offers what it
        # would with the meter lost.
        out = [("energy", self.run)]
        cfg = self.cfg
        if cfg["phaseSwitch"]:
            try:
                from uocpp.energy.phases import Switcher

                self.switcher = Switcher(self, self._evse, self._meter)
            except Exception as e:
                log.error("energy", "no phase switching: %s", e)
        if cfg["grid"]:
            try:
                from uocpp.energy.grid import Grid

                out.append(("grid", Grid(self, self._meter).run))
            except Exception as e:
                log.error("energy", "grid meter cannot be used (%s): as if lost, load limit %s A", e, _num(cfg["gridSafeCurrent"]))
                if cfg["mainsFuse"]:
                    self.load(cfg["gridSafeCurrent"])
                if self.mode != "fast":
                    self.solar(lm.MIN_AMPS if self.mode == "min+solar" else 0)
        return out

    def commands(self, base):
        # The MQTT mirror's handler of the command topics (energy/mqtt.py).
        from uocpp.energy.mqtt import Commands

        return Commands(self, base, self.limits[1][lm.HARDWARE])

    # -- the task: the fail-safe, resumes that wait, phase changes ----------------
    async def run(self):
        for n in range(1, self.count + 1):
            self._show(n)
            self._apply(n)
        while True:
            self.changed.clear()
            now, soonest = time.ticks_ms(), _IDLE_MS
            for n in range(1, self.count + 1):
                if self._local_ms:
                    left = self._local_ms - time.ticks_diff(now, self._local_at[n])
                    if left <= 0 and not self._failsafe[n]:
                        self._failsafe[n] = True
                        self._wanted[n], self._enabled[n] = self.cfg["safeCurrent"], True
                        log.warning(
                            "energy",
                            "connector %d: no local limit for %s s: the safe limit, %s A",
                            n,
                            _num(self.cfg["localTimeout"]),
                            _num(self.cfg["safeCurrent"]),
                        )
                        self._set(n, lm.LOCAL, self.cfg["safeCurrent"])
                    elif not self._failsafe[n]:
                        soonest = min(soonest, left)
                self._apply(n)
                wait = self._pause[n].resume_in(now)
                if wait is not None:
                    soonest = min(soonest, wait + 1)
            if self.switcher is not None:
                wait = self.switcher.check()
                if wait is not None:
                    soonest = min(soonest, wait)
            await sleep.until(self.changed, soonest)
