# GetConfiguration (CFG-01..CFG-04, CFG-10): every key, or the listed ones
# (matched case-insensitively); unknown names go to unknownKey. A write-only
# key is never listed with its value. A request naming more keys than
# GetConfigurationMaxKeys gets CALLERROR OccurenceConstraintViolation.
from uocpp import errors
from uocpp.model import keys
from uocpp.validate import STRS

REQUEST = (("key", STRS, False, 50),)


def _entry(store, decl):
    if decl[2] == keys.W:
        return {"key": decl[0], "readonly": False}
    return {"key": decl[0], "readonly": decl[2] == keys.R, "value": store.text(decl[0])}


def handle(app, payload):
    store = app.keys
    names = payload.get("key")
    found = []
    if not names:
        for decl in keys.DECLARATIONS:
            if decl[2] != keys.W:
                found.append(_entry(store, decl))
        return {"configurationKey": found}
    most = store.get("GetConfigurationMaxKeys")
    if len(names) > most:
        raise errors.OccurenceConstraintViolation("at most %d keys per request (GetConfigurationMaxKeys)" % most)
    unknown = []
    for name in names:
        decl = keys.find(name)
        if decl is None:
            unknown.append(name)
        else:
            found.append(_entry(store, decl))
    reply = {"configurationKey": found}
    if unknown:
        reply["unknownKey"] = unknown
    return reply
