# SendLocalList (C16 5.15, 3.5): a Full update replaces the local
# authorization list, a Differential one adds, replaces (entries with
# idTagInfo) and removes (entries without) on the list in force.
#   NotSupported    LocalAuthListEnabled is false
#   VersionMismatch a Differential whose listVersion is not higher than the
#                   current one (GetLocalListVersion's answer): "follows" means
#                   any higher version, gaps allowed (1.6 only says the
#                   central system sends a higher one)
#   CALLERROR       an entry that breaks the 1.6 schema (idTag or parentIdTag
#                   over 20 characters, a wrong type, a status not in the enum,
#                   an expiryDate that is no date-time, a property the schema
#                   lacks), as for every other CALL (validate.py), before
#                   anything changes
#   Failed          an entry the list cannot hold (a tag over 20 bytes in
#                   UTF-8, an idTag twice, a Full entry without idTagInfo),
#                   more than SendLocalListMaxLength
#                   entries, a list that would exceed LocalAuthListMaxLength, a
#                   non-empty Full list with listVersion below 1, or flash
#                   failing: nothing changed
# The new list is written to a new file and renamed over the old one
# (model/local_list.py): a power cut leaves the old list or the new one.
from uocpp import errors, log
from uocpp.model.local_list import ListError
from uocpp.validate import ARR, ENUM, INT, OBJ, STR, check, date_time

REQUEST = (("listVersion", INT, True, None), ("localAuthorizationList", ARR, False, None), ("updateType", ENUM, True, ("Differential", "Full")))
_ENTRY = (("idTag", STR, True, 20), ("idTagInfo", OBJ, False, None))
_INFO = (
    ("expiryDate", STR, False, None),
    ("parentIdTag", STR, False, 20),
    ("status", ENUM, True, ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")),
)
USES = ("authorizer", "keys")


def handle(payload, authorizer, keys):
    ll = authorizer.local_list
    if not keys.get("LocalAuthListEnabled"):
        return {"status": "NotSupported"}
    version, items = payload["listVersion"], payload.get("localAuthorizationList", [])
    for item in items:
        # AuthorizationData: a breach raises the OcppError of its CALLERROR.
        if not isinstance(item, dict):
            raise errors.OcppError("TypeConstraintViolation", "localAuthorizationList holds a non-object")
        check(_ENTRY, item)
        info = item.get("idTagInfo")
        if info is not None:
            check(_INFO, info)
            date_time(info, "expiryDate")
    full = payload["updateType"] == "Full"
    if not full and version <= ll.reported_version():
        return {"status": "VersionMismatch"}
    try:
        if len(items) > keys.get("SendLocalListMaxLength"):
            raise ListError("%d entries, more than SendLocalListMaxLength" % len(items))
        if version < 1 and items:
            raise ListError("listVersion %d" % version)
        if full:
            ll.replace(version, items)
        else:
            ll.update(version, items)
    except (ListError, OSError) as e:
        log.info("locallist", "SendLocalList %d Failed: %s", version, e)
        return {"status": "Failed"}
    log.info("locallist", "%s update: version %d, %d entries", payload["updateType"], version, ll.count)
    return {"status": "Accepted"}
