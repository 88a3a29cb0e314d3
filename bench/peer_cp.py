"""The peer for the message-cost benchmark: a minimal charge point on the
`ocpp` package under CPython, as a user would write one for a gateway.
It boots, then answers GetConfiguration with the same keys the firmware has.

    python bench/peer_cp.py ws://127.0.0.1:9000/ocpp CP002
"""

import asyncio
import logging
import sys

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

KEYS = {"HeartbeatInterval": ("3600", False), "GetConfigurationMaxKeys": ("50", True)}


class PeerChargePoint(ChargePoint):
    @on(Action.get_configuration)
    async def on_get_configuration(self, key=None, **kwargs):
        names = key if key else list(KEYS)
        known = [{"key": k, "readonly": KEYS[k][1], "value": KEYS[k][0]} for k in names if k in KEYS]
        unknown = [k for k in names if k not in KEYS]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)


async def main(url, cp_id):
    async with websockets.connect("%s/%s" % (url.rstrip("/"), cp_id), subprotocols=["ocpp1.6"]) as ws:
        cp = PeerChargePoint(cp_id, ws)
        serving = asyncio.create_task(cp.start())
        await cp.call(call.BootNotification(charge_point_vendor="Bench", charge_point_model="Peer"))
        await serving


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except (KeyboardInterrupt, websockets.ConnectionClosed):
        pass
