# The twin's probe inside the firmware process (see twin_boot.py): a TCP
# server on 127.0.0.1:$TWIN_AGENT for the hardware model's line-protocol
# server. Commands, one line each:
#   settled        -> "ok" once the firmware has acted on every change so far
#   seen N         -> {"pilot": .., "fault": ..}: what the EVSE driver reads
#   state          -> {"1": [status, transactionId], ...}
import json
import os

import asyncio


async def serve(evse, firmware):
    port = int(os.getenv("TWIN_AGENT"))

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
