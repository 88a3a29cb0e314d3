# GetLocalListVersion (C16 5.9): the version of the local authorization list
# in force; 0 when it is empty, -1 while LocalAuthListEnabled is false.
REQUEST = ()
USES = ("authorizer", "keys")


def handle(payload, authorizer, keys):
    if not keys.get("LocalAuthListEnabled"):
        return {"listVersion": -1}
    return {"listVersion": authorizer.local_list.reported_version()}
