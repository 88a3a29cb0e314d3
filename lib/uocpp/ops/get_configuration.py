# GetConfiguration (CFG-01..CFG-04, CFG-10): every key, or the listed ones
# (matched case-insensitively); unknown names go to unknownKey. A write-only
# key is never listed with its value. A request naming more keys than
# GetConfigurationMaxKeys gets CALLERROR OccurenceConstraintViolation.
from uocpp import errors, unload
from uocpp.model import keys
from uocpp.validate import STRS

REQUEST = (("key", STRS, False, 50),)
USES = ("keys",)


def _entry(store, name, access):
    if access == keys.W:
        return {"key": name, "readonly": False}
    return {"key": name, "readonly": access == keys.R, "value": store.text(name)}


def handle(payload, store):
    # The declarations are read on use and dropped with the reply.
    from uocpp.model import keytable

    try:
        return _reply(payload, store, keytable)
    finally:
        unload(keytable.__name__)


def _reply(payload, store, keytable):
    names = payload.get("key")
    found = []
    if not names:
        for name, access in keytable.listing():
            if access != keys.W:
                found.append(_entry(store, name, access))
        return {"configurationKey": found}
    most = store.get("GetConfigurationMaxKeys")
    if len(names) > most:
        raise errors.OcppError("OccurenceConstraintViolation", "at most %d keys per request (GetConfigurationMaxKeys)" % most)
    unknown = []
    for name in names:
        decl = keytable.find(name)
        if decl is None:
            unknown.append(name)
        else:
            found.append(_entry(store, decl[keys.NAME], decl[keys.ACCESS]))
    reply = {"configurationKey": found}
    if unknown:
        reply["unknownKey"] = unknown
    return reply
