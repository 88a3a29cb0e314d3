# The grid meter at the house connection (an SDM630, device/sdm.py), read
# every energy.gridInterval s (at most 1 s), and what follows from it:
#   load management: the house's own draw on each phase is the grid's minus
#     the charger's (the connectors' meters, read in the same cycle); the
#     charger may take energy.mainsFuse minus the largest of them, shared
#     by the charging connectors. A lower limit applies at the reading that
#     shows it (within gridInterval + a read, under 2 s: IEC 61851-1 gives
#     the EV 5 s to follow the pilot); a higher one is reached by
#     energy.rampStep A per reading (SmartEVSE raises slowly too, so that a
#     load that cycles does not make the EV's current swing), and only as
#     far as two readings in a row allow it.
#   solar surplus: the power exported (the SDM630's total power is negative
#     when exporting) plus the charger's own draw plus energy.solarImport,
#     in A per phase for the phases in use -> energy/solar.py's rule.
#   a lost meter (no good reading for energy.gridLostAfter s): the load
#     limit becomes energy.gridSafeCurrent, the solar limit the minimum in
#     min+solar and 0 (a pause) in solar, logged once; a reading ends it.
import asyncio
import time

from uocpp import log, platform
from uocpp.device.sdm import SdmMeter
from uocpp.energy import limits as lm
from uocpp.energy.solar import Solar

_CURRENT = "Current.Import"
_POWER = "Power.Active.Import"


def _phases(value, phases):
    # A meter's current -> [L1, L2, L3]; a single-phase reading is on L1, or
    # on all three for an EV charging on three phases.
    if isinstance(value, dict):
        return [value.get("L1", 0), value.get("L2", 0), value.get("L3", 0)]
    v = value if isinstance(value, (int, float)) else 0
    return [v, v, v] if phases == 3 else [v, 0, 0]


class Grid:
    def __init__(self, energy, meter):
        # meter: the connectors' meters (platform.meter), read each cycle.
        cfg = self._cfg = energy.cfg
        self._energy = energy
        self._own = meter
        ms = int(cfg["gridTimeout"] * 1000)
        if cfg["gridBus"] == "meter":
            self._meter = meter.share(cfg["gridAddress"], cfg["gridModel"], ms)
            where = "the meters' bus"
        else:
            port, where = platform.open_uart(
                {"device": cfg["gridDevice"], "baud": cfg["gridBaud"], "uart": cfg["gridUart"], "tx": cfg["gridTx"], "rx": cfg["gridRx"]}
            )
            self._meter = SdmMeter(port, cfg["gridAddress"], cfg["gridModel"], ms)
        log.info("energy", "grid meter %s at address %d on %s", cfg["gridModel"], cfg["gridAddress"], where)
        self._fuse = cfg["mainsFuse"]
        self.load = None  # the load limit in force (None: no reading yet, the first one decides)
        if self._fuse:
            # Nothing known of the house until the first reading: the safe
            # current, as with the meter lost (not the hardware's maximum
            # for gridLostAfter s on a meter dead from boot).
            energy.load(cfg["gridSafeCurrent"])
        self._target = None  # what the last reading allowed
        self._surplus = None  # the last reading's surplus (W)
        self.solar = Solar(int(cfg["solarStartDelay"] * 1000), int(cfg["solarStopDelay"] * 1000))
        self._ok_at = time.ticks_ms()
        self.lost = False

    async def run(self):
        interval = int(self._cfg["gridInterval"] * 1000)
        while True:
            t0 = time.ticks_ms()
            try:
                reading = await self._meter.read()
            except Exception as e:
                self._failed(e)
            else:
                try:
                    own = await self._own_draw()
                    self._reading(reading, own)
                except Exception as e:  # bad data: the next reading decides
                    log.error("energy", "grid reading not used: %r", e)
            await asyncio.sleep_ms(max(10, interval - time.ticks_diff(time.ticks_ms(), t0)))

    async def _own_draw(self):
        # The charger's current per phase and its power, from the connectors'
        # meters; one that cannot be read counts as 0 (all of the grid's
        # current is then taken as the house's: the safe side).
        e = self._energy
        amps, watts = [0, 0, 0], 0
        for n in range(1, e.count + 1):
            try:
                r = await self._own.read(n)
            except Exception:
                continue
            for i, a in enumerate(_phases(r.get(_CURRENT), e.phases[n])):
                amps[i] += a
            p = r.get(_POWER)
            watts += p if isinstance(p, (int, float)) else 0
        return amps, watts

    def _failed(self, e):
        en = self._energy
        if not self.lost and time.ticks_diff(time.ticks_ms(), self._ok_at) >= int(self._cfg["gridLostAfter"] * 1000):
            self.lost = True
            safe = self._cfg["gridSafeCurrent"]
            log.warning("energy", "grid meter lost (%s): load limit %s A (energy.gridSafeCurrent)", e, safe)
            if self._fuse:
                self.load = safe
                en.load(safe)
        # At every failed read while lost: a mode changed since the loss
        # (fast -> solar) takes the lost meter's solar limit too.
        if self.lost and en.mode != "fast":
            en.solar(lm.MIN_AMPS if en.mode == "min+solar" else 0)

    def _reading(self, r, own):
        e, now = self._energy, time.ticks_ms()
        self._ok_at = now
        if self.lost:
            self.lost = False
            log.info("energy", "grid meter back")
        share = e.charging()
        if self._fuse:
            grid = _phases(r.get(_CURRENT), 3)
            house = max(grid[i] - own[0][i] for i in range(3))
            target = max(0, (self._fuse - house) / share)
            was, last = self.load, self._target
            self._target = target
            if was is None or target < was:
                if was is not None and max(grid) > self._fuse:
                    log.warning("energy", "overload: %.1f A on a %s A fuse: load limit %.1f A", max(grid), self._fuse, target)
                self.load = target
            else:
                # A rise only as far as the reading before allowed too: the
                # two meters are read one after the other, and a draw that
                # starts (or ends) in between shows in the charger's reading
                # alone, the house one reading too small.
                self.load = min(target, target if last is None else last, was + self._cfg["rampStep"])
            e.load(self.load)
        if e.mode != "fast":
            p = r.get(_POWER)
            surplus = (-p if isinstance(p, (int, float)) else 0) + own[1] + self._cfg["solarImport"]
            # As the load limit: only as much as the reading before showed
            # too (a draw that started between the two meters' readings is
            # in the charger's alone: the surplus one reading too large).
            last, self._surplus = self._surplus, surplus
            if last is not None:
                surplus = min(surplus, last)
            phases, wished = e.phases[1], None
            if e.switcher is not None:
                # The phases the surplus asks for first: the rule then counts
                # on them (on one phase rather than a stop on three).
                phases = self.solar.phases(e.mode, surplus / share, e.volts, phases, now)
                wished = e.solar_phases  # what the reading before asked for
                e.want_solar(phases)
            amps = self.solar.step(e.mode, surplus / (e.volts * phases) / share, now)
            if wished == phases < e.phases[1] and not e.switcher._busy[1]:
                # One phase asked for since the reading before, and no switch
                # under way, yet three in use (the switch refused, or another
                # source wants three): only what the surplus carries on three.
                amps = min(amps, max(lm.MIN_AMPS if e.mode == "min+solar" else 0, surplus / (e.volts * e.phases[1]) / share))
            e.solar(amps)
        else:
            self.solar.step("fast", 0, now)
