# Composite charging schedules (C16 3.13, 5.16, 6.24): PURE arithmetic, no
# asyncio and no I/O, so that it runs on CPython too (property tests).
# A profile here is the compact entry model/profiles.py stores:
#   {"id", "c": connectorId, "level": stackLevel, "purpose", "kind",
#    "rec": recurrencyKind or None, "from"/"to": validFrom/validTo (Unix s or
#    None), "start": startSchedule (Unix s; for Absolute/Recurring without
#    one: the time it was installed), "dur": duration or None, "unit": "A"/"W",
#    "periods": [[startPeriod, limit, numberPhases or None], ...] by start}
# All limits are worked out in A per phase: W / (volts * phases), over the
# phases the charger will use (used()): its configured phases when it cannot
# switch them (a numberPhases it cannot follow must not multiply the power
# a W limit allows), else the period's numberPhases as energy/phases.py
# follows it (1 -> 1, 2 or 3 -> 3).
# Rules (where 1.6 is silent, see README "Smart charging"):
#   - per purpose, the active profile with the highest stack level prevails;
#     one whose schedule has not begun or has ended (duration) lets the next
#     lower one through;
#   - TxDefaultProfiles of the connector itself prevail over those of
#     connector 0; a TxProfile (only while a transaction runs) over both;
#   - ChargePointMaxProfile (connector 0) caps the site: each connector gets
#     an equal share (cap / share, share = connectors with a transaction);
#   - Relative schedules start with the transaction (without one: at the
#     start of the query, as if one began then);
#   - Recurring schedules repeat from startSchedule on, not before.
TX = "TxProfile"
DEFAULT = "TxDefaultProfile"
CP_MAX = "ChargePointMaxProfile"
_CYCLE = {"Daily": 86400, "Weekly": 604800}


