# Held stops: a stop whose StopTransaction could not be stored (a full
# journal or flash) keeps its relay open and its transaction in tx.json;
# the session task tries it again every few seconds (start_stop.py
# RETRY_MS) until it is on flash. Loaded only while a stop is held
# (Sessions._retry_at set), unloaded once none is.
import time

from uocpp import log
from uocpp.services.start_stop import RETRY_MS


def retry(s):
    # s: the Sessions, whose loop calls this once the retry is due
    # (Sessions._retry_at): tries the held stops again.
    s._retry_at = None
    for n in range(1, s.evse.count + 1):
        local = s._tx.running_on(n)
        # (One not tried yet waits for its reading: the loop's pass stores it.)
        if s._stopping[n] is not None and s._stopping[n][2] is not None and local is not None:
            try:
                s._finish_stop(n, local, False)
            except Exception as e:
                log.error("session", "connector %d: stop retry: %r", n, e)
                s._retry_at = time.ticks_add(time.ticks_ms(), RETRY_MS)
