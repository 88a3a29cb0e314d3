# The authorizer in use (issue 24): an Authorize awaiting its answer keeps
# authorization in the heap, whoever asked (a card, a remote start); the
# session's rest (services/sessions.py _rest) drops it only once none is.
import sys

import asyncio
from check import TempDir, eq
from fakes import Keys, Outbox  # the Outbox takes the Authorize.req; the test answers it

from uocpp import log
from uocpp.lazy import OnUse
from uocpp.services.sessions import Sessions

log.set_level("error")
_MODULES = ("uocpp.services.authorize", "uocpp.model.auth_cache")


class Link:
    def __init__(self):
        self.up = asyncio.Event()
        self.up.set()


class Resting:
    # What Sessions._rest reads of its Sessions: no card being decided.
    def __init__(self, auth):
        self._auth = auth
        self._asking = 0
        self._decided = []
        self._pending = [None, None]


def door(directory, outbox):
    def make():
        from uocpp.model.auth_cache import AuthCache
        from uocpp.services.authorize import Authorizer

        keys = Keys(LocalPreAuthorize=False, LocalAuthListEnabled=False, MessageTimeout=5)
        cache = AuthCache(directory + "/auth_cache.json", lambda: True)
        return Authorizer(outbox, Link(), keys, cache, directory + "/local_list.bin")

    return OnUse(make, _MODULES)


async def test_an_authorize_awaiting_its_answer_keeps_authorization():
    with TempDir("auth") as d:
        outbox = Outbox()
        auth = door(d, outbox)
        s = Resting(auth)
        asked = asyncio.create_task(auth.authorize("ALICE"))
        await asyncio.sleep_ms(0)
        eq((len(outbox.msgs), auth.obj.busy), (1, 1), "the Authorize.req is out and awaited")
        Sessions._rest(s)  # a transaction starting elsewhere (a remote start's Authorize is not a card)
        eq((bool(auth), all(m in sys.modules for m in _MODULES)), (True, True), "kept while its answer is awaited")
        outbox.msgs[0]._finish({"idTagInfo": {"status": "Accepted"}}, None)
        eq(await asked, {"status": "Accepted"}, "the answer")
        eq(auth.obj.busy, 0, "none awaited")
        Sessions._rest(s)
        eq((bool(auth), any(m in sys.modules for m in _MODULES)), (False, False), "dropped once none is awaited")


class Starting(Resting):
    # A card decided Accepted starts a transaction at once (an EV plugged
    # in): start() rests first (Sessions._rest), before its StartTransaction
    # goes to the journal. kept: whether authorization was still in the heap
    # then, once per start.
    def __init__(self, auth):
        super().__init__(auth)
        self.kept = []

    def authorized(self, n, id_tag, parent=None):
        Sessions._rest(self)
        self.kept.append((bool(self._auth), any(m in sys.modules for m in _MODULES)))


def test_a_card_that_starts_a_transaction_lets_authorization_go_before_the_start_is_stored():
    # The session's peak is the StartTransaction going to the journal: the
    # card's task has counted itself out when it handed its decision back,
    # and the loop takes the decision off before card handling starts the
    # transaction, so the start finds no card being decided and
    # authorization leaves first (it stayed, with the cache, when the
    # decision was taken off after).
    from uocpp.services import cards

    with TempDir("auth") as d:
        auth = door(d, Outbox())
        auth.get()  # loaded for the card's Authorize
        s = Starting(auth)
        s._decided.append((1, "ALICE", None, {"status": "Accepted"}))
        decision = s._decided.pop(0)  # as the session loop hands it over (Sessions.run)
        cards.decide(s, *decision)
        eq(s.kept, [(False, False)], "authorization out of the heap when the transaction starts")
        eq((s._decided, s._asking), ([], 0), "the decision taken in, the count left as it was")


class Asking(Resting):
    # What a card's task reads and writes of its Sessions.
    def __init__(self, auth):
        super().__init__(auth)
        self.woken = 0

    def _again(self):
        self.woken += 1


