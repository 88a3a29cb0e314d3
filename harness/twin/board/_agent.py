# The twin's probe inside the firmware process (see twin_boot.py): a TCP
# server on 127.0.0.1:$TWIN_AGENT for the hardware model's line-protocol
# server. Commands, one line each:
#   settled        -> "ok" once the firmware has acted on every change so far
#   seen N         -> {"pilot": .., "fault": ..}: what the EVSE driver reads
#   state          -> {"1": [status, transactionId], ...}
#   cards          -> {"events": cards the reader reported, "queued": not yet taken}
import json
import os

import asyncio


def _count_cards(reader):
    # Counts the card events the reader produces (device/card_reader.py
    # appends one tuple per event to _cards): the twin's `card` waits for one.
    events = [0]
    saw = reader._saw

    def counted(uid):
        tail = reader._cards[-1] if reader._cards else None
        saw(uid)
        if reader._cards and reader._cards[-1] is not tail:
            events[0] += 1

    reader._saw = counted
    return events


async def serve(evse, firmware):
    port = int(os.getenv("TWIN_AGENT"))
    cards = getattr(evse, "_reader", None)
    events = _count_cards(cards) if cards is not None else [0]

    async def client(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                words = line.decode().split()
                if words == ["settled"]:
                    await firmware.settled()
                    reply = "ok"
                elif words and words[0] == "seen":
                    n = int(words[1])
                    reply = json.dumps({"pilot": evse.pilot(n), "fault": evse.fault(n)})
                elif words == ["cards"]:
                    reply = json.dumps({"events": events[0], "queued": len(cards._cards) if cards else 0})
                else:
                    reply = json.dumps({str(n): [firmware.status(n), firmware.transaction_id(n)] for n in range(1, evse.count + 1)})
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except Exception as e:
            print("twin agent:", e)
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.start_server(client, "127.0.0.1", port)
