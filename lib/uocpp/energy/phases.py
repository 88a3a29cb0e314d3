# 1/3-phase switching (energy.phaseSwitch) through the EVSE's phase-switch
# output (platform/seam.py EVSE_PHASES). The phases asked for: the OCPP
# schedule's numberPhases when a period gives it (1 -> 1, 2 or 3 -> 3), else
# the solar rule's in a solar mode, else connectors.phases. The sequence,
# never under load:
#   offer 0 A (the "switch" source: the sessions open the contactor at once,
#   the transaction SuspendedEVSE) -> wait until the contactor is open and
#   the EV's meter shows no current (at most energy.phaseStopTimeout; else
#   no switch, logged, tried again later) -> switch -> wait
#   energy.phaseDelay -> offer again (no resume delay: the pause was ours).
# ConnectorSwitch3to1PhaseSupported is reported true (app.py seeds it).
import asyncio
import time

from micropython import const

from uocpp import log

_POLL_MS = const(100)
_IDLE_A = 0.5  # below this the EV draws nothing
_RETRY_MS = const(60000)  # after a switch that could not be made safely


class Switcher:
    def __init__(self, energy, evse, meter):
        self._e = energy
        self._evse = evse
        self._meter = meter
        self._configured = energy.phases[1]
        n = energy.count + 1
        self._busy = [False] * n
        self._refused_at = [None] * n
        if not hasattr(evse, "set_phases"):
            raise ValueError("energy.phaseSwitch: this EVSE has no phase-switch output")
        for c in range(1, energy.count + 1):
            if not evse.relay(c):
                evse.set_phases(c, energy.phases[c])  # at boot the contactor is open
            energy.show_phases(c)

    def wanted(self, n):
        e = self._e
        want = e.want_phases[n]
        if want is None and e.mode != "fast":
            want = e.solar_phases
        if want is None:
            want = self._configured
        return 1 if want == 1 else 3

    def check(self):
        # The manager's loop, at every change: start a switch where one is
        # due. -> ms until a refused one may be tried again (None: none
        # waits), a deadline of the loop: nothing else need change by then.
        e = self._e
        wait = None
        for n in range(1, e.count + 1):
            want = self.wanted(n)
            if want == e.phases[n] or self._busy[n]:
                continue
            at = self._refused_at[n]
            # (0 <=: a refusal over half the ticks' period ago, 6.2 days on
            # a 32-bit board, reads as negative.)
            if at is not None and 0 <= time.ticks_diff(time.ticks_ms(), at) < _RETRY_MS:
                at = _RETRY_MS - time.ticks_diff(time.ticks_ms(), at) + 1
                wait = at if wait is None else min(wait, at)
                continue
            self._busy[n] = True
            asyncio.create_task(self._switch(n, want))
        return wait

    async def _current(self, n):
        try:
            r = await self._meter.read(n)
        except Exception:
            return None  # unknown: not idle
        a = r.get("Current.Import")
        if isinstance(a, dict):
            a = max(a.values()) if a else 0
        return a if isinstance(a, (int, float)) else None

    async def _switch(self, n, want):
        e, evse = self._e, self._evse
        cfg = e.cfg
        try:
            log.info("energy", "connector %d: switching to %d phase(s)", n, want)
            e.hold(n, True)
            waited, idle = 0, False
            while waited <= cfg["phaseStopTimeout"] * 1000:
                if not evse.relay(n):
                    a = await self._current(n)
                    if a is not None and a < _IDLE_A:
                        idle = True
                        break
                await asyncio.sleep_ms(_POLL_MS)
                waited += _POLL_MS
            if not idle or evse.relay(n):
                log.warning("energy", "connector %d: not switched to %d phase(s): still under load after %s s", n, want, cfg["phaseStopTimeout"])
                self._refused_at[n] = time.ticks_ms()
                return
            evse.set_phases(n, want)
            if evse.phases(n) != want:  # no output fitted (evse.phasePin), or it refused
                log.error("energy", "connector %d: the phase-switch output stays at %d phase(s)", n, evse.phases(n))
                self._refused_at[n] = time.ticks_ms()
                return
            e.phases[n] = want
            e.show_phases(n)
            await asyncio.sleep_ms(int(cfg["phaseDelay"] * 1000))
            log.info("energy", "connector %d: on %d phase(s)", n, want)
        except Exception as err:  # the hold ends below whatever happened
            log.error("energy", "connector %d: phase switch failed: %r", n, err)
        finally:
            self._busy[n] = False
            e.hold(n, False)
            e.changed.set()