class Never:
    # An authorizer whose answer never comes.
    async def authorize(self, id_tag):
        await asyncio.Event().wait()


class Broke:
    # An authorizer that finds no heap.
    async def authorize(self, id_tag):
        raise MemoryError("memory allocation failed, allocating 64 bytes")


async def test_a_card_task_counts_itself_out_however_it_ends():
    # Sessions._asking counts the cards being authorized beside the loop:
    # authorization stays in the heap and no new card is taken past the
    # limit while it is above 0, so each task counts itself out, whether it
    # hands a decision back, fails (then Invalid) or is cancelled.
    from uocpp.services import cards

    s = Asking(Broke())
    cards._ask(s, 1, "ALICE", None)
    eq(s._asking, 1, "counted once its task is made")
    await asyncio.sleep_ms(0)
    await asyncio.sleep_ms(0)
    eq((s._asking, s._decided, s.woken), (0, [(1, "ALICE", None, {"status": "Invalid"})], 1), "a failure decides Invalid")
    waiting = Asking(Never())
    waiting._asking = 1  # as _ask counts it
    task = asyncio.create_task(cards._authorize(waiting, 1, "BOB", None))
    await asyncio.sleep_ms(0)
    eq(waiting._asking, 1, "awaiting its answer")
    task.cancel()
    await asyncio.sleep_ms(0)
    eq((waiting._asking, waiting._decided, waiting.woken), (0, [], 0), "cancelled: counted out, nothing decided")


class Holder:
    # What ClearCache reads of the authorizer.
    def __init__(self, cache):
        self.cache = cache


class Stuck:
    # The os of a flash that takes no change at all: no file can be removed.
    def remove(self, path):
        raise OSError(5)


def test_a_clear_cache_that_does_not_reach_flash_is_rejected():
    # ClearCache.conf says whether the cache was cleared (C16 5.4): one whose
    # write fails (a full flash; here its temporary file cannot be made)
    # and whose file cannot be removed either leaves the entries on flash,
    # and the next authorizer made (after every transaction start, or a
    # reboot) reads them again. Removed, the cache is cleared all the same.
    import os

    from uocpp.model import auth_cache
    from uocpp.ops import clear_cache

    with TempDir("auth") as d:
        path = d + "/auth_cache.json"
        cache = auth_cache.AuthCache(path, lambda: True)
        cache.update("ALICE", {"status": "Accepted"})
        os.mkdir(path + ".tmp")
        auth_cache.os = Stuck()
        try:
            answer = clear_cache.handle({}, Holder(cache))
        finally:
            auth_cache.os = os
        eq(auth_cache.AuthCache(path, lambda: True).lookup("ALICE"), {"status": "Accepted"}, "still on flash")
        eq(answer, {"status": "Rejected"}, "the answer")
        try:
            answer = clear_cache.handle({}, Holder(cache))
        finally:
            os.rmdir(path + ".tmp")
        eq((answer, auth_cache.AuthCache(path, lambda: True).lookup("ALICE")), ({"status": "Accepted"}, None), "not written, but removed")
        cache.update("ALICE", {"status": "Accepted"})
        eq(clear_cache.handle({}, Holder(cache)), {"status": "Accepted"}, "cleared once flash takes it")
        eq(auth_cache.AuthCache(path, lambda: True).lookup("ALICE"), None, "gone from flash")


def test_an_idtaginfo_that_does_not_reach_flash_leaves_no_stale_entry_there():
    # The central system blocks a card the cache holds as Accepted, and the
    # write fails (a full flash; here its temporary file cannot be made):
    # the next authorizer made (after every transaction start, or a reboot)
    # must not read the old Accepted from flash and start that card offline.
    # Losing the cache costs Authorize.req, never a revoked card.
    import os

    from uocpp.model.auth_cache import AuthCache

    with TempDir("auth") as d:
        path = d + "/auth_cache.json"
        cache = AuthCache(path, lambda: True)
        cache.update("ALICE", {"status": "Accepted"})
        os.mkdir(path + ".tmp")
        try:
            cache.update("ALICE", {"status": "Blocked"})
        finally:
            os.rmdir(path + ".tmp")
        eq(cache.lookup("ALICE"), {"status": "Blocked"}, "in RAM")
        eq(AuthCache(path, lambda: True).lookup("ALICE"), None, "read from flash again")


