# DataTransfer both ways (C16 4.3, 5.6): an application registers a handler
# per vendorId for the central system's requests, and sends its own.
from uocpp.outbox import KEEP, Message


class DataTransfer:
    def __init__(self, outbox):
        self._outbox = outbox
        self._vendors = {}

    def register(self, vendor_id, handler):
        # handler(message_id, data) -> (status, data or None); status is
        # Accepted, Rejected or UnknownMessageId. vendorId is a CiString255
        # (1.6 section 7): matched whatever its case.
        self._vendors[vendor_id.lower()] = handler

    def handle(self, vendor_id, message_id, data):
        handler = self._vendors.get(vendor_id.lower())
        if handler is None:
            return {"status": "UnknownVendorId"}
        status, reply = handler(message_id, data)
        out = {"status": status}
        if reply is not None:
            out["data"] = reply
        return out

    async def send(self, vendor_id, message_id=None, data=None):
        # -> the central system's reply {status, data?}; raises errors.CallFailed.
        payload = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        return await self._outbox.request(Message("DataTransfer", lambda: payload, KEEP))
