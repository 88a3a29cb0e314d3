# Authorization of an idTag (C16 3.4, KEY-*): Authorize.req while online,
# the cache and the offline rules otherwise.
#   LocalPreAuthorize      online: a cached Accepted starts at once
#   LocalAuthorizeOffline  offline: a cached Accepted is enough
#   AllowOfflineTxForUnknownId  offline: an idTag the cache does not know
#                          is accepted too
# The local authorization list (C16 3.5, LocalAuthListEnabled) slots in
# before the cache: an idTag it holds is decided by its entry (status and
# expiryDate), never by the cache, and is never added to the cache.
# Authorize goes in the outbox's urgent lane (before the durable backlog) and
# has a deadline: past it the card is decided by the offline rules, so a
# person never waits on a silent central system for longer than that.
import asyncio

from uocpp import errors, log
from uocpp.outbox import Message, ONCE, URGENT
from uocpp.store.json_file import exists as _exists

ACCEPTED = "Accepted"


class Authorizer:
    def __init__(self, outbox, link, keys, cache, list_path=None, status=None):
        # list_path: the local list's file (model/local_list.py), opened -
        # and its code loaded, ~6 KB of heap - only once the central system
        # sends a list or one is on flash. status: the StatusNotifier that
        # reports a conflict with the list (learn()).
        self._outbox = outbox
        self.status = status
        self._link = link
        self._keys = keys
        self.cache = cache
        self._list_path = list_path
        self._list = None
        # Authorize.req awaiting their answers: while any is, the part is in
        # use and its door must not drop it (services/sessions.py _rest),
        # whoever asked (a card, a remote start): a second Authorizer made
        # meanwhile would write the cache apart from this one.
        self.busy = 0

    @property
    def local_list(self):
        if self._list is None:
            from uocpp.model.local_list import LocalList

            keys = self._keys
            self._list = LocalList(self._list_path, lambda: keys.get("LocalAuthListMaxLength"))
        return self._list

    def _listed(self, id_tag):
        # The local list's idTagInfo for id_tag when the list is in use, else None.
        if self._list_path is None or not self._keys.get("LocalAuthListEnabled"):
            return None
        if self._list is None and not (_exists(self._list_path) or _exists(self._list_path + ".tmp")):
            return None
        info = self.local_list.lookup(id_tag)
        if info and info["status"] == "ConcurrentTx":
            info["status"] = ACCEPTED  # a listed ConcurrentTx is valid (3.5.2)
        return info

    async def authorize(self, id_tag, deadline_ms=None):
        # -> idTagInfo (a dict with at least "status"). deadline_ms: the
        # longest the answer may take (None: twice MessageTimeout, one CALL
        # in flight before it and its own).
        keys, listed = self._keys, self._listed(id_tag)
        cached = listed if listed is not None else self.cache.lookup(id_tag)
        if self._link.up.is_set():
            if cached and cached.get("status") == ACCEPTED and keys.get("LocalPreAuthorize"):
                return cached
            if deadline_ms is None:
                deadline_ms = int(2000 * keys.get("MessageTimeout")) + 1000
            msg = Message("Authorize", lambda: {"idTag": id_tag}, ONCE, lane=URGENT)
            try:
                self._outbox.submit(msg)
                self.busy += 1
                try:
                    reply = await asyncio.wait_for_ms(msg.wait(), deadline_ms)
                except asyncio.TimeoutError:
                    self._outbox.withdraw(msg)
                    raise errors.CallTimeout("no answer within %d ms" % deadline_ms)
                finally:
                    self.busy -= 1
                info = reply.get("idTagInfo") if isinstance(reply, dict) else None
                if isinstance(info, dict) and "status" in info:
                    self.learn(id_tag, info)
                    return info
            except (errors.CallErrorReceived, errors.NoHeap) as e:
                # The central system is there and gave no decision: refused,
                # as a malformed answer is (confs/authorize.py), never decided
                # by the offline rules (AllowOfflineTxForUnknownId must not
                # start a transaction while online); nothing cached. No heap
                # (to send it, or to check an answer that may be a refusal)
                # is no verdict either, and the link is up: refused too.
                log.info("auth", "Authorize %s: %s; refused", id_tag, e)
                return {"status": "Invalid"}
            except errors.CallFailed as e:
                log.info("auth", "Authorize %s failed: %s; deciding offline", id_tag, e)
        if cached is not None:
            if cached.get("status") == ACCEPTED and keys.get("LocalAuthorizeOffline"):
                return cached
            return cached if cached.get("status") != ACCEPTED else {"status": "Invalid"}
        if keys.get("AllowOfflineTxForUnknownId"):
            return {"status": ACCEPTED}
        return {"status": "Invalid"}

    def learn(self, id_tag, info):
        # An idTagInfo from Authorize.conf, StartTransaction.conf or
        # StopTransaction.conf: into the cache, unless the local list holds
        # id_tag; then a validity other than the list's is a conflict (3.5.2):
        # a StatusNotification of connector 0 with errorCode
        # LocalListConflict, its status as it is (not Faulted).
        listed = self._listed(id_tag)
        if listed is None:
            self.cache.update(id_tag, info)
        elif self.status and isinstance(info, dict) and "status" in info:
            if (listed["status"] == ACCEPTED) != (info["status"] in (ACCEPTED, "ConcurrentTx")):
                log.warning("auth", "idTag %s: %s, the local list says %s", id_tag, info["status"], listed["status"])
                self._outbox.submit(self.status.message(0, True, "LocalListConflict"))
