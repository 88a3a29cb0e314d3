# MicroPython worker for test_security_events' SIGKILL test: records events in
# the security log (lib/uocpp/security_log.py) as fast as it can, printing
# "rec N" before each record and "ack N" once it returned (on flash).
import sys

from uocpp import security_log

where = [sys.argv[1], None, False, None, {}]  # as security_event.py keeps it
n = int(sys.argv[2])
while True:
    print("rec", n)
    security_log.record(where, "TamperDetectionActivated", "n=%d" % n)
    print("ack", n)
    n += 1
