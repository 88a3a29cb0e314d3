# Wires the layers together and runs them as asyncio tasks:
# link (transport) -> rpc -> services (boot notification, heartbeat) -> ops.
import asyncio

from ocpp import log, platform
from ocpp.state import State
from ocpp.ops import Dispatcher
from ocpp.rpc import Rpc
from ocpp.services.boot_notification import BootNotification
from ocpp.services.heartbeat import Heartbeat
from ocpp.services.link import Link


class App:
    def __init__(self, settings):
        self.settings = settings
        o = settings["ocpp"]
        self.state = State()
        self.rpc = Rpc(o["messageTimeout"])
        self.link = Link(settings, self.rpc, self.state)
        self.heartbeat = Heartbeat(self.rpc, self.link, o["heartbeatInterval"], self.state, platform.set_rtc)
        self.boot = BootNotification(self.rpc, self.link, settings, self.heartbeat, self.state, platform.set_rtc)
        self.heartbeat.registered = self.boot.accepted
        self.rpc.dispatch = Dispatcher(self).dispatch
        self.stop_reason = None
        self._stopped = asyncio.Event()

    def stop(self, reason):
        # Ends run(); reason is "soft" or "hard" (Reset) or "shutdown".
        self.stop_reason = reason
        self._stopped.set()

    async def run(self):
        await platform.connect_network(self.settings)
        tasks = [
            asyncio.create_task(self.link.run()),
            asyncio.create_task(self.boot.run()),
            asyncio.create_task(self.heartbeat.run()),
        ]
        if self.settings.get("mqtt", {}).get("enabled"):
            # Imported only when on: a disabled mirror costs no heap.
            from ocpp.services.mqtt_mirror import MqttMirror

            tasks.append(asyncio.create_task(MqttMirror(self.settings, self.state).run()))
        try:
            await self._stopped.wait()
        finally:
            for t in tasks:
                t.cancel()
            ws = self.link._ws
            if ws is not None:
                await ws.close()
            log.info("app", "stopped (%s)", self.stop_reason)
        return self.stop_reason
