# GetConfiguration (CFG-01..CFG-04, CFG-10): every key, or the listed ones
# (matched case-insensitively); unknown names go to unknownKey. A write-only
# key is never listed with its value. A request naming more keys than
# GetConfigurationMaxKeys gets CALLERROR OccurenceConstraintViolation.
# The reply is its JSON text, one key a piece, straight from the key table:
# for every key, a function that makes the pieces, which the link calls
# twice as it sends (the length, then the bytes), so no piece outlives its
# write; for the keys named (at most GetConfigurationMaxKeys), the list of
# pieces. Neither a dict per key nor a block the size of the reply exists.
import json

from uocpp import errors, unload
from uocpp.model import keys
from uocpp.validate import STRS

REQUEST = (("key", STRS, False, 50),)
USES = ("keys",)


def _entry(store, i, access, sep):
    # Key i's object; names are the table's (letters only), values
    # any text.
    name = keys.name(i)
    if access == keys.W:
        return '%s{"key":"%s","readonly":false}' % (sep, name)
    return '%s{"key":"%s","readonly":%s,"value":%s}' % (sep, name, "true" if access == keys.R else "false", json.dumps(store.text(name)))


def handle(payload, store):
    # The declarations are read on use; the reply's function holds them until
    # it is sent, and they leave the heap with it.
    from uocpp.model import keytable

    unload(keytable.__name__)
    names = payload.get("key")
    if names:
        most = store.get("GetConfigurationMaxKeys")
        if len(names) > most:
            raise errors.OcppError("OccurenceConstraintViolation", "at most %d keys per request (GetConfigurationMaxKeys)" % most)
        # A few keys: their pieces at once (one pass, no generator per send).
        return list(_reply(names, store, keytable))
    return lambda: _reply(names, store, keytable)


def _reply(names, store, keytable):
    unknown = []
    sep = ""
    yield '{"configurationKey":['
    for i, access in _named(names, keytable, unknown) if names else keytable.listing():
        if access == keys.W and not names:
            continue  # CFG-10: only named, and then without its value
        yield _entry(store, i, access, sep)
        sep = ","
    yield "]" if not unknown else '],"unknownKey":' + json.dumps(unknown)
    yield "}"


def _named(names, keytable, unknown):
    # (index, access) of each named key the table has; the others go to
    # unknown.
    for name in names:
        decl = keytable.find(name)
        if decl is None:
            unknown.append(name)
        else:
            yield decl[keys.INDEX], decl[keys.ACCESS]
