# What boot.py does: read config.json, feed the identity setters, and keep
# the result for main.py. Idempotent, because on a device boot.py runs first
# and main.py asks again; on the unix port only main.py runs.
from ocpp import identity, log
from ocpp import settings as config

settings = None
error = None


def load(path=None):
    # Returns the settings dict, or None with `error` set to a message that
    # names every bad key.
    global settings, error
    if settings is not None or error is not None:
        return settings
    from ocpp import platform

    path = path or platform.config_path()
    try:
        loaded, ident = config.load(path)
    except config.ConfigError as e:
        error = str(e)
        return None
    for secret in config.secrets(loaded):
        log.add_secret(secret)
    log.set_level(loaded["log"]["level"])
    # As the seed's loader: a setter only for keys present with string values.
    for key, value in ident.items():
        identity.SETTERS[key](value)
    log.info("boot", "identity %s / %s from %s", identity.get("chargePointVendor"), identity.get("chargePointModel"), path)
    settings = loaded
    return settings
