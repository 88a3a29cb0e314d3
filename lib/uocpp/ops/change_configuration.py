# ChangeConfiguration (CFG-05..CFG-07, KEY-01, KEY-02): the key store decides
# the status; an accepted value takes effect right after the reply.
from uocpp.model import keys
from uocpp.validate import STR

REQUEST = (("key", STR, True, 50), ("value", STR, True, 500))


def handle(app, payload):
    status = app.keys.change(payload["key"], payload["value"])
    if status != keys.ACCEPTED:
        return {"status": status}
    name = keys.find(payload["key"])[0]

    async def apply():
        app.keys.apply(name)

    return {"status": status}, apply
