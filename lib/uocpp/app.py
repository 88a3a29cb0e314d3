# The application: its parts, its long-lived tasks, and how it stops. What
# builds the parts and starts the tasks runs once per boot and is in
# uocpp/startup.py, which leaves the heap once the tasks run (issue 24:
# on the stock firmware a module's code lives in the heap).
#   link (WebSocket, security, back-off) -> rpc (frames, dispatch to ops)
#   outbox (the one sender) <- services (boot notification, heartbeat, status)
#   model (keys, registration, connectors, state), store (files on flash)
# What outlives the start-up is here, as methods: the parts made on use
# (boot, authorizer, data_transfer), the key watchers, the clock listener
# and the supervisor's task makers. A function of startup.py kept by a part
# would keep that module's globals, and with them all its code.
import asyncio
import time

from micropython import const

from uocpp import clock, log, platform, security_event, sleep, unload
from uocpp.store import json_file

_CLOCK_JUMP_S = const(60)  # a larger step of the clock is SettingSystemTime
# The stop reasons of a Reset's transactions; a const(): a short literal would be an interned name for ever (docs/memory.md).
_SOFT_RESET = const("SoftReset")
_HARD_RESET = const("HardReset")


class App:
    def __init__(self, settings, update=None):
        # update: what main.py's loader found (uocpp_loader.start()).
        from uocpp import startup

        self.settings = settings
        self._update = update
        self.stop_reason = None
        self._stopped = asyncio.Event()
        try:
            startup.build(self, settings, update)
        except BaseException:
            unload("uocpp.startup")
            raise
        # startup.py stays loaded for run()'s start, which drops it.

    # -- parts made on use (lazy.py OnUse) ----------------------------------------
    def _make_boot(self):
        # Needed until Accepted, once per boot (J-24): its task drops it then.
        from uocpp.services.boot_notification import BootNotification

        s = self.settings
        return BootNotification(self.outbox, self.registration, self.keys, s["ocpp"]["bootRetryInterval"], self.state, platform.set_rtc)

    def _make_authorizer(self):
        # Made with the first card, Authorize or idTagInfo.
        from uocpp.model.auth_cache import AuthCache
        from uocpp.services.authorize import Authorizer

        flash, keys = self.flash, self.keys
        cache = AuthCache(json_file.join(flash, "auth_cache.json"), lambda: keys.get("AuthorizationCacheEnabled"))
        return Authorizer(self.outbox, self.link, keys, cache, json_file.join(flash, "local_list.bin"), self.status)

    def _make_data_transfer(self):
        # Made when an application registers a vendor or sends, or a DataTransfer comes.
        from uocpp.services.data_transfer import DataTransfer

        return DataTransfer(self.outbox)

    # -- key watchers (KEY-02: a change reaches a running part at once) -------------
    def new_key(self, key):
        security_event.report("ReconfigurationOfSecurityParameters", "AuthorizationKey")
        self.link.new_key(key)  # SEC-10: reconnect with it

    def raised(self, profile):
        security_event.report("ReconfigurationOfSecurityParameters", "SecurityProfile")
        self.security.raised(profile)
        self.link.drop("new SecurityProfile")

    def moved(self):
        # SettingSystemTime: the clock set (BootNotification.conf,
        # Heartbeat.conf, NTP) more than _CLOCK_JUMP_S from where it ran;
        # the small corrections of every Heartbeat are not events.
        seen = self._seen
        now, ticks = clock.now(), time.ticks_ms()
        jump = now - (seen[0] + time.ticks_diff(ticks, seen[1]) // 1000)
        seen[0], seen[1] = now, ticks
        if not -_CLOCK_JUMP_S <= jump <= _CLOCK_JUMP_S:
            security_event.report("SettingSystemTime", str(int(jump)))

    # -- the supervisor's task makers (called again for each restart) ----------------
    async def _boot_task(self):
        # The task of a part used once: BootNotification's run() returns
        # once Accepted, and the part leaves the heap then (made again only
        # if used again). An exception is the supervisor's to restart.
        boot = self.boot
        await boot.run()
        boot.drop()

    def _evse_task(self):
        return self.evse.run(self.sessions)

    def _diag_task(self):
        from uocpp.extras import diag

        return diag.report_heap(self.settings["log"]["heapInterval"], self.outbox)

    def stop(self, reason):
        # Ends run(); reason is "soft" or "hard" (Reset) or "shutdown". A
        # Reset stops the running transactions first (their StopTransaction
        # is on flash; run() gives it a moment to leave).
        if reason in ("soft", "hard"):
            security_event.report("ResetOrReboot", reason)
            # No new transaction until the restart (C16 5.14): run() waits
            # up to MessageTimeout for the stops to leave, meanwhile a card
            # or a RemoteStartTransaction would start one only to end it.
            self.sessions._max_tx = 0
            self.sessions.stop_all(_SOFT_RESET if reason == "soft" else _HARD_RESET)
        self.stop_reason = reason
        self._stopped.set()

    async def run(self):
        # Every long-lived task is started by the supervisor (startup.py
        # start()), which restarts one that fails (supervisor.py).
        from uocpp.supervisor import Supervisor

        self.supervisor = sup = Supervisor()
        try:
            await _start(self, sup)
            # The clock's listeners (moved() here, the smart charging's)
            # measure a step of the clock on ticks_ms since the last setting;
            # a board's ticks_diff reads negative past 6.2 days, so a week
            # offline made the next setting a step of 12 days. They look
            # every hour, each time from where the clock ran.
            while not await sleep.until(self._stopped, 3600000):
                try:
                    for fn in clock._on_set:
                        fn()
                except Exception:  # MemoryError too: the next hour's look
                    pass
            if self.stop_reason in ("soft", "hard"):
                # A Reset's stops are stored by the session loop's next pass
                # (after the meter read, services/start_stop.py stop()): on
                # flash before they may leave, bounded (a loop that does not
                # come round: recovered at the next boot, PowerLoss).
                try:
                    await asyncio.wait_for_ms(self.sessions.settled(), 5000)
                except asyncio.TimeoutError:
                    pass
            await self.outbox.drained(self.keys.get("MessageTimeout"))
        finally:
            t = sup.cancel()
            # The hardware watchdog runs on (a soft reset cannot stop it): fed
            # through the link's close (up to 2 s) and the tasks' cleanup, as
            # while the app ran; its task went with the others. (Not armed
            # here by an app that failed before it ran: feeds is 0.)
            dog = self.watchdog
            if dog and dog.feeds:
                dog = asyncio.create_task(dog.run())
            else:
                dog = None
            u = self._update
            if self._firmware[0] is not None:
                self._firmware[0].close()
                # An UpdateFirmware this app took in is on flash, under way
                # (or its outcome not yet answered): a soft reset's next app
                # resumes it, as the loader's decision does at a boot.
                self._update = (u[0] if u else None, True, bool(u and u[2]))
            await self.link.close()
            # The cancelled tasks' cleanup (the EVSE simulator's server, a
            # connection) runs only when the loop runs them again: before
            # this returns, not in the loop main.py drops for the next app
            # (whose server then found its port taken, and halted).
            end = time.ticks_add(time.ticks_ms(), 3000)
            for task in t:
                while not task.done() and time.ticks_diff(end, time.ticks_ms()) > 0:
                    await asyncio.sleep_ms(20)
            if dog:
                dog.cancel()
            log.info("app", "stopped (%s)", self.stop_reason)
        return self.stop_reason, self._update  # (main.py: the next app's update)


async def _start(app, sup):
    # Not in run(): a local of run() would hold startup.py for as long as
    # the app runs.
    from uocpp import startup

    try:
        await startup.start(app, sup)
    finally:
        unload("uocpp.startup")
    # main.py collects every 16 KB allocated through the boot. Running, the
    # collections come after a quarter of what the heap has left free (2 to
    # 16 KB): in a tight heap (a frozen build in 47 KB has about 8 KB free)
    # a 16 KB threshold is never reached, a collection comes only when an
    # allocation fails, and by then a session's long-lived objects lie
    # among its garbage all over the free part. 32-bit frozen at 47 KB, 8
    # sessions each: 0 completed with 16 or 8 KB, 5 with half the free
    # heap, 8 with a third or a quarter (docs/memory-session.md). A large
    # heap keeps the 16 KB, and its collections as rare as before (so does
    # an ESP32 whose heap can still grow: mem_free() counts that room). A
    # soft reset builds its new app under this threshold: more often, no
    # harm.
    import gc

    gc.collect()
    gc.threshold(min(16384, max(2048, gc.mem_free() // 4)))