async def test_an_authorize_answered_with_a_callerror_is_not_decided_by_the_offline_rules():
    # The central system is there and answered with a CALLERROR: no decision,
    # as with a malformed Authorize.conf (confs/authorize.py), so the card is
    # refused; AllowOfflineTxForUnknownId must not start a transaction while
    # online. Nothing is cached from it.
    from uocpp import errors

    with TempDir("auth") as d:
        outbox = Outbox()
        auth = door(d, outbox)
        auth.get()._keys.values["AllowOfflineTxForUnknownId"] = True
        asked = asyncio.create_task(auth.authorize("STRANGER"))
        await asyncio.sleep_ms(0)
        outbox.msgs[0]._finish(None, errors.CallErrorReceived("InternalError", "the database is down"))
        eq(await asked, {"status": "Invalid"}, "refused, not accepted offline")
        eq(auth.cache.lookup("STRANGER"), None, "nothing cached")


def test_a_full_cache_makes_room_by_removing_a_not_valid_entry_first():
    # C16 3.5.1: "If new identifier authorization data is received and the
    # Authorization Cache is full, the Charge Point SHALL remove any NOT-valid
    # entries, and then, if necessary, the oldest valid entries". A blocked
    # card's entry must not give way to a valid one: gone from the cache, it
    # would be unknown offline (AllowOfflineTxForUnknownId) instead of Blocked.
    from uocpp.model import auth_cache

    with TempDir("auth") as d:
        cache = auth_cache.AuthCache(d + "/auth_cache.json", lambda: True)
        cache.update("OLDEST", {"status": "Accepted"})
        cache.update("BLOCKED", {"status": "Blocked"})
        cache.update("EXPIRED", {"status": "Accepted", "expiryDate": "2001-01-01T00:00:00Z"})
        for i in range(64 - 3):  # auth_cache._MAX: 64 entries
            cache.update("CARD%d" % i, {"status": "Accepted"})
        eq(len(cache), 64, "full")
        cache.update("NEW", {"status": "Accepted"})
        eq(cache.lookup("OLDEST"), {"status": "Accepted"}, "the oldest valid entry stays while a NOT-valid one is there")
        eq((cache.lookup("BLOCKED"), cache.lookup("NEW")), (None, {"status": "Accepted"}), "the NOT-valid entry made room")
        cache.update("NEWER", {"status": "Accepted"})
        eq((cache.lookup("EXPIRED"), cache.lookup("OLDEST")), (None, {"status": "Accepted"}), "an expired entry is NOT-valid too")
        eq(len(cache), 64, "still full, never more")


async def test_a_listed_concurrenttx_is_valid_offline():
    # C16 3.5.2: "Identifiers in the Local Authorization list can be marked
    # as valid, expired, (temporarily) blocked, or blacklisted, corresponding
    # to IdTagInfo status values Accepted/ConcurrentTx, Expired, Blocked, and
    # Invalid"; 3.5.4 rejects offline only those "other than Accepted
    # (Invalid, Blocked, Expired)". A card listed ConcurrentTx is valid: it
    # starts offline (LocalAuthorizeOffline) like an Accepted one.
    from uocpp.model.auth_cache import AuthCache
    from uocpp.services.authorize import Authorizer

    with TempDir("auth") as d:
        link = Link()
        link.up.clear()  # offline
        keys = Keys(LocalPreAuthorize=False, LocalAuthListEnabled=True, LocalAuthorizeOffline=True, AllowOfflineTxForUnknownId=False, LocalAuthListMaxLength=10, MessageTimeout=5)
        auth = Authorizer(Outbox(), link, keys, AuthCache(d + "/auth_cache.json", lambda: True), d + "/local_list.bin")
        auth.local_list.replace(1, [{"idTag": "BUSY", "idTagInfo": {"status": "ConcurrentTx", "parentIdTag": "FLEET"}}, {"idTag": "GONE", "idTagInfo": {"status": "Blocked"}}])
        eq((await auth.authorize("BUSY")).get("status"), "Accepted", "listed ConcurrentTx: valid offline")
        eq((await auth.authorize("BUSY")).get("parentIdTag"), "FLEET", "with its parentIdTag")
        eq((await auth.authorize("GONE")).get("status"), "Blocked", "listed Blocked: refused")
        keys.values["LocalAuthorizeOffline"] = False
        eq((await auth.authorize("BUSY")).get("status"), "Invalid", "not without LocalAuthorizeOffline")


