# GetConfiguration (CFG-01..CFG-04, CFG-10): every key, or the listed ones
# (matched case-insensitively); unknown names go to unknownKey. A write-only
# key is never listed with its value. A request naming more keys than
# GetConfigurationMaxKeys gets CALLERROR OccurenceConstraintViolation.
# The reply is its JSON text in pieces, two keys each, made straight from the
# key table: no dict per key and no block the size of the reply exist (rpc
# frames a list as a payload's text; the link sends the pieces as one frame).
import json

from uocpp import errors, unload
from uocpp.model import keys
from uocpp.validate import STRS

REQUEST = (("key", STRS, False, 50),)
USES = ("keys",)


def _entry(store, name, access, sep):
    # A key's object; names are the table's (letters only), values any text.
    if access == keys.W:
        return '%s{"key":"%s","readonly":false}' % (sep, name)
    return '%s{"key":"%s","readonly":%s,"value":%s}' % (sep, name, "true" if access == keys.R else "false", json.dumps(store.text(name)))


def handle(payload, store):
    # The declarations are read on use and dropped with the reply.
    from uocpp.model import keytable

    try:
        return _reply(payload, store, keytable)
    finally:
        unload(keytable.__name__)


def _reply(payload, store, keytable):
    names = payload.get("key")
    unknown = []
    if names:
        most = store.get("GetConfigurationMaxKeys")
        if len(names) > most:
            raise errors.OcppError("OccurenceConstraintViolation", "at most %d keys per request (GetConfigurationMaxKeys)" % most)
        listed = _named(names, keytable, unknown)
    else:
        listed = keytable.listing()
    out = ['{"configurationKey":[']
    held = None
    for name, access in listed:
        if access == keys.W and not names:
            continue  # CFG-10: only named, and then without its value
        text = _entry(store, name, access, "," if held is not None or len(out) > 1 else "")
        # Two keys a piece: half the pieces' object headers and list slots
        # (0.7 KB of a full reply), each piece still short (~150 B).
        if held is None:
            held = text
        else:
            out.append(held + text)
            held = None
    if held is not None:
        out.append(held)
    out.append("]" if not unknown else '],"unknownKey":' + json.dumps(unknown))
    out.append("}")
    return out


def _named(names, keytable, unknown):
    # (name, access) of each named key the table has; the others go to unknown.
    for name in names:
        decl = keytable.find(name)
        if decl is None:
            unknown.append(name)
        else:
            yield decl[keys.NAME], decl[keys.ACCESS]
