# The setters of the charge point's identity (model/identity.py holds the
# values): the nine BootNotification.req fields (seed section 3.2,
# SetChargePointVendor ... SetMeterSerialNumber). Each setter enforces the
# CiString limit of BN-02 and printable ASCII (J-22), and raises
# IdentityError naming the field and the rule. Used at boot (config.json,
# the modem, an update's version) and dropped after it (startup.py); read
# through identity.py's __getattr__.
from uocpp.model.identity import _values


class IdentityError(ValueError):
    pass


# (field, maximum length, required) in BootNotification.req order.
FIELDS = (
    ("chargePointVendor", 20, True),
    ("chargePointModel", 20, True),
    ("chargePointSerialNumber", 25, False),
    ("chargeBoxSerialNumber", 25, False),
    ("firmwareVersion", 50, False),
    ("iccid", 20, False),
    ("imsi", 20, False),
    ("meterType", 25, False),
    ("meterSerialNumber", 25, False),
)


def check(field, maxlen, value):
    # Returns None when value is fine, else the broken rule as text.
    if not isinstance(value, str):
        return "must be a string, not %s" % type(value).__name__
    if not value:
        return "must not be empty"
    if len(value) > maxlen:
        return "is %d characters long; OCPP allows at most %d" % (len(value), maxlen)
    # In bytes: a character taken out of a str is an interned name for ever
    # in MicroPython (docs/memory.md); the offending one only for the message.
    data = value.encode()
    for i, c in enumerate(data):
        if not 32 <= c <= 126:
            return "must be printable ASCII (found %r)" % data[i:].decode()[0]
    return None


def _set(index, value):
    field, maxlen, _ = FIELDS[index]
    problem = check(field, maxlen, value)
    if problem:
        raise IdentityError("%s %s" % (field, problem))
    _values[field] = value


def set_charge_point_vendor(value):
    _set(0, value)


def set_charge_point_model(value):
    _set(1, value)


def set_charge_point_serial_number(value):
    _set(2, value)


def set_charge_box_serial_number(value):
    _set(3, value)


def set_firmware_version(value):
    _set(4, value)


def set_iccid(value):
    _set(5, value)


def set_imsi(value):
    _set(6, value)


def set_meter_type(value):
    _set(7, value)


def set_meter_serial_number(value):
    _set(8, value)


# config.json key -> setter, in the seed loader's spelling.
SETTERS = {
    "chargePointVendor": set_charge_point_vendor,
    "chargePointModel": set_charge_point_model,
    "chargePointSerialNumber": set_charge_point_serial_number,
    "chargeBoxSerialNumber": set_charge_box_serial_number,
    "firmwareVersion": set_firmware_version,
    "iccid": set_iccid,
    "imsi": set_imsi,
    "meterType": set_meter_type,
    "meterSerialNumber": set_meter_serial_number,
}
