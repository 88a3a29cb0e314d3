# Interruptible sleep: wait up to ms, or until the event is set.
import asyncio


async def until(event, ms):
    # True when the event woke us, False when the time ran out.
    if ms <= 0:
        return event.is_set()
    try:
        await asyncio.wait_for_ms(event.wait(), int(ms))
        return True
    except asyncio.TimeoutError:
        return False
