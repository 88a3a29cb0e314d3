# The one place that wires the parts: each gets what it needs at
# construction, and the running parts are asyncio tasks.
#   link (WebSocket, security, back-off) -> rpc (frames, dispatch to ops)
#   outbox (the one sender) <- services (boot notification, heartbeat, status)
#   model (keys, registration, connectors, state), store (files on flash)
import asyncio
import time

from micropython import const

from uocpp import __version__, clock, log, platform, security_event
from uocpp.lazy import OnUse, run_then_drop
from uocpp.device.board import Board
from uocpp.link.backoff import KeyBackoff
from uocpp.link.link import Link
from uocpp.link.security import Security
from uocpp.model.connectors import Connectors
from uocpp.model.keys import PROFILES, Keys, send_list_max
from uocpp.model.registration import Registration
from uocpp.model.state import State
from uocpp.ops import Dispatcher
from uocpp.outbox import Outbox
from uocpp.rpc import Rpc
from uocpp.model.transactions import Transactions
from uocpp.services.heartbeat import Heartbeat
from uocpp.services.metering import Metering
from uocpp.services.reservations import Reservations
from uocpp.services.sessions import Sessions
from uocpp.services.smart_charging import SmartCharging
from uocpp.services.status import StatusNotifier
from uocpp.store import json_file

_CLOCK_JUMP_S = const(60)  # a larger step of the clock is SettingSystemTime


