# Power loss (C16 4.9, model/transactions.py): what the last run left on
# flash is put right at boot, with the journal's (action, tag) list: what
# was running is stopped with reason PowerLoss (or forgotten, or marked
# stopped, as transactions.py's header says), and the remote ids and fixed
# times of messages that have left the journal are dropped. Runs once per
# boot (startup.py), and is unloaded after.
import time

from uocpp import log
from uocpp.services.start_stop import RETRY_MS


def recover(s, stored):
    # s: the Sessions; stored: (action, tag) of the messages in the journal.
    # starts, stops: local ids whose StartTransaction / StopTransaction is
    # in the journal (stops grows with those stored here).
    starts = [tag for action, tag in stored if action == "StartTransaction"]
    stops = [tag for action, tag in stored if action == "StopTransaction"]
    tx = s._tx
    # No local id the journal names is given again (tx.json lost, or
    # behind it): a new transaction under it would take an old one's
    # transactionId, its meter values and its stop.
    tx._next = max([tx._next] + [tag + 1 for _, tag in stored if type(tag) is int])
    count = s.evse.count
    for key, t in list(tx.running.items()):
        local = int(key)
        if local in stops:
            tx.stopped(local)  # the power went right after its StopTransaction was stored
        elif t["remote"] is None and local not in starts:
            log.warning("session", "transaction %s never reached flash: forgotten", tx.label(local))
            tx.running.pop(key)
        else:
            log.warning("session", "transaction %s on connector %d was running at power loss: stopped", tx.label(local), t["c"])
            # meterStop: the meter's register now (a real meter keeps it
            # through the outage, and the relay has been open since), or
            # the last reading on flash if that is higher or the meter
            # cannot be read (with MeterValueSampleInterval 0 that is
            # meterStart). The time is the last one on flash.
            # A connector no longer configured (connectors.count lowered
            # since) has no meter: the last reading on flash bills.
            c = t["c"]
            wh = t["wh"] if c > count or s._metering.failed[c] else max(t["wh"], s._metering.energy_wh(c))
            at = t.get("wt") or t["t"]
            # Never below a sample on flash: one stored while tx.json
            # could not take its reading (a full flash) still goes out
            # before this stop.
            sampled = s._outbox.last_reading(local)
            if sampled is not None and sampled[0] > t["wh"]:
                wh = max(wh, sampled[0])
                at = max(at, sampled[1])
            try:
                s._record_stop(local, wh, "PowerLoss", None, [], at)
            except Exception as e:
                # Not on flash (a full journal or flash): it stays in
                # tx.json, held as this PowerLoss stop (reading and time
                # as the power cut left them, never a stop of the
                # connector's state after the boot), and the loop tries
                # again every few seconds; never a boot that fails for it.
                log.error("session", "transaction %s: its PowerLoss stop cannot be stored yet: %s", tx.label(local), e)
                if c > count:
                    continue  # no connector to hold it on: the next boot tries again
                s._stopping[c] = ("PowerLoss", None, wh, at)
                s._retry_at = time.ticks_add(time.ticks_ms(), RETRY_MS)
                continue
            stops.append(local)
    # Remote ids whose StopTransaction has left the journal, and the fixed
    # times of messages that have, go.
    for key in [k for k in tx._remote if int(k) not in stops]:
        del tx._remote[key]
    for key in [k for k in tx.fixed if int(k[1:]) not in (starts if k[0] == "s" else stops)]:
        del tx.fixed[key]
    tx.save()
