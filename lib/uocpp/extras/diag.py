# Heap report for benchmarks and soak runs: every log.heapInterval seconds
# (0, the default, = off) one line "heap alloc=N free=M flash=F queued=Q"
# with the live heap after gc.collect(), the bytes written to flash since
# boot and the messages the outbox holds (a heap measured while some are
# queued holds them and their task frames), then MicroPython's line on the
# interned names.
# Imported only when enabled, so it costs nothing else.
import asyncio
import gc

try:
    from micropython import qstr_info
except ImportError:  # a port built without it: no line

    def qstr_info():
        pass


from uocpp import log


def heap():
    # (bytes in use, bytes free) after a full collection.
    gc.collect()
    return gc.mem_alloc(), gc.mem_free()


async def report_heap(interval_s, outbox):
    import sys

    from uocpp.store import json_file

    ms = int(interval_s * 1000)
    while True:
        await asyncio.sleep_ms(ms)
        alloc, free = heap()
        # Bytes written to flash since boot: JSON files, the journal and the
        # persistent log (each counted where it writes; a module not loaded
        # wrote nothing).
        flash = json_file.written
        for name in ("uocpp.store.journal", "uocpp.log_ring"):
            m = sys.modules.get(name)
            flash += m.written if m else 0
        log.info("diag", "heap alloc=%d free=%d flash=%d queued=%d", alloc, free, flash, len(outbox))
        # The interned names: "qstr pool: n_pool=.., n_qstr=.., ..." on
        # stdout (bench/fit.py reads n_qstr; docs/memory.md on the pools).
        qstr_info()
