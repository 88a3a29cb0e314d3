# ChangeConfiguration (CFG-05..CFG-07, KEY-01, KEY-02): the key store decides
# the status; an accepted value takes effect right after the reply.
from uocpp import errors
from uocpp.link import utf8
from uocpp.model import keys
from uocpp.validate import STR

REQUEST = (("key", STR, True, 50), ("value", STR, True, 500))
USES = ("keys",)


def handle(payload, store):
    if not utf8.clean(payload["value"]):
        # A lone "\ud800" escape (MicroPython keeps it as a surrogate): kept,
        # it would go out in every GetConfiguration as text that is not
        # UTF-8, which the central system fails the connection for (J-07).
        raise errors.OcppError("FormationViolation", "text is not valid Unicode (J-07)")
    name = store.name(payload["key"])
    before = store.text(name) if name else None
    status = store.change(payload["key"], payload["value"])
    if status != keys.ACCEPTED:
        return {"status": status}
    if store.text(name) == before:
        return {"status": status}  # the value in force already: nothing to apply

    async def apply():
        store.apply(name)

    return {"status": status}, apply
