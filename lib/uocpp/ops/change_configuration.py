# ChangeConfiguration (CFG-05..CFG-07, KEY-01, KEY-02): the key store decides
# the status; an accepted value takes effect right after the reply.
from uocpp.model import keys
from uocpp.validate import STR

REQUEST = (("key", STR, True, 50), ("value", STR, True, 500))
USES = ("keys",)


def handle(payload, store):
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
