# Once per boot (and per soft reset): builds the app's parts, wires them,
# and starts its long-lived tasks. The one place that wires the parts: each
# gets what it needs at construction, and the running parts are asyncio
# tasks. App.__init__ calls build(), App.run() start(), then unloads this
# module (issue 24: code that runs once does not stay in the heap for the
# months the charger runs). Nothing made here may keep a function of this
# module: a callback a part keeps is a method of the App (app.py), or the
# part's own.
import time

from micropython import const

from uocpp import __version__, clock, log, platform, security_event, unload
from uocpp.lazy import OnUse
from uocpp.device import watchdog
from uocpp.link.backoff import KeyBackoff
from uocpp.link.link import Link
from uocpp.link.security import Security
from uocpp.model.connectors import Connectors
from uocpp.model.keys import PROFILES, Keys
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

# The SendLocalListMaxLength seed is what fits in one frame
# (centralSystem.maxFrameSize, larger ones are closed with 1009 before they
# are read): an ordinary entry
# at its longest, 20-character ASCII idTag and parentIdTag, an expiryDate
# with milliseconds and offset, status ConcurrentTx, written with a space
# after each separator, takes 162 bytes; the CALL around the list (a
# 36-character id, listVersion 2147483647, Differential) 149. A larger
# frame limit would take a larger list, but also its parse: 100 entries
# parsed are 43 KB on the 64-bit unix port (beside the 15 KB frame), more
# than a plain ESP32 can spare.
_LIST_ENTRY = const(162)
_LIST_CALL = const(149)


