# Runs on MicroPython (bench/schedule.py starts it): the composite schedule
# with `count` profiles of `periods` periods each, every purpose and kind,
# on one connector during a transaction. Prints "alloc=<bytes kept after>
# peak=<bytes one composite() allocates> us=<microseconds per composite()>
# limit_us=<per limit_at()> periods=<n>".
import gc
import sys
import time

from uocpp.services import schedule

count, periods, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
purposes = (schedule.CP_MAX, schedule.DEFAULT, schedule.TX)
kinds = ("Absolute", "Recurring", "Relative")
now = 1764633600  # 2025-12-02T00:00:00Z
profiles = []
for i in range(count):
    purpose = purposes[i % 3]
    profiles.append({
        "id": i + 1, "c": 0 if purpose == schedule.CP_MAX else 1, "level": i // 3, "purpose": purpose,
        "kind": kinds[i % 3], "rec": "Daily" if kinds[i % 3] == "Recurring" else None,
        "from": None, "to": None, "start": now - 3600, "dur": None, "unit": "A" if i % 2 else "W",
        "periods": [[k * 600, 6.0 + (i + k) % 26 if i % 2 else 4140.0 + 100 * ((i + k) % 50), None] for k in range(periods)],
    })
gc.collect()
before = gc.mem_alloc()
out = schedule.composite(profiles, now, 86400, 1, now - 60, 230, 3, 32)
peak = gc.mem_alloc() - before  # everything one call allocates, garbage included
out = None
t0 = time.ticks_us()
for _ in range(rounds):
    schedule.composite(profiles, now, 86400, 1, now - 60, 230, 3, 32)
took = time.ticks_diff(time.ticks_us(), t0)
t0 = time.ticks_us()
for k in range(rounds * 10):
    schedule.limit_at(profiles, now + k * 7, 1, now - 60, 230, 3)
limit_us = time.ticks_diff(time.ticks_us(), t0) / (rounds * 10)
out = None
gc.collect()
print("alloc=%d peak=%d us=%d limit_us=%d periods=%d" % (gc.mem_alloc() - before, peak, took // rounds, limit_us, len(schedule.composite(profiles, now, 86400, 1, now - 60, 230, 3, 32))))
