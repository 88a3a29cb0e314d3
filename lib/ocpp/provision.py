# What boot.py does: read config.json, feed the identity setters, and keep
# the result for main.py. Idempotent, because on a device boot.py runs first
# and main.py asks again; on the unix port only main.py runs.
import sys

from ocpp import identity, log

settings = None
error = None


def load(path=None):
    # Returns the settings dict, or None with `error` set to a message that
    # names every bad key.
    global settings, error
    if settings is not None or error is not None:
        return settings
    from ocpp import platform
    from ocpp import settings as config

    path = path or platform.config_path()
    try:
        loaded, ident = config.load(path)
    except config.ConfigError as e:
        error = str(e)
        return None
    finally:
        _unload("settings")
    for secret in config.secrets(loaded):
        log.add_secret(secret)
    log.set_level(loaded["log"]["level"])
    # As the seed's loader: a setter only for keys present with string values.
    for key, value in ident.items():
        identity.SETTERS[key](value)
    log.info("boot", "identity %s / %s from %s", identity.get("chargePointVendor"), identity.get("chargePointModel"), path)
    settings = loaded
    return settings


def _unload(name):
    # The config declarations and checks run once per boot; dropping the
    # module gives its code and tables back to the heap (about 7 KB).
    import ocpp

    sys.modules.pop("ocpp." + name, None)
    if hasattr(ocpp, name):
        delattr(ocpp, name)