def build(app, settings, update):
    # update: what main.py's loader found (uocpp_loader.start()).
    # A soft reset's new app: none of the old one's clock listeners (and
    # with them everything they hold).
    del clock._on_set[:]
    # Nor the old one's SignCertificate exchange: its task, in the loop the
    # soft reset dropped, never ends, and kept every later one "under way".
    unload("uocpp.services.csr_exchange")
    app.flash = flash = platform.flash_dir(settings)
    lg = settings["log"]
    log.open_ring(json_file.join(flash, "log"), lg["flashLevel"], lg["flashBytes"], lg["flashFiles"])
    cs, o, r = settings["centralSystem"], settings["ocpp"], settings["reconnect"]
    # config.json seeds the OCPP keys; from here on every part reads the
    # keys in force, never the boot settings they came from (values the
    # central system set later, persisted in keys.json, win over these).
    app.keys = keys = Keys(
        json_file.join(flash, "keys.json"),
        {
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
            "SendLocalListMaxLength": max(1, (cs["maxFrameSize"] - _LIST_CALL) // _LIST_ENTRY),
            # In PROFILES' order, whatever the order in config.json.
            "SupportedFeatureProfiles": ",".join(p for p in PROFILES if p in o["featureProfiles"]),
        },
    )
    log.add_secret(keys.get("AuthorizationKey"))
    app.state = state = State()
    app.registration = registration = state  # the registration is part of the state (model/state.py)
    app.connectors = connectors = Connectors(keys.get("NumberOfConnectors"), json_file.join(flash, "connectors.json"), state)
    parts = {"keys": keys, "connectors": connectors, "registration": registration, "stop": app.stop}
    app.rpc = rpc = Rpc(Dispatcher(parts).dispatch, registration, keys)
    app.security = security = Security(settings, keys, flash)
    app.link = link = Link(cs, keys, security, state, rpc)
    store = settings["storage"]
    app.outbox = outbox = Outbox(rpc, link, registration, keys, KeyBackoff(keys), json_file.join(flash, "outbox.journal"), store["journalBytes"])
    Security.app = app  # issue 25: SignCertificate and CertificateSigned find the app's parts here
    # The security log and SecurityEventNotification (security_log.py).
    security_event._where[:3] = json_file.join(flash, "security"), outbox, cs["securityEvents"]
    app.boot = OnUse(app._make_boot, ("uocpp.services.boot_notification", "uocpp.confs.boot_notification"))
    app.heartbeat = heartbeat = Heartbeat(outbox, rpc, keys, registration, state, platform.set_rtc)
    app.status = StatusNotifier(outbox, connectors, registration, link)
    # Charging: the EVSE seam and its meter from the platform.
    app.evse = evse = platform.evse(settings)
    app.transactions = transactions = Transactions(json_file.join(flash, "tx.json"))
    meter = platform.meter(settings, evse)
    app.metering = metering = Metering(meter, evse.count, keys, outbox, transactions, evse.changed)
    app.authorizer = authorizer = OnUse(app._make_authorizer, ("uocpp.services.authorize", "uocpp.model.auth_cache", "uocpp.model.local_list"))
    app.reservations = reservations = Reservations(json_file.join(flash, "reservations.json"), connectors)
    conn = settings["connectors"]
    app.sessions = sessions = Sessions(
        evse, metering, connectors, transactions, outbox, authorizer, keys, conn["maxCurrent"], store["maxTransactions"], reservations
    )
    # Smart charging's door: its working part is loaded while a profile is installed.
    energy = None  # kept by smart charging (smart.energy), not here: an off feature adds no attribute
    if "energy" in settings:  # only there when enabled; imported only then (energy/)
        from uocpp.energy.manager import Energy

        energy = Energy(settings, sessions, state, flash, keys, evse, meter)
    app.smart = smart = SmartCharging(
        json_file.join(flash, "profiles.json"), sessions, keys, evse.count, conn["maxCurrent"], conn["voltage"], conn["phases"], energy
    )
    app.data_transfer = OnUse(app._make_data_transfer)
    parts.update(
        boot=app.boot,
        outbox=outbox,
        heartbeat=heartbeat,
        status=app.status,
        sessions=sessions,
        transactions=transactions,
        authorizer=authorizer,
        metering=metering,
        data_transfer=app.data_transfer,
        smart=smart,
    )
    parts.update(reservations=reservations)
    # GetDiagnostics' service is made on first use (services/diagnostics.py
    # service()): until then it costs one empty slot.
    # So is UpdateFirmware's (services/firmware_update.py get()).
    parts.update(settings=settings, diagnostics=[None], firmware=[None])
    app._firmware = parts["firmware"]
    if update and update[0]:
        # An update installed what runs: its version, not config.json's.
        from uocpp.model import identity

        identity.set_firmware_version(update[0])
    # The device around the OCPP core: the hardware watchdog and the Wi-Fi
    # station, both optional (config.json: watchdog.timeout 0, wifi.ssid
    # empty) and costing nothing when off.
    w = settings["watchdog"]["timeout"]
    app.watchdog = watchdog.Watchdog(w, platform.watchdog) if w else None
    app.wifi = None
    cfg = settings["wifi"]
    if cfg["ssid"]:
        # Imported only with Wi-Fi configured: a wired or cellular charger
        # does not carry the station's code in its heap (about 5 KB). A
        # Wi-Fi that goes down drops the link at once.
        from uocpp.device.wifi import Wifi

        app.wifi = Wifi(platform.wlan(), cfg, link.drop)
    else:
        log.info("wifi", "no wifi.ssid in config.json: using the network as it is (wired, modem or host)")
    # Keys whose change must reach a running part at once (KEY-02).
    keys.watch("HeartbeatInterval", heartbeat.interval_changed)
    keys.watch("AuthorizationKey", app.new_key)  # SEC-10: reconnect with it
    # WebSocketPingInterval, MessageTimeout: the keepalive reads these per
    # ping; probing restarts its timing.
    keys.watch("WebSocketPingInterval", link.probe)
    keys.watch("MessageTimeout", link.probe)
    keys.guard("SecurityProfile", security.allows)  # SEC-12
    keys.watch("SecurityProfile", app.raised)
    # A measurand the meter does not have is Rejected.
    for name in ("MeterValuesSampledData", "MeterValuesAlignedData", "StopTxnSampledData", "StopTxnAlignedData"):
        keys.guard(name, metering.accepts)
    app._seen = [clock.now(), time.ticks_ms()]  # where the clock ran (App.moved)
    clock.on_set(app.moved)
    # The identity's setters (config.json, the modem, an update's version)
    # are done with.
    unload("uocpp.model.identity_set")


async def start(app, sup):
    # The start-up half of App.run(): every long-lived task is started by
    # the supervisor, which restarts one that fails (supervisor.py). All of
    # them run for ever except (may_end=True): boot, which ends once
    # Accepted (J-24: one per boot); mqtt, which ends at once when umqtt is
    # not installed (the mirror is optional and says so in the log). The
    # EVSE task runs for ever on every platform (the unix simulator without
    # a port idles).
    dog, wifi, settings = app.watchdog, app.wifi, app.settings
    security_event.report("StartupOfTheDevice", __version__)
    if dog:
        sup.start("watchdog", dog.run)  # fed from here on, while healthy
        if wifi:
            dog.checks.append(watchdog.wifi_stall(wifi, settings["wifi"]["timeout"]))
    if wifi:
        # Wi-Fi up and stable (device only), then a task watching it.
        await wifi.connect()
        sup.start("wifi", wifi.run)
    await app.security.prepare()
    sup.start("link", app.link.run)
    sup.start("outbox", app.outbox.run)
    sup.start("boot", app._boot_task, True)
    sup.start("heartbeat", app.heartbeat.run)
    sup.start("status", app.status.run)
    await app.metering.poll()  # the registers as the power cut left them, for PowerLoss stops
    if app.outbox.unreadable is None:
        from uocpp.services import power_loss  # what the last run left on flash

        power_loss.recover(app.sessions, app.outbox.stored())
        unload("uocpp.services.power_loss")
    else:
        # What ran at the power cut cannot be told from a journal
        # that cannot be read: tx.json is left as it is, for a boot
        # that can read both.
        log.error("app", "transactions on flash not recovered: the journal cannot be read")
    sup.start("sessions", app.sessions.run)
    sup.start("smart", app.smart.run)
    sup.start("metering", app.metering.run)
    sup.start("reservations", app.reservations.run)
    sup.start("evse", app._evse_task)
    energy = app.smart.energy
    if energy is not None:  # its manager, grid meter and phase switch tasks
        for name, fn in energy.tasks():
            sup.start(name, fn)
    update = app._update
    if update and update[1]:
        # An update under way: resume, confirm or report it.
        from uocpp.services import firmware_update

        firmware_update.get(app._firmware, app.outbox, app.registration, app.transactions, app.stop, app.keys)
    if settings.get("mqtt", {}).get("enabled"):
        # Imported only when on: a disabled mirror costs no heap.
        from uocpp.extras.mqtt_mirror import MqttMirror

        sup.start("mqtt", MqttMirror(settings, app.state, app.metering, app.transactions, energy).run, True)
    if "web" in settings:  # only there when on (main.py)
        # Imported only when on (extras/web/): an off page costs no heap.
        from uocpp.extras.web.status import StatusPage

        page = StatusPage(settings, app.state, app.registration, app.connectors, app.transactions, app.metering, energy)
        sup.start("web", page.run)
    if settings["log"]["heapInterval"]:
        sup.start("diag", app._diag_task)
    if dog:
        # The health checks the watchdog feeds on: no task keeps failing
        # (the supervisor restarts one that fails now and then), and the
        # link keeps connecting while it is down.
        dog.checks.append(sup.verdict)
        dog.checks.append(watchdog.link_stall(app.link, settings["centralSystem"]["connectTimeout"]))
    # What a running part reads of the settings after the start, section by
    # section (None: all of it); the rest leaves the heap (issue 24: a full
    # copy is 4 KB on 32-bit): each part took its values at construction,
    # and a soft reset reads config.json again (uocpp/main.py).
    # centralSystem: chargePointId (csr_exchange.py, diagnostics.py), caFile
    # (certificates.py, diagnostics.py, firmware_update.py); storage: dir
    # (platform flash_dir); diagnostics: GetDiagnostics and GetLog; ocpp:
    # bootRetryInterval (App._make_boot); log: heapInterval (App._diag_task,
    # at each restart). In place: main.py, provision.settings, the app,
    # Security and the dispatcher's parts all hold this one dict.
    keep = {"centralSystem": ("chargePointId", "caFile"), "storage": ("dir",), "diagnostics": None, "ocpp": ("bootRetryInterval",), "log": ("heapInterval",)}
    for name in list(settings):
        keys = keep.get(name, ())
        if not keys:
            if keys is not None:
                del settings[name]
        else:
            section = settings[name]
            settings[name] = {key: section[key] for key in keys}
