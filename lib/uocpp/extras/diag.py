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


def flash_written():
    # Bytes written to flash since boot: JSON files and the journal.
    import sys

    from uocpp.store import json_file

    journal = sys.modules.get("uocpp.store.journal")
    return json_file.written + (journal.written if journal else 0)


async def report_heap(interval_s):
    ms = int(interval_s * 1000)
    while True:
        await asyncio.sleep_ms(ms)
        alloc, free = heap()
        log.info("diag", "heap alloc=%d free=%d flash=%d", alloc, free, flash_written())
