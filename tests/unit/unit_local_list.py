# model/local_list.py: the local authorization list on flash (C16 3.5,
# 5.15): lookup by binary search, Full and Differential updates, nothing
# changed by a bad entry or an over-long list, torn files, and the heap
# bound (1,000 entries held and searched in well under 2 KB).
import gc
import os

from check import TempDir, eq, raises

from uocpp import clock, log
from uocpp.model.local_list import REC, ListError, LocalList

log.set_level("error")


def entry(tag, status="Accepted", **extra):
    info = {"status": status}
    info.update(extra)
    return {"idTag": tag, "idTagInfo": info}


def tags(ll):
    return [t for t, _ in ll.entries()]


def test_full_update_and_lookup():
    with TempDir("ll") as d:
        ll = LocalList(d + "/ll.bin", lambda: 1000)
        eq(ll.reported_version(), 0, "empty")
        eq(ll.get("A"), None, "empty list")
        ll.replace(3, [entry("CHARLIE", "Blocked"), entry("ALICE", parentIdTag="FLEET", expiryDate="2099-01-01T00:00:00Z"), entry("BOB")])
        eq(ll.reported_version(), 3, "version")
        eq(tags(ll), ["ALICE", "BOB", "CHARLIE"], "sorted")
        eq(ll.get("ALICE"), {"status": "Accepted", "parentIdTag": "FLEET", "expiryDate": "2099-01-01T00:00:00Z"}, "ALICE")
        eq(ll.get("CHARLIE"), {"status": "Blocked"}, "CHARLIE")
        eq(ll.get("alice"), ll.get("ALICE"), "CiString20Type: case-insensitive")
        eq(ll.get("Charlie"), {"status": "Blocked"}, "mixed case")
        eq(ll.get("X" * 25), None, "too long to be listed")
        eq(os.stat(d + "/ll.bin")[6], 4 * REC, "size")
        again = LocalList(d + "/ll.bin", lambda: 1000)
        eq((again.version, again.count), (3, 3), "reopened")
        eq(again.get("BOB"), {"status": "Accepted"}, "reopened lookup")


def test_case_folded_order_and_duplicates():
    with TempDir("ll") as d:
        ll = LocalList(d + "/ll.bin", lambda: 1000)
        # By bytes "Zed" < "_x" < "alice"; folded "_x" < "alice" < "zed".
        ll.replace(1, [entry("alice"), entry("Zed", "Blocked"), entry("_x")])
        eq(tags(ll), ["_x", "alice", "Zed"], "sorted case-folded")
        eq(ll.get("ZED"), {"status": "Blocked"}, "found folded")
        eq(ll.get("_X"), {"status": "Accepted"}, "non-letters as they are")
        raises(ListError, ll.replace, 2, [entry("BOB"), entry("bob")])  # the same idTag twice, once folded
        ll.update(3, [entry("ZED"), {"idTag": "ALICE"}])
        eq(tags(ll), ["_x", "ZED"], "differential by folded idTag")


def test_ull1_list_is_rewritten_case_folded():
    with TempDir("ll") as d:
        path = d + "/ll.bin"
        ll = LocalList(path, lambda: 1000)
        ll.replace(4, [entry("alice"), entry("Zed"), entry("_x")])
        # The same entries as a ULL1 file sorted by bytes, as before.
        with open(path, "rb") as f:
            head, recs = f.read(REC), [f.read(REC) for _ in range(3)]
        recs.sort(key=lambda r: r[0:20])
        with open(path, "wb") as f:
            f.write(b"ULL1" + head[4:])
            for r in recs:
                f.write(r)
        again = LocalList(path, lambda: 1000)
        eq((again.version, again.count), (4, 3), "migrated")
        eq(tags(again), ["_x", "alice", "Zed"], "re-sorted")
        eq(again.get("ZED"), {"status": "Accepted"}, "found")
        with open(path, "rb") as f:
            eq(f.read(4), b"ULL2", "rewritten")


def test_expired_entry_reads_expired():
    with TempDir("ll") as d:
        ll = LocalList(d + "/ll.bin", lambda: 1000)
        past = clock.format_iso(clock.now() - 60)
        ll.replace(1, [entry("OLD", expiryDate=past), entry("BAD", "Blocked", expiryDate=past)])
        eq(ll.lookup("OLD")["status"], "Expired", "Accepted past its expiry")
        eq(ll.lookup("BAD")["status"], "Blocked", "Blocked stays Blocked")


