# Heap report for benchmarks and soak runs: every log.heapInterval seconds
# (0, the default, = off) one line "heap alloc=N free=M" with the live heap
# after gc.collect(). Imported only when enabled, so it costs nothing else.
import asyncio
import gc

from uocpp import log


def heap():
    # (bytes in use, bytes free) after a full collection.
    gc.collect()
    return gc.mem_alloc(), gc.mem_free()


async def report_heap(interval_s):
    ms = int(interval_s * 1000)
    while True:
        await asyncio.sleep_ms(ms)
        alloc, free = heap()
        log.info("diag", "heap alloc=%d free=%d", alloc, free)
