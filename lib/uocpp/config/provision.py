# What boot.py does: read config.json, feed the identity setters, and keep
# the result for main.py. Idempotent, because on a device boot.py runs first
# and main.py asks again; on the unix port only main.py runs.
import sys

from uocpp import __version__, log
from uocpp.model import identity

settings = None
error = None


def load(path=None):
    # Returns the settings dict, or None with `error` set to a message that
    # names every bad key.
    global settings, error
    if settings is not None or error is not None:
        return settings
    from uocpp import platform
    from uocpp.config import settings as config

    path = path or platform.config_path()
    try:
        loaded, ident = config.load(path)
    except config.ConfigError as e:
        error = str(e)
        return None
    finally:
        _unload("settings")
        _unload("jsontext")
        _unload("evse")
        _unload("energy")  # loaded by settings.py only when config.json has the section
    for secret in config.secrets(loaded):
        log.add_secret(secret)
    log.set_level(loaded["log"]["level"])
    # As the seed's loader: a setter only for keys present with string values.
    # firmwareVersion defaults to this library's version (uocpp.__version__).
    if "firmwareVersion" not in ident:
        ident["firmwareVersion"] = __version__
    for key, value in ident.items():
        identity.SETTERS[key](value)
    if loaded["modem"]["enabled"]:
        _read_modem(loaded["modem"])
    log.info("boot", "identity %s / %s from %s", identity.get("chargePointVendor"), identity.get("chargePointModel"), path)
    settings = loaded
    return settings


def _read_modem(cfg):
    # ICCID and IMSI from the modem, before the network starts. The rule: a
    # value the modem reported replaces chargePoint.iccid/imsi from
    # config.json; one it did not report (silent modem, no SIM, ERROR, a value
    # the setter refuses) leaves the configured value, or none, in place.
    # Bounded by modem.totalTimeout; never raises.
    from uocpp import platform
    from uocpp.device import modem

    values, why = modem.read(cfg, platform.open_uart)
    for key in ("iccid", "imsi"):
        if key in values:
            try:
                identity.SETTERS[key](values[key])
                log.info("modem", "%s %s", key.upper(), values[key])
            except identity.IdentityError as e:
                log.warning("modem", "ignoring the modem's %s: %s", key.upper(), e)
    if why:
        missing = [k for k in ("iccid", "imsi") if k not in values]
        log.warning("modem", "%s; booting without the modem's %s", why, " and ".join(k.upper() for k in missing))
        for key in missing:
            if identity.get(key):
                log.info("modem", "%s from config.json kept: %s", key.upper(), identity.get(key))


def _unload(name):
    # The config declarations and checks run once per boot; dropping the
    # module gives its code and tables back to the heap (about 7 KB).
    from uocpp import config

    sys.modules.pop("uocpp.config." + name, None)
    if hasattr(config, name):
        delattr(config, name)