def test_differential_adds_replaces_removes():
    with TempDir("ll") as d:
        ll = LocalList(d + "/ll.bin", lambda: 1000)
        ll.replace(1, [entry("B"), entry("D"), entry("F")])
        ll.update(2, [entry("A"), entry("D", "Blocked"), {"idTag": "F"}, {"idTag": "NOPE"}, entry("G")])
        eq(tags(ll), ["A", "B", "D", "G"], "merged")
        eq(ll.get("D"), {"status": "Blocked"}, "replaced")
        eq((ll.version, ll.count), (2, 4), "version and count")
        ll.update(3, [{"idTag": t} for t in ("A", "B", "D", "G")])
        eq(ll.reported_version(), 0, "emptied: version 0")


def test_bad_entry_or_too_many_changes_nothing():
    with TempDir("ll") as d:
        path = d + "/ll.bin"
        ll = LocalList(path, lambda: 4)
        ll.replace(1, [entry("A"), entry("B")])
        before = open(path, "rb").read()
        bad = [
            [entry("C"), entry("X" * 21), entry("D")],
            [entry("C"), entry("D", "Maybe")],
            [entry("C"), entry("D", expiryDate="tomorrow")],
            [entry("C"), {"idTag": "D"}],  # Full without idTagInfo
            [entry("C"), entry("C")],
            [entry("C"), {"idTag": "D", "idTagInfo": {"status": "Accepted"}, "x": 1}],
            [entry(t) for t in "CDEFG"],  # over the maximum
        ]
        for items in bad:
            raises(ListError, ll.replace, 2, items)
        raises(ListError, ll.update, 2, [entry("C"), entry("D"), entry("E")])
        raises(ListError, ll.update, 2, [entry("C"), 7])
        eq(open(path, "rb").read(), before, "file unchanged")
        eq((ll.version, ll.count), (1, 2), "state unchanged")
        ll.update(2, [entry("C"), {"idTag": "A"}, entry("D"), entry("E")])
        eq(tags(ll), ["B", "C", "D", "E"], "a removal makes room")


def test_the_same_full_list_again_writes_nothing():
    # A central system that sends its whole list again (at every boot)
    # rewrote the file each time: 64 bytes an entry.
    with TempDir("ll") as d:
        path = d + "/ll.bin"
        ll = LocalList(path, lambda: 1000)
        ll.replace(3, [entry("B"), entry("a", expiryDate="2027-01-01T00:00:00Z")])
        before = os.stat(path)
        for items in ([entry("a", expiryDate="2027-01-01T00:00:00Z"), entry("B")], [entry("B"), entry("a", expiryDate="2027-01-01T00:00:00Z")]):
            ll.replace(3, items)
            eq(os.stat(path), before, "not written")  # the same inode, size and times
            eq(tags(ll), ["a", "B"], "the list")
        for version, items in ((4, [entry("B"), entry("a", expiryDate="2027-01-01T00:00:00Z")]), (4, [entry("B", "Blocked"), entry("a")]), (4, [entry("B")])):
            ll.replace(version, items)
            eq((ll.version, ll.count, LocalList(path, lambda: 1000).get("B")["status"]), (version, len(items), items[0]["idTagInfo"]["status"]), "written")
        ll.replace(0, [])
        before = os.stat(path)
        ll.replace(0, [])
        eq(os.stat(path), before, "an empty list again")


def test_torn_file_and_leftover_tmp():
    with TempDir("ll") as d:
        path = d + "/ll.bin"
        ll = LocalList(path, lambda: 1000)
        ll.replace(5, [entry("A"), entry("B")])
        good = open(path, "rb").read()
        with open(path + ".tmp", "wb") as f:
            f.write(good[: 2 * REC])  # an update cut short
        ll = LocalList(path, lambda: 1000)
        eq((ll.version, ll.count), (5, 2), "old list kept, torn tmp dropped")
        raises(OSError, os.stat, path + ".tmp")
        os.rename(path, path + ".tmp")  # FAT: the old one removed, the new one not yet renamed
        ll = LocalList(path, lambda: 1000)
        eq((ll.version, ll.count), (5, 2), "complete tmp taken")
        with open(path, "wb") as f:
            f.write(good[: 2 * REC + 5])
        ll = LocalList(path, lambda: 1000)
        eq((ll.version, ll.count), (0, 0), "torn list reads empty")


def test_a_corrupt_record_fails_no_card():
    # A record whose status byte or expiryDate is garbage (a bit flipped on
    # flash; the file's size still matches its header) raised ValueError
    # from the lookup: the card's Authorize was never sent, every card of
    # that idTag refused even online. Not listed, it is asked for.
    with TempDir("ll") as d:
        path = d + "/ll.bin"
        LocalList(path, lambda: 1000).replace(5, [entry("A"), entry("B", expiryDate="2099-01-01T00:00:00Z")])
        with open(path, "r+b") as f:
            f.seek(REC + 20)
            f.write(b"Z")  # A's status
            f.seek(2 * REC + 41)
            f.write(b"x")  # B's expiryDate
        ll = LocalList(path, lambda: 1000)
        eq((ll.lookup("A"), ll.lookup("B")), (None, None), "not listed")


