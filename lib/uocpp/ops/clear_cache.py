# ClearCache (C16 5.4): empties the authorization cache; Rejected when
# flash could not be written (its entries would come back from it).
REQUEST = ()
USES = ("authorizer",)


def handle(payload, authorizer):
    return {"status": "Accepted" if authorizer.cache.clear() else "Rejected"}