def _base(p, t, tx_start):
    # The start of the schedule cycle in force at t (None: none).
    kind = p["kind"]
    if kind == "Relative":
        return tx_start
    s = p["start"]
    if kind == "Recurring" and t >= s:
        cycle = _CYCLE.get(p["rec"], 86400)
        return s + ((t - s) // cycle) * cycle
    return s


def period_at(p, t, tx_start):
    # The period [start, limit, phases] of profile p in force at t, or None.
    if p["from"] is not None and t < p["from"]:
        return None
    if p["to"] is not None and t >= p["to"]:
        return None
    base = _base(p, t, tx_start)
    if base is None:
        return None
    off = t - base
    if off < 0 or (p["dur"] is not None and off >= p["dur"]):
        return None
    if p["kind"] == "Recurring" and off >= _CYCLE.get(p["rec"], 86400):
        return None
    found = None
    for per in p["periods"]:
        if per[0] > off:
            break
        found = per
    return found


def next_change(p, t, tx_start):
    # The first time after t at which profile p may change its limit (None: never).
    best = None
    cands = [p["from"], p["to"]]
    base = _base(p, t, tx_start)
    if base is not None:
        cands.extend(base + per[0] for per in p["periods"])
        if p["dur"] is not None:
            cands.append(base + p["dur"])
        if p["kind"] == "Recurring":
            cands.append(base + _CYCLE.get(p["rec"], 86400) if t >= p["start"] else p["start"])
    for c in cands:
        if c is not None and c > t and (best is None or c < best):
            best = c
    return best


def used(phases, default_phases, switching):
    # The phases a period's limit is spread over: phases, its numberPhases
    # (None: not given); default_phases, the charger's; switching: whether
    # it can switch them (energy.phaseSwitch).
    if switching and phases:
        return 1 if phases == 1 else 3
    return default_phases


def amps(limit, unit, phases, volts, default_phases, switching=False):
    if unit == "W":
        return limit / (volts * used(phases, default_phases, switching))
    return limit


def _top(profiles, t, tx_start, volts, phases, switching):
    # (limit in A, the period's numberPhases or None) of the highest stack
    # level in force at t, or None.
    best = None
    for p in profiles:
        if best is not None and p["level"] <= best[0]:
            continue
        per = period_at(p, t, tx_start)
        if per is not None:
            best = (p["level"], amps(per[1], p["unit"], per[2], volts, phases, switching), per[2])
    return None if best is None else best[1:]


def relevant(profiles, n, tx_start):
    # (TxProfiles, the connector's TxDefaultProfiles, connector 0's, ChargePointMaxProfiles) for connector n.
    tx, own, site, cap = [], [], [], []
    for p in profiles:
        purpose, c = p["purpose"], p["c"]
        if purpose == CP_MAX:
            cap.append(p)
        elif purpose == TX:
            if c == n and n and tx_start is not None:
                tx.append(p)
        elif c == n and n:
            own.append(p)
        elif c == 0:
            site.append(p)
    return tx, own, site, cap


def limit_at(profiles, t, n, tx_start, volts, phases, share=1, switching=False):
    # The limit in A on connector n at time t (None: no profile limits it).
    # n = 0: the ChargePointMaxProfile alone. tx_start: the running
    # transaction's start (Unix s) or None.
    got = limit_phases_at(profiles, t, n, tx_start, volts, phases, share, switching)
    return None if got is None else got[0]


def limit_phases_at(profiles, t, n, tx_start, volts, phases, share=1, switching=False):
    # As limit_at, with the numberPhases of the period that sets the limit
    # (None: the profile does not say): (A, phases) or None.
    tx, own, site, cap = relevant(profiles, n, tx_start)
    lim = _top(cap, t, tx_start, volts, phases, switching)
    if n == 0:
        return lim
    if lim is not None:
        lim = (lim[0] / max(1, share), lim[1])
    mine = _top(tx, t, tx_start, volts, phases, switching)
    if mine is None:
        mine = _top(own, t, tx_start, volts, phases, switching)
    if mine is None:
        mine = _top(site, t, tx_start, volts, phases, switching)
    if mine is None:
        return lim
    return mine if lim is None or mine[0] < lim[0] else lim


def next_boundary(profiles, t, n, tx_start):
    # The first time after t at which connector n's limit may change (None: never).
    best = None
    for group in relevant(profiles, n, tx_start):
        for p in group:
            c = next_change(p, t, tx_start)
            if c is not None and (best is None or c < best):
                best = c
    return best


def composite(profiles, t0, duration, n, tx_start, volts, phases, max_amps, share=1, unit="A", most=64, switching=False):
    # The merged schedule of connector n from t0 for duration seconds:
    # [[startPeriod, limit, numberPhases or None], ...] in `unit`, each a
    # change of the limit or of the number of phases (capped by max_amps,
    # the hardware's). Without a
    # transaction, Relative schedules start at t0.
    if tx_start is None:
        tx_start = t0
        rel = t0
    else:
        rel = tx_start
    out = []
    t, end = t0, t0 + duration
    # At most `most` periods, and at most 4 x `most` boundaries looked at
    # (where the merged limit does not change too): a long duration must
    # not hold the event loop (the session task) for minutes.
    # Duration 0: the limit now, one period (1.6 7.13: at least one).
    steps = 4 * most
    while (t < end or not out) and len(out) < most and steps:
        steps -= 1
        got = limit_phases_at(profiles, t, n, rel, volts, phases, share, switching)
        lim, per_phases = (max_amps, None) if got is None or got[0] > max_amps else got
        # numberPhases: the period's own (kept as the profile gave it); in W
        # without one, the phases the conversion assumed. A value in W is
        # over the phases the charger uses.
        value = lim * volts * used(per_phases, phases, switching) if unit == "W" else lim
        if per_phases is None and unit == "W":
            per_phases = phases
        value = round(value, 1)
        if not out or out[-1][1] != value or out[-1][2] != per_phases:
            out.append([int(t - t0), value, per_phases])
        nxt = next_boundary(profiles, t, n, rel)
        if nxt is None:
            break
        t = nxt
    return out
