# The charge point's identity: the nine BootNotification.req fields (seed
# section 3.2), as the setters left them. Only the values stay in the heap:
# the setters, their checks and the field table (identity_set.py) run at
# boot, and are found here through __getattr__ (identity.set_imsi,
# identity.FIELDS, ...) wherever they are needed; startup.py drops them
# after the boot (issue 24).
_values = {}


def __getattr__(name):
    from uocpp.model import identity_set

    return getattr(identity_set, name)


# The dict's own methods, no function of ours: get(field), and
# boot_notification_payload(), a fresh dict each time (the RPC layer
# serialises it and lets it go). _values is only ever changed in place.
get = _values.get
boot_notification_payload = _values.copy
