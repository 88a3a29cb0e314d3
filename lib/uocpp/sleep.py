# Interruptible sleep: wait up to ms, or until the event is set.
#
# Heap (issue 24): every long-lived task that waits with a deadline sits in
# here at idle (the link's keepalive, the heartbeat, the sessions, ...).
# asyncio.wait_for_ms(event.wait(), ms) holds five objects per waiter (its
# own frame, a runner task and its frame, the event's wait frame, ours);
# here the caller sleeps in the loop's timer queue (no object), and one
# small task waits on the event and ends the sleep early, the way
# asyncio.wait_for's runner ends its waiter: by cancelling it with a
# CancelledError that carries True. Three objects per waiter, and a plain
# cancel from outside is still a cancel.
import asyncio


async def _wake(event, sleeper):
    await event.wait()
    # sleeper.data is None while it sleeps: not cancelled from outside
    # meanwhile (that cancel wins), nor ended already.
    if sleeper.data is None and sleeper.cancel():
        sleeper.data = asyncio.CancelledError(True)


async def until(event, ms):
    # True when the event woke us (or was set already), False when the time
    # ran out.
    if event.is_set():
        return True
    if ms <= 0:
        return False
    waker = asyncio.create_task(_wake(event, asyncio.current_task()))
    try:
        await asyncio.sleep_ms(int(ms))
    except asyncio.CancelledError as e:
        if e.value is True:
            return True
        waker.cancel()  # cancelled from outside: the waker goes too
        raise
    waker.cancel()
    return False
