# Runs on MicroPython for tests/test_local_list.py, which SIGKILLs it:
#   micropython local_list_worker.py <list path> <seed>
# Opens the local list (model/local_list.py) and checks it against the
# content its version stands for ("state <version> <count> ok|BAD"), then
# writes version after version, each a Full or a Differential update of up to
# 1,000 entries, until killed: "writing <v> Full|Differential" before, and
# "written <v>" after each update returned, one write per line.
import sys
import random

from uocpp.model.local_list import LocalList

STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")


def say(line):
    sys.stdout.write(line + "\n")


def size(v):
    return 0 if v == 0 else (v * 397) % 1001


def info(v, i):
    out = {"status": STATUSES[(i + v) % 5]}
    if (i + v) % 3 == 0:
        out["parentIdTag"] = "P%d" % v
    return out


def content(v):
    return [{"idTag": "T%04d" % i, "idTagInfo": info(v, i)} for i in range(size(v))]


def check(ll):
    v = ll.version if ll.count else 0
    if ll.count != size(v) and not (ll.count == 0 and size(ll.version) == 0):
        return False
    i = 0
    for tag, got in ll.entries():
        if tag != "T%04d" % i or got != info(ll.version, i):
            return False
        i += 1
    return i == ll.count


def main():
    path, seed = sys.argv[1], int(sys.argv[2])
    random.seed(seed)
    ll = LocalList(path, lambda: 1000)
    say("state %d %d %s" % (ll.version, ll.count, "ok" if check(ll) else "BAD"))
    while True:
        v = ll.version + 1
        if random.getrandbits(2) == 0:
            say("writing %d Full" % v)
            ll.replace(v, content(v))
        else:
            say("writing %d Differential" % v)
            n = max(size(v), size(v - 1))
            ll.update(v, [{"idTag": "T%04d" % i, "idTagInfo": info(v, i)} if i < size(v) else {"idTag": "T%04d" % i} for i in range(n)])
        say("written %d" % v)


main()