def test_an_update_the_flash_refuses_gives_its_room_back():
    # A SendLocalList that fills the flash (OSError 28) is Failed, the old
    # list stays; its half-written temp file stayed too, holding the flash
    # full until the next boot or update: tx.json could not be written, and
    # no transaction could start meanwhile.
    with TempDir("ll") as d:
        path = d + "/ll.bin"
        ll = LocalList(path, lambda: 1000)
        ll.replace(1, [entry("A")])
        from unit_journal import FailingWrites  # (its writes fail after `left` more: a full flash)

        begin = ll._begin
        ll._begin = lambda version, count: FailingWrites(begin(version, count), 2)
        raises(OSError, ll.replace, 2, [entry("T%03d" % i) for i in range(50)])
        raises(OSError, ll.update, 3, [entry("T%03d" % i) for i in range(50)])
        raises(OSError, os.stat, path + ".tmp")
        eq((ll.version, ll.count, tags(ll)), (1, 1, ["A"]), "the old list")


def test_thousand_entries_heap_bound():
    with TempDir("ll") as d:
        path = d + "/ll.bin"
        ll = LocalList(path, lambda: 1000)
        for k in range(10):  # ten Differential updates of 100 (SendLocalListMaxLength)
            ll.update(k + 1, [entry("TAG%05d" % (i * 10 + k), "Accepted" if i % 3 else "Blocked") for i in range(100)])
        eq(ll.count, 1000, "1,000 entries")
        eq(os.stat(path)[6], 1001 * REC, "size")
        ll = None
        gc.collect()
        base = gc.mem_alloc()
        ll = LocalList(path, lambda: 1000)  # opening reads the header only
        gc.collect()
        hold = gc.mem_alloc() - base
        eq(ll.get("TAG00999"), {"status": "Blocked"}, "last")
        eq(ll.get("TAG00989"), {"status": "Accepted"}, "near the end")
        eq(ll.get("TAG00000"), {"status": "Blocked"}, "first")
        eq(ll.get("TAG01000"), None, "absent")
        gc.collect()
        before = gc.mem_alloc()
        peak = 0
        for i in range(0, 1000, 7):
            gc.collect()
            start = gc.mem_alloc()
            ll.lookup("TAG%05d" % i)
            peak = max(peak, gc.mem_alloc() - start)
        gc.collect()
        after = gc.mem_alloc()
        print("HEAP hold %d B, one lookup allocates at most %d B, retained after lookups %d B" % (hold, peak, after - before))
        assert hold < 2048, "holding costs %d B" % hold
        assert peak < 2048, "a lookup allocates %d B" % peak
        assert after - before < 64, "lookups retain %d B" % (after - before)
        prev = None
        for tag, _ in ll.entries():
            assert prev is None or prev < tag
            prev = tag


def test_an_expiry_past_the_year_9999_in_utc_does_not_break_its_look_up():
    # "9999-12-31T23:59:59-23:59" is a valid RFC 3339 date-time (a year of
    # four digits) for 10000-01-01T23:58:59Z: stored as Unix seconds, read
    # back as "10000-...", which no look-up could parse (ValueError at every
    # presentation of the card).
    with TempDir("ll") as d:
        ll = LocalList(d + "/ll.bin", lambda: 1000)
        ll.replace(1, [entry("ALICE", expiryDate="9999-12-31T23:59:59-23:59")])
        eq(ll.lookup("ALICE"), {"status": "Accepted", "expiryDate": "9999-12-31T23:59:59Z"}, "far future")


def test_a_list_version_too_long_for_the_header_fails_and_changes_nothing():
    # listVersion is a JSON integer without a bound (1.6 SendLocalList.req):
    # one of 60 digits made a header longer than its 64-byte record, so the
    # records after it were read misaligned (a wrong card's entry at a
    # look-up) and, after a restart, the list read as torn: empty. It is
    # Failed now (ops/send_local_list.py), the list in force unchanged.
    with TempDir("ll") as d:
        ll = LocalList(d + "/ll.bin", lambda: 1000)
        ll.replace(1, [entry("ALICE"), entry("BOB", "Blocked")])
        raises(ListError, ll.replace, 10**60, [entry("ALICE"), entry("BOB", "Blocked"), entry("CAROL")])
        raises(ListError, ll.update, -(10**60), [entry("CAROL")])
        eq((ll.version, ll.count), (1, 2), "unchanged")
        eq(ll.get("BOB"), {"status": "Blocked"}, "look-up")
        again = LocalList(d + "/ll.bin", lambda: 1000)
        eq((again.version, again.count, tags(again)), (1, 2, ["ALICE", "BOB"]), "reopened")
