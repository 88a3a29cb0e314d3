# DataTransfer from the central system (C16 5.6): the vendor's handler
# answers (services/data_transfer.py); an unknown vendorId gets
# UnknownVendorId.
from uocpp.validate import STR

REQUEST = (("vendorId", STR, True, 255), ("messageId", STR, False, 50), ("data", STR, False, 100000))
USES = ("data_transfer",)


def handle(payload, data_transfer):
    return data_transfer.handle(payload.get("vendorId"), payload.get("messageId"), payload.get("data"))
