# ClearCache (C16 5.4): empties the authorization cache.
REQUEST = ()
USES = ("authorizer",)


def handle(payload, authorizer):
    authorizer.cache.clear()
    return {"status": "Accepted"}
