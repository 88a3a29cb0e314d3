# The authorization cache (C16 3.4.4): the idTagInfo of every idTag the
# central system answered for (Authorize, StartTransaction, StopTransaction),
# expiryDate honoured, bounded (a NOT-valid entry evicted first, then the
# least recently used), on flash
# (<flash>/auth_cache.json, atomic). ClearCache empties it.
import os
from micropython import const

from uocpp import clock
from uocpp.lazy import held
from uocpp.model.transactions import same_tag
from uocpp.store import json_file

_MAX = const(64)  # entries; a NOT-valid one goes first, else the oldest used


class AuthCache:
    def __init__(self, path, enabled):
        # enabled() -> AuthorizationCacheEnabled in force.
        self._path = path
        self._enabled = enabled
        # [[idTag, idTagInfo], ...], most recently used last: read from flash
        # on first use, not at boot (64 entries are several KB of heap, and a
        # charger with the cache off never needs them).
        self._items = None

    def _entries(self):
        if self._items is None:
            saved = json_file.read_json(self._path, [])
            # [idTag, idTagInfo] pairs only: an entry of another shape (a
            # file written by another version) must not fail every card.
            saved = saved if isinstance(saved, list) else []
            self._items = [e for e in saved if type(e) is list and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], dict)]
        return self._items

    def lookup(self, id_tag):
        # The cached idTagInfo (an expired Accepted reads Expired), or None.
        if not self._enabled():
            return None
        items = self._entries()
        for i, (tag, info) in enumerate(items):
            if same_tag(tag, id_tag):
                items.append(items.pop(i))  # used: now the newest
                expiry = info.get("expiryDate")
                if expiry and info.get("status") == "Accepted":
                    try:
                        if clock.parse_iso(expiry) <= clock.now():
                            return {"status": "Expired"}
                    except ValueError:
                        pass
                return info
        return None

    def update(self, id_tag, info):
        # Every idTagInfo the central system sends.
        if self._items and self._items[-1] == [id_tag, info]:
            return  # the newest already, unchanged (a session brings it two or three times): no write
        if not self._enabled() or not isinstance(info, dict) or "status" not in info:
            return
        items = self._entries()
        for i, item in enumerate(items):
            if item[0] == id_tag and item[1] == info:  # no list made per entry
                # Cached as it is: the newest in RAM, as a lookup makes it;
                # a change that changes nothing writes nothing.
                items.append(items.pop(i))
                return
        self._items = [item for item in items if not same_tag(item[0], id_tag)]
        self._items.append([id_tag, info])
        if len(self._items) > _MAX:
            # Full: the oldest NOT-valid entry (an Accepted past its
            # expiryDate is one) makes room first, else the oldest used (3.5.1).
            i = 0
            for n, (tag, old) in enumerate(self._items[:-1]):
                expiry = old.get("expiryDate")
                try:
                    if old.get("status") != "Accepted" or expiry and clock.parse_iso(expiry) <= clock.now():
                        i = n
                        break
                except ValueError:
                    pass
            self._items.pop(i)
        self._save()

    def clear(self):
        # -> False when flash may still hold the entries (ClearCache:
        # Rejected). A cache empty on flash already is not written again.
        self._items = []
        return self._save() if held(self._path) else True

    def __len__(self):
        return len(self._entries())

    def _save(self):
        # -> True when flash holds no entry RAM does not (written, or removed).
        try:
            json_file.write_json_atomic(self._path, self._items)
            return True
        except OSError:
            # A cache: losing it costs an Authorize, not a bill; but the old
            # file must go, else a card blocked since reads Accepted from it.
            try:
                os.remove(self._path)
            except OSError:
                return False
            return True
