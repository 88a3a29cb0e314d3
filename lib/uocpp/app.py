# Wires the layers together and runs them as asyncio tasks:
# link (transport) -> rpc -> services (boot notification, heartbeat) -> ops.
import asyncio

from uocpp import log, platform
from uocpp.store import json_file
from uocpp.model.connectors import Connectors
from uocpp.model.keys import Keys
from uocpp.model.state import State
from uocpp.ops import Dispatcher
from uocpp.rpc import Rpc
from uocpp.device import board as device
from uocpp.services.boot_notification import BootNotification
from uocpp.services.heartbeat import Heartbeat
from uocpp.link.link import Link
from uocpp.link.security import Security
from uocpp.services.status import StatusNotifier


class App:
    def __init__(self, settings):
        self.settings = settings
        flash = platform.flash_dir(settings)
        self.keys = keys = Keys(json_file.join(flash, "keys.json"), _seeds(settings))
        self.state = State()
        self.rpc = Rpc(keys.get("MessageTimeout"))
        self.link = Link(settings, self.rpc, self.state)
        self.security = Security(settings, keys, self.link, flash)
        self.heartbeat = Heartbeat(self.rpc, self.link, keys.get("HeartbeatInterval"), self.state, platform.set_rtc)
        self.boot = BootNotification(self.rpc, self.link, settings, self.heartbeat, self.state, platform.set_rtc)
        self.heartbeat.registered = self.boot.accepted
        self.connectors = Connectors(keys.get("NumberOfConnectors"), json_file.join(flash, "connectors.json"), self.state)
        self.status = StatusNotifier(self.rpc, self.link, self.connectors, self.boot.accepted)
        self.rpc.dispatch = Dispatcher(self).dispatch
        self.triggered = {}  # ops/trigger_message.py: queued triggered messages per kind
        self._watch_keys()
        self.stop_reason = None
        self._stopped = asyncio.Event()

    def _watch_keys(self):
        # Keys whose value the running services hold: apply a change at once.
        k, link, rpc = self.keys, self.link, self.rpc
        link.apply_keys(k)
        k.watch("HeartbeatInterval", self.heartbeat.set_interval)
        k.watch("MessageTimeout", lambda v: rpc.set_timeout(v) or link.apply_keys(k))
        for name in ("WebSocketPingInterval", "RetryBackOffWaitMinimum", "RetryBackOffRandomRange", "RetryBackOffRepeatTimes", "AuthorizationKey"):
            k.watch(name, lambda v: link.apply_keys(k, True))

    def stop(self, reason):
        # Ends run(); reason is "soft" or "hard" (Reset) or "shutdown".
        self.stop_reason = reason
        self._stopped.set()

    async def run(self):
        tasks = {}
        try:
            device.start(self, tasks)  # the watchdog is fed from here on
            await device.network_up(self, tasks)  # Wi-Fi up and stable (device only)
            await self.security.prepare()
            tasks["link"] = asyncio.create_task(self.link.run())
            tasks["boot"] = asyncio.create_task(self.boot.run())
            tasks["heartbeat"] = asyncio.create_task(self.heartbeat.run())
            tasks["status"] = asyncio.create_task(self.status.run())
            if self.settings.get("mqtt", {}).get("enabled"):
                # Imported only when on: a disabled mirror costs no heap.
                from uocpp.extras.mqtt_mirror import MqttMirror

                tasks["mqtt"] = asyncio.create_task(MqttMirror(self.settings, self.state).run())
            heap_s = self.settings["log"]["heapInterval"]
            if heap_s:
                from uocpp.extras import diag

                tasks["diag"] = asyncio.create_task(diag.report_heap(heap_s))
            device.supervise(self, tasks)
            await self._stopped.wait()
        finally:
            for t in tasks.values():
                t.cancel()
            await self.link.close()
            log.info("app", "stopped (%s)", self.stop_reason)
        return self.stop_reason


def _seeds(settings):
    # config.json values that seed OCPP keys; values the central system set
    # later (persisted in keys.json) win over these.
    o, r, cs = settings["ocpp"], settings["reconnect"], settings["centralSystem"]
    return {
        "HeartbeatInterval": o["heartbeatInterval"],
        "MessageTimeout": o["messageTimeout"],
        "WebSocketPingInterval": o["webSocketPingInterval"],
        "RetryBackOffWaitMinimum": r["waitMinimum"],
        "RetryBackOffRandomRange": r["randomRange"],
        "RetryBackOffRepeatTimes": r["repeatTimes"],
        "AuthorizationKey": cs["authorizationKey"],
        "SecurityProfile": cs["securityProfile"],
        "NumberOfConnectors": settings["connectors"]["count"],
    }
