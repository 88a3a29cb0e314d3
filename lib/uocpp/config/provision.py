# What boot.py does: read config.json, feed the identity setters, and keep
# the result for main.py (and for an update, services/firmware_update.py).
# Idempotent, because on a device boot.py runs first and main.py asks again;
# on the unix port only main.py runs. The work itself is in loading.py,
# loaded once and dropped: what stays is this module and its two results.
from uocpp import unload

settings = None
error = None


def load(path=None):
    # Returns the settings dict, or None with `error` set to a message that
    # names every bad key.
    global settings, error
    if settings is not None or error is not None:
        return settings
    from uocpp.config import loading

    try:
        settings, error = loading.load(path)
    finally:
        unload("uocpp.config.loading")
    return settings
