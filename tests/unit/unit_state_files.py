# The JSON state files at boot (tx.json, connectors.json, reservations,
# the authorization cache, charging profiles): a file of another shape than
# this firmware writes (a bit flipped, another version's, edited by hand)
# loads what fits and stops no boot; local ids never come again, not even
# when tx.json was lost; a transaction on a connector no longer configured
# is stopped at boot, not the boot; a file left as its lone temp file is
# taken as the file; the same meter reading is not written twice, nor an
# empty cache cleared again; a file read with no heap is not taken as
# corrupt; a raised SecurityProfile's fall-back is on flash before it.
import json
import os

from check import TempDir, eq, raises

from uocpp import lazy, log
from uocpp.model.connectors import Connectors
from uocpp.model.state import State
from uocpp.model.transactions import Transactions
from uocpp.services import power_loss
from uocpp.services.start_stop import StartStop
from uocpp.store import json_file

log.set_level("error")

T0 = "2026-12-02T00:00:00Z"


def put(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def tx_entry(c, remote=None, wh=100):
    return {"c": c, "tag": "ALICE", "start": 0, "t": T0, "wh": wh, "remote": remote, "p": None}


def test_tx_json_of_another_shape_loads_what_fits():
    good = tx_entry(1, 42)
    for saved in (
        [],
        5,
        {"run": []},
        {"next": "x", "run": {}},
        {"next": None, "run": {"1": 5}},
        {"next": 3, "run": {"1": {}}},
        {"next": 3, "run": {"x": good}},
        {"next": 3, "run": {}, "remote": []},
        {"next": 3, "run": {}, "remote": {"x": 5, "2": "7"}},
        {"next": 3, "run": {}, "fix": [], "remote": {"y": 1}},
        {"next": 3, "run": {}, "fix": {"sx": T0, "s": T0, "e2": 5, "e0": T0}},
    ):
        with TempDir("tx") as d:
            put(d + "/tx.json", saved)
            tx = Transactions(d + "/tx.json")
            eq((tx.running, tx._remote, tx.fixed), ({}, {}, {}), "nothing of %r" % (saved,))
            eq(tx.running_on(1), None, "no transaction")
            eq(tx.begin(1, "BOB", 0, T0) >= 1, True, "a transaction starts")
            # Power-loss recovery reads what is left (it failed on a key that
            # is no integer, an entry with no "remote", ...: every boot).
            power_loss.recover(Stub(tx), [])
    with TempDir("tx") as d:
        put(d + "/tx.json", {"next": 9, "run": {"3": good, "4": 5}, "remote": {"5": 77, "x": 1}, "fix": {"s3": T0, "e5": T0, "e-5": T0}})
        tx = Transactions(d + "/tx.json")
        eq((list(tx.running), tx._remote, tx.fixed), (["3"], {"5": 77}, {"s3": T0, "e5": T0}), "what fits stays")
        eq(tx.begin(2, "BOB", 0, T0), 9, "next")


def test_local_ids_never_come_again():
    with TempDir("tx") as d:
        # "next" lost or behind: above every id the file names ...
        put(d + "/tx.json", {"run": {"7": tx_entry(1)}, "remote": {"12": 5}})
        eq(Transactions(d + "/tx.json").begin(2, "BOB", 0, T0), 13, "above the file's ids")
        # ... and above every id the journal names (tx.json lost: its Start,
        # meter values and Stop still wait for local 4; a new local 4 would
        # take its transactionId and its stop).
        os.remove(d + "/tx.json")
        tx = Transactions(d + "/tx.json")
        power_loss.recover(Stub(tx), [("StopTransaction", 3), ("StartTransaction", 4), ("MeterValues", 4), ("SecurityEventNotification", None)])
        eq(tx.begin(1, "BOB", 0, T0), 5, "above the journal's ids")
        eq(Transactions(d + "/tx.json").begin(1, "EVE", 0, T0), 6, "and on flash")


class Meter:
    def __init__(self, count):
        self.failed = [False] * (count + 1)

    def energy_wh(self, n):
        return 5000


class Outbox:
    def __init__(self, full=False):
        self.full = full
        self.kept = []

    def last_reading(self, local):
        return None

    def store(self, action, payload, tag=None):
        if self.full:
            raise OSError(28)
        self.kept.append((action, payload, tag))


class Evse:
    def __init__(self, count):
        self.count = count


class Stub(StartStop):
    # What power_loss.recover reads of the Sessions.
    def __init__(self, tx, count=1, outbox=None):
        self._tx = tx
        self.evse = Evse(count)
        self._metering = Meter(count)
        self._outbox = outbox or Outbox()
        self._stopping = [None] * (count + 1)
        self._retry_at = None
        self._unset_stop = {}


def test_a_transaction_on_a_connector_no_longer_configured_is_stopped_at_boot():
    # connectors.count lowered from 2 to 1 while a transaction ran on
    # connector 2 (or a power cut during it): the recovery failed with an
    # IndexError at every boot, and the charger reset every 5 s for ever.
    with TempDir("tx") as d:
        put(d + "/tx.json", {"next": 3, "run": {"2": tx_entry(2, 55, 1234)}})
        tx = Transactions(d + "/tx.json")
        s = Stub(tx, 1, Outbox(full=True))
        power_loss.recover(s, [])  # its stop cannot be stored yet: still no failure
        eq(list(tx.running), ["2"], "kept for the next boot")
        eq(s._stopping, [None, None], "held on no connector")
        s._outbox.full = False
        power_loss.recover(s, [])
        eq(tx.running, {}, "stopped")
        action, payload, tag = s._outbox.kept[0]
        eq((action, tag, payload["meterStop"], payload["reason"]), ("StopTransaction", 2, 1234, "PowerLoss"), "its PowerLoss stop, the reading on flash")
        eq(tx.remote(2), 55, "its transactionId kept for the stop")


def test_connectors_json_of_another_shape_is_all_operative():
    for saved in ({"inoperative": 5}, {"inoperative": None}, {"inoperative": "12"}, [], 7):
        with TempDir("conn") as d:
            put(d + "/connectors.json", saved)
            c = Connectors(2, d + "/connectors.json", State())
            eq([c.operative(n) for n in (1, 2)], [True, True], repr(saved))
    with TempDir("conn") as d:
        put(d + "/connectors.json", {"inoperative": [2, "1", 9]})
        eq([Connectors(2, d + "/connectors.json", State()).operative(n) for n in (1, 2)], [True, False], "what fits")


def test_reservations_of_another_shape_fail_no_session():
    from uocpp.model.reservations import Reservations

    with TempDir("rsv") as d:
        exp = 4000000000
        put(d + "/r.json", {"x": {"c": 1, "tag": "A", "exp": exp}, "3": {"c": 1, "tag": "B", "exp": exp}, "4": {"c": 2, "tag": "C", "exp": exp, "parent": 5}})
        book = Reservations(d + "/r.json", Connectors(2, d + "/connectors.json", State()))
        eq(book.on(1), (3, {"c": 1, "tag": "B", "exp": exp, "parent": None}), "the one of this firmware's shape")
        eq((book.used_by(1, "b"), book.refuses(1, "Z"), book.on(2)), (3, True, None), "asked as a session asks")


def test_an_authorization_cache_of_another_shape_fails_no_card():
    from uocpp.model.auth_cache import AuthCache

    with TempDir("cache") as d:
        put(d + "/c.json", [5, ["A"], ["B", 5], [1, {}], ["C", {"status": "Accepted"}]])
        cache = AuthCache(d + "/c.json", lambda: True)
        eq((cache.lookup("X"), cache.lookup("c")), (None, {"status": "Accepted"}), "looked up")


def test_a_tx_profile_left_on_a_full_flash_stops_no_boot():
    from uocpp.model.profiles import Profiles

    e = {
        "id": 1,
        "c": 1,
        "level": 0,
        "purpose": "TxProfile",
        "kind": "Absolute",
        "rec": None,
        "from": None,
        "to": None,
        "start": 0,
        "dur": None,
        "unit": "A",
        "periods": [[0, 10, None]],
        "tx": 5,
    }
    with TempDir("prof") as d:
        put(d + "/p.json", [e])
        write = json_file.write_json_atomic

        def full(path, obj):
            raise OSError(28)

        json_file.write_json_atomic = full
        try:
            eq(Profiles(d + "/p.json", None).items, [], "the TxProfile dropped, in RAM")
        finally:
            json_file.write_json_atomic = write


def running(d):
    # tx.json in d with one transaction running on connector 1, its
    # transactionId 42: (the path, its local id).
    path = d + "/tx.json"
    tx = Transactions(path)
    local = tx.begin(1, "ALICE", 100, T0)
    tx.started(local, 42)
    return path, local


def test_a_file_left_as_its_lone_temp_file_is_taken_as_the_file():
    # FAT: a write killed between its remove and its rename leaves path.tmp
    # alone. Read, it becomes the file: the next write truncates path.tmp,
    # and a cut or a full flash then must not take the only copy.
    with TempDir("tmp") as d:
        path, local = running(d)
        os.rename(path, path + ".tmp")
        eq(lazy.held(path), True, "held (a part on flash is made at boot)")
        tx = Transactions(path)
        eq((json_file.exists(path), json_file.exists(path + ".tmp")), (True, False), "renamed")

        # The next write fails half way (a full flash), then the power goes.
        class Torn:
            def dump(obj, f, separators=None):
                f.write("{")
                raise OSError(28)

        json_file.json = Torn
        try:
            tx.reading(local, 200, "2026-12-02T00:01:00Z")
        finally:
            json_file.json = json
        eq(tx.dirty, True, "behind")
        tx = Transactions(path)
        eq((tx.running_on(1), tx.remote(local)), (local, 42), "the transaction and its transactionId")


def test_the_same_reading_is_not_written_twice():
    # Triggered MeterValues, as often as the central system asks: a rewrite
    # of tx.json each time wore the flash for nothing.
    with TempDir("tx") as d:
        tx = Transactions(d + "/tx.json")
        local = tx.begin(1, "ALICE", 100, T0)
        tx.reading(local, 150, "2026-12-02T00:01:00Z")
        before = json_file.written
        for _ in range(5):
            tx.reading(local, 150, "2026-12-02T00:01:00Z")
        eq(json_file.written, before, "bytes written")
        tx.reading(local, 150, "2026-12-02T00:01:01Z")
        eq(json_file.written > before, True, "a later time is written")
        eq(Transactions(d + "/tx.json").get(local)["wt"], "2026-12-02T00:01:01Z", "on flash")


def test_a_file_read_with_no_heap_is_not_taken_as_corrupt():
    # A MemoryError while reading tx.json at boot gave the defaults: no
    # transaction running, and power-loss recovery wrote them over the file
    # (every running transaction and waiting transactionId gone for good).
    # It goes up now (at boot: the reset), and the file is as it was.
    with TempDir("tx") as d:
        path, local = running(d)

        class NoHeap:
            def load(f):
                raise MemoryError("memory allocation failed, allocating 1024 bytes")

        json_file.json = NoHeap
        try:
            got = None
            try:
                got = Transactions(path).running
            except MemoryError:
                pass
        finally:
            json_file.json = json
        eq(got, None, "no transactions read as none")
        tx = Transactions(path)
        eq((tx.running_on(1), tx.remote(local)), (local, 42), "the file as it was")


def test_clear_cache_on_an_empty_cache_writes_nothing():
    from uocpp.model.auth_cache import AuthCache

    with TempDir("cache") as d:
        cache = AuthCache(d + "/c.json", lambda: True)
        before = json_file.written
        cache.clear()
        eq((json_file.written, json_file.exists(d + "/c.json")), (before, False), "nothing on flash to clear")
        cache.update("ALICE", {"status": "Accepted"})
        cache = AuthCache(d + "/c.json", lambda: True)
        cache.clear()
        eq((len(cache), len(AuthCache(d + "/c.json", lambda: True))), (0, 0), "cleared, on flash")
        before = json_file.written
        for _ in range(3):
            cache.clear()
        eq(json_file.written, before, "cleared again: nothing written")


class Sec:
    # What link/security_change.py reads of the link's Security.
    def __init__(self, d, profile):
        from fakes import Keys

        self.profile = profile
        self._keys = Keys(AuthorizationKey="password-sixteen")
        self._secure_url = ""
        self._ca_file = None
        self._flash = d
        self._trial_path = d + "/security.json"


def test_a_raised_security_profile_has_its_fall_back_on_flash_first():
    # ChangeConfiguration SecurityProfile 0 -> 1: keys.json takes the new
    # profile before the reply, the fall-back was written only after the
    # reply had gone out. A power cut in between: the new profile, nothing
    # to fall back to, and a profile that cannot connect kept the charger
    # offline for good. Now the fall-back is on flash once the change is
    # allowed, before keys.json is written.
    from uocpp.link import security_change

    with TempDir("sec") as d:
        sec = Sec(d, 0)
        eq(security_change.allows(sec, 1), True, "allowed")
        eq(json_file.read_json(d + "/security.json", None), {"fallback": 0}, "the fall-back on flash")
        # The power goes now (keys.json holds 1): the next boot resumes the trial.
        sec.profile = 1
        security_change.resume(sec)
        eq(sec._fallback, 0, "falls back to 0 if 1 cannot connect")
        # A change that keys.json then refused leaves a record naming the
        # profile in force: no trial at the next boot.
        sec = Sec(d, 0)
        security_change.allows(sec, 1)
        sec._fallback = None
        security_change.resume(sec)
        eq(sec._fallback, None, "no trial")
        # A flash that cannot keep the fall-back: the raise is refused.
        write = json_file.write_json_atomic

        def full(path, obj):
            raise OSError(28)

        json_file.write_json_atomic = full
        try:
            eq(security_change.allows(Sec(d, 0), 1), False, "refused")
        finally:
            json_file.write_json_atomic = write


def test_a_cached_tag_answered_the_same_again_writes_nothing():
    # An idTag cached but not the most recent, answered again with the same
    # idTagInfo (every session of a charger with two cards), rewrote the
    # whole cache file just to reorder it: flash wear for nothing.
    from uocpp.model.auth_cache import AuthCache

    with TempDir("cache") as d:
        cache = AuthCache(d + "/c.json", lambda: True)
        cache.update("ALICE", {"status": "Accepted"})
        cache.update("BOB", {"status": "Accepted"})
        before = json_file.written
        cache.update("ALICE", {"status": "Accepted"})
        cache.update("BOB", {"status": "Accepted"})
        eq(json_file.written, before, "bytes written")
        cache.update("ALICE", {"status": "Blocked"})
        eq(json_file.written > before, True, "a change is written")
        eq(AuthCache(d + "/c.json", lambda: True).lookup("ALICE"), {"status": "Blocked"}, "on flash")


def test_reservations_the_flash_refuses_are_not_accepted():
    # A full flash (OSError 28): ReserveNow Accepted but not on flash is a
    # reservation a reboot forgets (C16 5.13: the connector then serves
    # anyone); CancelReservation Accepted but still on flash is one a
    # reboot brings back, Reserved for a cancelled idTag until its expiry.
    # The answer and RAM follow what the flash holds.
    from uocpp.model.reservations import Reservations
    from uocpp.ops import cancel_reservation, reserve_now

    with TempDir("rsv") as d:
        conns = Connectors(2, d + "/connectors.json", State())
        book = Reservations(d + "/r.json", conns)
        ask = {"connectorId": 1, "expiryDate": "2096-01-01T00:00:00Z", "idTag": "ALICE", "reservationId": 7}
        write = json_file.write_json_atomic

        def full(path, obj):
            raise OSError(28)

        json_file.write_json_atomic = full
        try:
            got = reserve_now.handle(ask, book, conns)["status"]
        finally:
            json_file.write_json_atomic = write
        eq((got, book.on(1), conns.status(1)), ("Rejected", None, "Available"), "ReserveNow not stored: not Accepted")
        eq(reserve_now.handle(ask, book, conns)["status"], "Accepted")
        json_file.write_json_atomic = full
        try:
            got = cancel_reservation.handle({"reservationId": 7}, book)["status"]
        finally:
            json_file.write_json_atomic = write
        eq((got, book.on(1) is not None, conns.status(1)), ("Rejected", True, "Reserved"), "cancel not stored: not Accepted")
        eq(Reservations(d + "/r.json", Connectors(2, d + "/c2.json", State())).on(1)[0], 7, "as on flash")
        eq(cancel_reservation.handle({"reservationId": 7}, book)["status"], "Accepted")
        eq(Reservations(d + "/r.json", Connectors(2, d + "/c2.json", State())).on(1), None, "cancelled on flash")


class _Root:
    # What pki/store.py takes of a der.Cert.
    def __init__(self, n):
        self.der, self.key, self.serial, self.issuer = b"DER%d" % n, b"key%d" % n, n, None

    def part(self, _):
        return self.der


def test_a_root_the_index_cannot_take_leaves_the_roots_it_names():
    # A full flash (OSError 28) after the new root's DER took the last room:
    # index.json is not rewritten (InstallCertificate Failed), so every root
    # file it still names must still be there. The root on trial was
    # deleted first: the link then found no file for the root it trusts
    # (an OSError from the TLS context at every attempt: offline at
    # profile 2 and 3).
    from uocpp.pki import store as ps

    with TempDir("certs") as d:
        try:
            s = ps.Store(d)
            s.add(ps.CS_ROOT, _Root(0))
            s.connected(False)
            s.add(ps.CS_ROOT, _Root(1), s.entries(ps.CS_ROOT))  # on trial, C0 the fall-back
            write = json_file.write_json_atomic

            def full(path, obj):
                raise OSError(28)

            json_file.write_json_atomic = full
            try:
                raises(OSError, s.add, ps.CS_ROOT, _Root(2), [e for e in s.entries(ps.CS_ROOT) if e[1] not in s.idx["old"]])
            finally:
                json_file.write_json_atomic = write
            again = ps.Store(d)
            eq((again.trusted(False), again.trusted(True)), ([b"DER1"], [b"DER0"]), "the roots the index names")
            eq(sorted(os.listdir(d + "/certs")), ["C0.der", "C1.der", "index.json"], "and no other file")
        finally:
            for name in os.listdir(d + "/certs"):
                os.remove(d + "/certs/" + name)
            os.rmdir(d + "/certs")


def test_a_charge_point_key_left_as_its_lone_pending_file_is_taken():
    # FAT: CertificateSigned killed between the remove and the rename of
    # cp.new over cp.key (json_file.replace) leaves the new key as cp.new
    # alone, beside the checked certificate waiting as cp.crt.new: each
    # reader adopts the lone source (json_file.replace). Not adopted, there
    # was no cp.key to load and profile 3 never connected again.
    from uocpp.pki import identity as idn

    class Ctx:
        def load_cert_chain(self, cert, key):
            self.pair = (cert, key)

    with TempDir("certs") as d:
        os.mkdir(d + "/certs")
        try:
            for name, data in (("cp.crt", b"old cert"), ("cp.crt.new", b"new cert"), ("cp.new", b"new key")):
                with open(d + "/certs/" + name, "wb") as f:
                    f.write(data)
            ctx = Ctx()
            idn.load(ctx, d)
            eq(ctx.pair, (b"new cert", b"new key"), "the new pair")
        finally:
            for name in os.listdir(d + "/certs"):
                os.remove(d + "/certs/" + name)
            os.rmdir(d + "/certs")


def test_a_raised_profile_that_connected_is_on_trial_no_more_on_a_full_flash():
    # SecurityProfile 1 -> 2 connected: the trial is over. A full flash
    # (OSError 28) kept security.json naming the fall-back, so the next boot
    # put profile 2 on trial again, and three failed connections then (the
    # central system down for a minute) lowered the security for good
    # (SEC-12 falls back only from a profile that never connected).
    from uocpp.link import security_change

    with TempDir("sec") as d:
        sec = Sec(d, 1)
        security_change.raised(sec, 2)
        write = json_file.write_json_atomic

        def full(path, obj):
            raise OSError(28)

        json_file.write_json_atomic = full
        try:
            security_change.settled(sec, None)
        finally:
            json_file.write_json_atomic = write
        eq(sec._fallback, None, "kept")
        again = Sec(d, 2)
        again._fallback = None  # (as link/security.py starts it)
        security_change.resume(again)
        eq(again._fallback, None, "and no trial at the next boot")
