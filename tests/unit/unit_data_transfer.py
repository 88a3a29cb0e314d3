# services/data_transfer.py: vendor handlers answer the central system's
# DataTransfer; an unknown vendorId gets UnknownVendorId; send() goes
# through the outbox.
from check import eq

from uocpp.services.data_transfer import DataTransfer


class Outbox:
    def __init__(self):
        self.sent = []

    async def request(self, msg):
        self.sent.append((msg.action, msg.build()))
        return {"status": "Accepted", "data": "pong"}


def test_registered_vendor_answers():
    dt = DataTransfer(Outbox())
    dt.register("com.example", lambda message_id, data: ("Accepted", data.upper()) if message_id == "echo" else ("UnknownMessageId", None))
    eq(dt.handle("com.example", "echo", "hi"), {"status": "Accepted", "data": "HI"}, "echo")
    eq(dt.handle("com.example", "other", None), {"status": "UnknownMessageId"}, "unknown message")
    eq(dt.handle("org.other", "echo", "hi"), {"status": "UnknownVendorId"}, "unknown vendor")


async def test_send_goes_through_the_outbox():
    box = Outbox()
    reply = await DataTransfer(box).send("com.example", "ping", "x")
    eq(reply["data"], "pong", "reply")
    eq(box.sent, [("DataTransfer", {"vendorId": "com.example", "messageId": "ping", "data": "x"})], "payload")


def test_vendor_id_is_case_insensitive():
    # OCPP 1.6 section 7: DataTransfer.req's vendorId is a CiString255Type, a
    # case-insensitive string: the central system's "COM.Example" is the
    # vendor registered as "com.example", never UnknownVendorId.
    dt = DataTransfer(Outbox())
    dt.register("com.example", lambda message_id, data: ("Accepted", None))
    eq(dt.handle("COM.Example", None, None), {"status": "Accepted"}, "another case")
    dt.register("ORG.Upper", lambda message_id, data: ("Rejected", None))
    eq(dt.handle("org.upper", None, None), {"status": "Rejected"}, "registered in upper case")