class App:
    def __init__(self, settings, update=None):
        # update: what main.py's loader found (uocpp_loader.start()).
        self.settings = settings
        self._update = update
        clock.forget_listeners()  # a soft reset's new app: none of the old one's
        flash = platform.flash_dir(settings)
        lg = settings["log"]
        log.open_ring(json_file.join(flash, "log"), lg["flashLevel"], lg["flashBytes"], lg["flashFiles"])
        cs = settings["centralSystem"]
        # config.json seeds the OCPP keys; from here on every part reads the
        # keys in force, never the boot settings they came from.
        self.keys = keys = Keys(json_file.join(flash, "keys.json"), _seeds(settings))
        log.add_secret(keys.get("AuthorizationKey"))
        self.state = state = State()
        self.registration = registration = Registration()
        self.connectors = connectors = Connectors(keys.get("NumberOfConnectors"), json_file.join(flash, "connectors.json"), state)
        parts = {"keys": keys, "connectors": connectors, "registration": registration, "stop": self.stop}
        self.rpc = rpc = Rpc(Dispatcher(parts).dispatch, registration, keys)
        self.security = security = Security(settings, keys, flash)
        self.link = link = Link(cs, keys, security, state, rpc)
        store = settings["storage"]
        self.outbox = outbox = Outbox(rpc, link, registration, keys, KeyBackoff(keys), json_file.join(flash, "outbox.journal"), store["journalBytes"])
        Security.app = self  # issue 25: SignCertificate and CertificateSigned find the app's parts here
        # The security log and SecurityEventNotification (security_log.py).
        security_event.attach(json_file.join(flash, "security"), outbox, cs["securityEvents"])

        def boot():
            # Needed until Accepted, once per boot (J-24): its task drops it then (lazy.py).
            from uocpp.services.boot_notification import BootNotification

            return BootNotification(outbox, registration, keys, settings["ocpp"]["bootRetryInterval"], state, platform.set_rtc)

        self.boot = OnUse(boot, ("uocpp.services.boot_notification", "uocpp.confs.boot_notification"))
        self.heartbeat = heartbeat = Heartbeat(outbox, rpc, keys, registration, state, platform.set_rtc)
        self.status = StatusNotifier(outbox, connectors, registration, link)
        # Charging: the EVSE seam and its meter from the platform.
        self.evse = evse = platform.evse(settings)
        self.transactions = transactions = Transactions(json_file.join(flash, "tx.json"))
        meter = platform.meter(settings, evse)
        self.metering = metering = Metering(meter, evse.count, keys, outbox, transactions)

        def authorizer():
            # Made with the first card, Authorize or idTagInfo (lazy.py).
            from uocpp.model.auth_cache import AuthCache
            from uocpp.services.authorize import Authorizer

            cache = AuthCache(json_file.join(flash, "auth_cache.json"), lambda: keys.get("AuthorizationCacheEnabled"))
            return Authorizer(outbox, link, keys, cache, json_file.join(flash, "local_list.bin"))

        self.authorizer = authorizer = OnUse(authorizer, ("uocpp.services.authorize", "uocpp.model.auth_cache", "uocpp.model.local_list"))
        self.reservations = reservations = Reservations(json_file.join(flash, "reservations.json"), connectors)
        conn = settings["connectors"]
        self.sessions = sessions = Sessions(
            evse, metering, connectors, transactions, outbox, authorizer, keys, conn["maxCurrent"], store["maxTransactions"], reservations
        )
        # Smart charging's door: its working part is loaded while a profile is installed.
        energy = None  # kept by smart charging (smart.energy), not here: an off feature adds no attribute
        if "energy" in settings:  # only there when enabled; imported only then (energy/)
            from uocpp.energy.manager import Energy

            energy = Energy(settings, sessions, state, flash, keys, evse, meter)
        self.smart = smart = SmartCharging(
            json_file.join(flash, "profiles.json"), sessions, keys, evse.count, conn["maxCurrent"], conn["voltage"], conn["phases"], energy
        )

        def data_transfer():
            # Made when an application registers a vendor or sends, or a DataTransfer comes.
            from uocpp.services.data_transfer import DataTransfer

            return DataTransfer(outbox)

        self.data_transfer = OnUse(data_transfer)
        parts.update(
            boot=self.boot,
            outbox=outbox,
            heartbeat=heartbeat,
            status=self.status,
            sessions=sessions,
            transactions=transactions,
            authorizer=authorizer,
            metering=metering,
            data_transfer=self.data_transfer,
            smart=smart,
        )
        parts.update(reservations=reservations)
        # GetDiagnostics' service is made on first use (services/diagnostics.py
        # service()): until then it costs one empty slot.
        # So is UpdateFirmware's (services/firmware_update.py get()).
        parts.update(settings=settings, diagnostics=[None], firmware=[None])
        self._firmware = parts["firmware"]
        if update and update[0]:
            # An update installed what runs: its version, not config.json's.
            from uocpp.model import identity

            identity.set_firmware_version(update[0])
        self.board = Board(settings, link, platform.watchdog, platform.wlan)
        self._watch_keys()
        # SettingSystemTime: the clock set (BootNotification.conf,
        # Heartbeat.conf, NTP) more than _CLOCK_JUMP_S from where it ran;
        # the small corrections of every Heartbeat are not events.
        seen = [clock.now(), time.ticks_ms()]

        def moved():
            now, ticks = clock.now(), time.ticks_ms()
            jump = now - (seen[0] + time.ticks_diff(ticks, seen[1]) // 1000)
            seen[0], seen[1] = now, ticks
            if not -_CLOCK_JUMP_S <= jump <= _CLOCK_JUMP_S:
                security_event.report("SettingSystemTime", str(int(jump)))

        clock.on_set(moved)
        self.stop_reason = None
        self._stopped = asyncio.Event()

    def _watch_keys(self):
        # Keys whose change must reach a running part at once (KEY-02).
        k, link, security = self.keys, self.link, self.security
        k.watch("HeartbeatInterval", self.heartbeat.interval_changed)

        def new_key(key):
            security_event.report("ReconfigurationOfSecurityParameters", "AuthorizationKey")
            link.new_key(key)

        k.watch("AuthorizationKey", new_key)  # SEC-10: reconnect with it
        # The keepalive reads these per ping; probing restarts its timing.
        k.watch("WebSocketPingInterval", lambda v: link.probe())
        k.watch("MessageTimeout", lambda v: link.probe())
        k.guard("SecurityProfile", security.allows)  # SEC-12

        def raised(profile):
            security_event.report("ReconfigurationOfSecurityParameters", "SecurityProfile")
            security.raised(profile)
            link.drop("new SecurityProfile")

        k.watch("SecurityProfile", raised)
        # A measurand the meter does not have is Rejected.
        for name in ("MeterValuesSampledData", "MeterValuesAlignedData", "StopTxnSampledData", "StopTxnAlignedData"):
            k.guard(name, self.metering.accepts)

    def stop(self, reason):
        # Ends run(); reason is "soft" or "hard" (Reset) or "shutdown". A
        # Reset stops the running transactions first (their StopTransaction
        # is on flash; run() gives it a moment to leave).
        if reason in ("soft", "hard"):
            security_event.report("ResetOrReboot", reason)
            self.sessions.stop_all("SoftReset" if reason == "soft" else "HardReset")
        self.stop_reason = reason
        self._stopped.set()

    async def run(self):
        # Every long-lived task is started by the supervisor, which restarts
        # one that fails (supervisor.py). All of them run for ever except
        # (may_end=True): boot, which ends once Accepted (J-24: one per
        # boot); mqtt, which ends at once when umqtt is not installed (the
        # mirror is optional and says so in the log). The EVSE task runs for
        # ever on every platform (the unix simulator without a port idles).
        from uocpp.supervisor import Supervisor

        self.supervisor = sup = Supervisor()
        board = self.board
        try:
            security_event.report("StartupOfTheDevice", __version__)
            board.start(sup)  # the watchdog is fed from here on
            await board.network_up(sup)  # Wi-Fi up and stable (device only)
            await self.security.prepare()
            sup.start("link", self.link.run)
            sup.start("outbox", self.outbox.run)
            sup.start("boot", lambda: run_then_drop(self.boot), True)
            sup.start("heartbeat", self.heartbeat.run)
            sup.start("status", self.status.run)
            await self.metering.poll()  # the registers as the power cut left them, for PowerLoss stops
            if self.outbox.unreadable() is None:
                self.sessions.recover(self.outbox.stored())
            else:
                # What ran at the power cut cannot be told from a journal
                # that cannot be read: tx.json is left as it is, for a boot
                # that can read both.
                log.error("app", "transactions on flash not recovered: the journal cannot be read")
            sup.start("sessions", self.sessions.run)
            sup.start("smart", self.smart.run)
            sup.start("metering", self.metering.run)
            sup.start("reservations", self.reservations.run)
            sup.start("evse", lambda: self.evse.run(self.sessions))
            energy = self.smart.energy
            if energy is not None:  # its manager, grid meter and phase switch tasks
                for name, fn in energy.tasks():
                    sup.start(name, fn)
            if self._update and self._update[1]:
                # An update under way: resume, confirm or report it.
                from uocpp.services import firmware_update

                firmware_update.get(self._firmware, self.outbox, self.registration, self.transactions, self.stop, self.keys)
            if self.settings.get("mqtt", {}).get("enabled"):
                # Imported only when on: a disabled mirror costs no heap.
                from uocpp.extras.mqtt_mirror import MqttMirror

                sup.start("mqtt", MqttMirror(self.settings, self.state, self.metering, self.transactions, energy).run, True)
            if "web" in self.settings:  # only there when on (main.py)
                # Imported only when on (extras/web/): an off page costs no heap.
                from uocpp.extras.web.status import StatusPage

                page = StatusPage(self.settings, self.state, self.registration, self.connectors, self.transactions, self.metering, energy)
                sup.start("web", page.run)
            heap_s = self.settings["log"]["heapInterval"]
            if heap_s:
                from uocpp.extras import diag

                sup.start("diag", lambda: diag.report_heap(heap_s))
            board.supervise(sup)
            await self._stopped.wait()
            await self.outbox.drained(self.keys.get("MessageTimeout"))
        finally:
            sup.cancel()
            if self._firmware[0] is not None:
                self._firmware[0].close()
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
        "MeterValueSampleInterval": o["meterValueSampleInterval"],
        "RetryBackOffWaitMinimum": r["waitMinimum"],
        "RetryBackOffRandomRange": r["randomRange"],
        "RetryBackOffRepeatTimes": r["repeatTimes"],
        "AuthorizationKey": cs["authorizationKey"],
        "SecurityProfile": cs["securityProfile"],
        "AdditionalRootCertificateCheck": cs["additionalRootCertificateCheck"],
        "NumberOfConnectors": settings["connectors"]["count"],
        "SendLocalListMaxLength": send_list_max(cs["maxFrameSize"]),
        # In PROFILES' order, whatever the order in config.json.
        "SupportedFeatureProfiles": ",".join(p for p in PROFILES if p in o["featureProfiles"]),
    }
