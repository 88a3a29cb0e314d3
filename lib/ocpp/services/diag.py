# Debug hook: reports the live heap after a full collection, so a test (or an
# engineer on a serial console) can see that memory stays bounded under load.
# Off unless config.json sets log.heapEvery; started by the app.
import asyncio
import gc

from ocpp import log


async def report_heap(every_s):
    ms = int(every_s * 1000)
    while True:
        gc.collect()
        log.info("heap", "alloc=%d free=%d", gc.mem_alloc(), gc.mem_free())
        await asyncio.sleep_ms(ms)
