# GetConfiguration (CFG-01..CFG-04, CFG-10): every key, or the listed ones
# (matched case-insensitively); unknown names go to unknownKey. A write-only
# key is never listed with its value. A request naming more keys than
# GetConfigurationMaxKeys gets CALLERROR OccurenceConstraintViolation.
# The reply is its JSON text in pieces, one per key, made straight from the
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
    out = ['{"configurationKey":[']
    if not names:
        for name, access in keytable.listing():
            if access != keys.W:
                out.append(_entry(store, name, access, "," if len(out) > 1 else ""))
        out.append("]}")
        return out
    most = store.get("GetConfigurationMaxKeys")
    if len(names) > most:
        raise errors.OcppError("OccurenceConstraintViolation", "at most %d keys per request (GetConfigurationMaxKeys)" % most)
    unknown = []
    for name in names:
        decl = keytable.find(name)
        if decl is None:
            unknown.append(name)
        else:
            out.append(_entry(store, decl[keys.NAME], decl[keys.ACCESS], "," if len(out) > 1 else ""))
    out.append("]" if not unknown else '],"unknownKey":' + json.dumps(unknown))
    out.append("}")
    return out
