"""Drive the unix port's EVSE simulator (simulator.port in config.json).

    python tools/evse.py plug 1
    python tools/evse.py card 1 ABC123
    python tools/evse.py state
    python tools/evse.py --port 7001 charge 1

One command per call (or several, separated by "+": plug 1 + card 1 TAG);
prints each reply line. Exit status 1 when a reply is "error ...".
The protocol (one line each way) is described in lib/uocpp/platform/evse_sim.py.
"""

import argparse
import socket
import sys


def send(lines, host="127.0.0.1", port=7001, timeout=15):
    """Send command lines; -> the reply line of each."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        f = s.makefile("rw", newline="\n")
        replies = []
        for line in lines:
            f.write(line + "\n")
            f.flush()
            replies.append(f.readline().rstrip("\n"))
        return replies


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=7001, help="the simulator's TCP port on 127.0.0.1 (default 7001, as config.json)")
    ap.add_argument("command", nargs="+", help="plug N | unplug N | charge N | suspend N | card N IDTAG | power N W | meter N WH | fault N CODE | clear N | lock N ok|fail | state")
    args = ap.parse_args(argv)
    lines = " ".join(args.command).split(" + ")
    try:
        replies = send(lines, port=args.port)
    except OSError as e:
        print("evse: cannot reach the simulator on 127.0.0.1:%d (%s); is the firmware running with simulator.port set?" % (args.port, e), file=sys.stderr)
        return 2
    for r in replies:
        print(r)
    return 1 if any(r.startswith("error") for r in replies) else 0


if __name__ == "__main__":
    sys.exit(main())