async def test_a_local_list_conflict_is_reported_on_connector_0():
    # C16 3.5.2: "Conflicts between the local authorization list and the
    # validity reported in, for instance, a StartTransaction.conf message
    # might occur. When this happens the Charge Point SHALL inform the
    # Central System by sending a StatusNotification with ConnectorId set to
    # 0, and ErrorCode set to 'LocalListConflict'." Connector 0 keeps its
    # status (it is not Faulted: it can still charge), and the errorCode
    # does not stick: the next connector-0 StatusNotification says NoError.
    from uocpp.model.auth_cache import AuthCache
    from uocpp.model.connectors import Connectors
    from uocpp.model.state import State
    from uocpp.services.authorize import Authorizer
    from uocpp.services.status import StatusNotifier

    with TempDir("auth") as d:
        outbox, link = Outbox(), Link()
        link.connections = 1
        connectors = Connectors(1, d + "/connectors.json", State())
        status = StatusNotifier(outbox, connectors, State(), link)
        keys = Keys(LocalPreAuthorize=False, LocalAuthListEnabled=True, LocalAuthListMaxLength=10, MessageTimeout=5)
        auth = Authorizer(outbox, link, keys, AuthCache(d + "/auth_cache.json", lambda: True), d + "/local_list.bin", status)
        auth.local_list.replace(1, [{"idTag": "ALICE", "idTagInfo": {"status": "Accepted"}}, {"idTag": "BOB", "idTagInfo": {"status": "Blocked"}}])

        def reports():
            # The payloads of the StatusNotifications submitted, taken off.
            out = [m.build() for m in outbox.msgs if m.action == "StatusNotification"]
            outbox.msgs[:] = [m for m in outbox.msgs if m.action != "StatusNotification"]
            return [(p["connectorId"], p["errorCode"], p["status"]) for p in out]

        auth.learn("ALICE", {"status": "Blocked"})  # a StartTransaction.conf
        eq(reports(), [(0, "LocalListConflict", "Available")], "listed Accepted, Blocked by the central system")
        auth.learn("ALICE", {"status": "Accepted"})
        auth.learn("BOB", {"status": "Invalid"})
        auth.learn("CAROL", {"status": "Blocked"})  # not listed: the cache's
        eq(reports(), [], "no conflict")
        auth.learn("BOB", {"status": "Accepted"})  # a StopTransaction.conf
        eq(reports(), [(0, "LocalListConflict", "Available")], "listed Blocked, Accepted by the central system")
        asked = asyncio.create_task(auth.authorize("ALICE"))
        await asyncio.sleep_ms(0)
        outbox.msgs[0]._finish({"idTagInfo": {"status": "Expired"}}, None)
        eq((await asked)["status"], "Expired", "the central system's answer decides")
        outbox.msgs.pop(0)
        eq(reports(), [(0, "LocalListConflict", "Available")], "listed Accepted, Authorize.conf Expired")
        eq((connectors.status(0), connectors.items[0].error_code), ("Available", "NoError"), "connector 0 as it was")
        eq(status.message(0).build()["errorCode"], "NoError", "the next connector-0 StatusNotification")
