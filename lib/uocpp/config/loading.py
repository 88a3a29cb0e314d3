# The work of config/provision.py's load(), once per boot: read
# config.json, check it, feed the identity setters, read the modem. Loaded
# for that and dropped after (provision.py unloads it), with the config
# declarations and checks it loads.
from uocpp import __version__, log, unload
from uocpp.model import identity


def load(path):
    # -> (settings, None), or (None, a message that names every bad key).
    from uocpp import platform
    from uocpp.config import settings as config

    path = path or platform.config_path()
    try:
        loaded, ident = config.load(path)
    except config.ConfigError as e:
        return None, str(e)
    finally:
        # The config declarations and checks run once per boot; dropping
        # them gives their code and tables back to the heap (about 7 KB).
        # energy: loaded by settings.py only when config.json has the section.
        unload("uocpp.config.settings", "uocpp.config.jsontext", "uocpp.config.evse", "uocpp.config.energy", "uocpp.model.keytable")
    for secret in config.secrets(loaded):
        log.add_secret(secret)
    log.set_level(loaded["log"]["level"])
    # As the seed's loader: a setter only for keys present with string values.
    # firmwareVersion defaults to this library's version (uocpp.__version__).
    if "firmwareVersion" not in ident:
        ident["firmwareVersion"] = __version__
    for key, value in ident.items():
        identity.SETTERS[key](value)
    cfg = loaded["modem"]
    if cfg["enabled"]:
        # ICCID and IMSI from the modem, before the network starts. The
        # rule: a value the modem reported replaces chargePoint.iccid/imsi
        # from config.json; one it did not report (silent modem, no SIM,
        # ERROR, a value the setter refuses) leaves the configured value, or
        # none, in place. Bounded by modem.totalTimeout; never raises.
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
            log.warning("modem", "%s; booting without the modem's %s", why, "ICCID and IMSI" if len(missing) > 1 else "".join(k.upper() for k in missing))
            for key in missing:
                if identity.get(key):
                    log.info("modem", "%s from config.json kept: %s", key.upper(), identity.get(key))
    log.info("boot", "identity %s / %s from %s", identity.get("chargePointVendor"), identity.get("chargePointModel"), path)
    return loaded, None
