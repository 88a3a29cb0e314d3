# services/boot_notification.py: the seed's C API kept under its Python
# names (README: GetBootNotificationInterval, SendBootNotificationRequest),
# and the service leaving the heap once Accepted (app.py App._boot_task).
import sys
import time

import asyncio
import fakes
from check import eq

from uocpp import log, outbox
from uocpp.app import App
from uocpp.lazy import OnUse
from uocpp.model.state import ACCEPTED, PENDING, REJECTED, State
from uocpp.rpc import Rpc

log.set_level("error")
_MODULE = "uocpp.services.boot_notification"


def make(replies):
    # replies: the BootNotification.conf payloads the central system gives, in turn.
    def peer(action, payload):
        return replies.pop(0)

    reg = State()
    k = fakes.Keys(HeartbeatInterval=60)
    k.use = lambda name, value: k.values.__setitem__(name, value)
    link = fakes.Link(peer)
    rpc = Rpc(None, reg, k)
    link.rpc = rpc
    box = outbox.Outbox(rpc, link, reg, k, fakes.Backoff(), None)
    return box, reg, k, link


def conf(status, interval):
    return {"status": status, "currentTime": "2026-12-02T00:00:00Z", "interval": interval}


async def test_seed_api_send_and_interval():
    from uocpp.services import boot_notification as bn

    box, reg, k, link = make([conf(PENDING, 42), conf(REJECTED, 30), conf(ACCEPTED, 90)])
    boot = bn.BootNotification(box, reg, k, 5, State())
    task = asyncio.create_task(box.run())
    eq(boot.get_boot_notification_interval(), 0, "no reply yet")
    eq(await boot.send_boot_notification(), bn.RESPONSE_PENDING, "SendBootNotificationRequest: Pending")
    eq(boot.get_boot_notification_interval(), 42, "GetBootNotificationInterval: the reply's interval")
    eq(await boot.send_boot_notification(), bn.RESPONSE_REJECTED)
    eq(await boot.send_boot_notification(), bn.FAILED, "Rejected: nothing sent before the retry interval (BN-09)")
    boot.start_boot_notification_timer(0)
    eq(boot.trigger(), bn.SUCCESS, "a trigger before Accepted sends it")
    eq(await boot.send_boot_notification(), bn.RESPONSE_SUCCESS)
    eq((boot.get_boot_notification_interval(), reg.status, k.get("HeartbeatInterval")), (90, ACCEPTED, 90), "Accepted")
    eq(boot.trigger(), bn.FAILED, "no trigger after Accepted (TM-08)")
    eq([s[1] for s in link.sent], ["BootNotification"] * 3, "three went out")
    task.cancel()


async def test_a_rejected_boot_goes_again_once_its_timer_expired():
    # Seed 3.2: after Rejected, SendBootNotificationRequest sends nothing
    # until the StartBootNotificationTimer the application started expires
    # (BN-09); then it sends. (Before: only a TriggerMessage let it go, and
    # none is answered while Rejected: the seed API stayed Rejected for good.)
    from uocpp.services import boot_notification as bn

    box, reg, k, link = make([conf(REJECTED, 30), conf(REJECTED, 30), conf(ACCEPTED, 90)])
    boot = bn.BootNotification(box, reg, k, 5, State())
    task = asyncio.create_task(box.run())
    eq(await boot.send_boot_notification(), bn.RESPONSE_REJECTED)
    boot.start_boot_notification_timer(30)
    eq(await boot.send_boot_notification(), bn.FAILED, "the timer runs: nothing sent")
    boot.start_boot_notification_timer(0)
    eq(await boot.send_boot_notification(), bn.RESPONSE_REJECTED, "the timer expired: sent")
    eq(await boot.send_boot_notification(), bn.FAILED, "Rejected again: nothing before the next timer")
    boot.start_boot_notification_timer(0)
    eq(await boot.send_boot_notification(), bn.RESPONSE_SUCCESS)
    eq(len(link.sent), 3, "three went out")
    task.cancel()


async def test_the_service_leaves_the_heap_once_accepted():
    box, reg, k, link = make([conf(PENDING, 0), conf(ACCEPTED, 60)])

    def boot():
        from uocpp.services.boot_notification import BootNotification

        return BootNotification(box, reg, k, 0.05, State())

    app = object.__new__(App)  # the boot task alone: the app's part, made on use
    app.boot = part = OnUse(boot, (_MODULE,))
    tasks = [asyncio.create_task(box.run()), asyncio.create_task(app._boot_task())]
    await asyncio.sleep_ms(10)
    eq((bool(part), _MODULE in sys.modules), (True, True), "loaded while not Accepted")
    await reg.accepted.wait()
    await asyncio.sleep_ms(10)
    eq((bool(part), _MODULE in sys.modules, reg.status), (False, False, ACCEPTED), "dropped once Accepted")
    for t in tasks:
        t.cancel()


async def test_an_interval_past_a_day_waits_a_day():
    # BootNotification.conf's interval may be any integer, but a board's
    # ticks overflow past 2^29 ms (6.2 days on a 32-bit port): a wait that
    # long raises, the task fails and the board resets. A day at most, as
    # HeartbeatInterval's own range (1 to 86400) allows.
    from uocpp.services import boot_notification as bn

    box, reg, k, link = make([conf(REJECTED, 10**9), conf(ACCEPTED, 10**9)])
    boot = bn.BootNotification(box, reg, k, 5, State())
    tasks = [asyncio.create_task(box.run()), asyncio.create_task(boot.run())]
    await asyncio.sleep_ms(50)
    eq(boot.get_boot_notification_interval(), 10**9, "GetBootNotificationInterval: the reply's interval")
    left = time.ticks_diff(boot._retry_at, time.ticks_ms())
    eq(0 < left <= 86400 * 1000, True, "the retry within a day (%d ms)" % left)
    boot.trigger()
    await asyncio.wait_for_ms(reg.accepted.wait(), 1000)
    eq(k.get("HeartbeatInterval"), 86400, "a day, the key's own bound")
    for t in tasks:
        t.cancel()


def recorded_waits(link, first_fails):
    # A stand-in for boot_notification's sleep: each wait is recorded as
    # (BootNotifications sent so far, ms) and then never ends; with
    # first_fails the first one finds no heap instead.
    waits = []
    waiting = asyncio.Event()

    class Sleep:
        @staticmethod
        async def until(event, ms):
            waits.append((len(link.sent), ms))
            if first_fails and len(waits) == 1:
                raise MemoryError
            waiting.set()
            await asyncio.Event().wait()

    return Sleep, waits, waiting


async def test_a_restart_during_the_pending_wait_still_waits_the_interval():
    # A MemoryError in the wait after Pending fails the task; the supervisor
    # starts it again 1 s later, on the same part. That run sent
    # BootNotification at once: 1.6 section 4.2 (BN-06), after Pending not
    # before the interval has passed. The rest of the wait comes first.
    from uocpp.services import boot_notification as bn

    box, reg, k, link = make([conf(PENDING, 60), conf(PENDING, 60)])
    boot = bn.BootNotification(box, reg, k, 5, State())
    Sleep, waits, waiting = recorded_waits(link, True)

    task = asyncio.create_task(box.run())
    real, bn.sleep = bn.sleep, Sleep
    try:
        try:
            await boot.run()
        except MemoryError:
            pass
        again = asyncio.create_task(boot.run())  # the supervisor's restart
        await asyncio.wait_for_ms(waiting.wait(), 2000)
        eq(waits[1][0], 1, "no second BootNotification before the interval")
        eq(55000 < waits[1][1] <= 60000, True, "waits the rest of the 60 s (%d ms)" % waits[1][1])
        again.cancel()
    finally:
        bn.sleep = real
        task.cancel()


class _LineFails:
    # services/boot_notification.py's log, whose "registration ..." line
    # finds no heap (its arguments' tuple is allocated at the call).
    @staticmethod
    def info(tag, msg, *args):
        if msg.startswith("registration"):
            raise MemoryError
        log.info(tag, msg, *args)

    warning = staticmethod(log.warning)


async def test_a_memory_error_in_the_registration_line_still_waits_the_interval():
    # _apply stored Pending, then its log line raised MemoryError before
    # run() started the retry timer: the supervisor's restart sent the next
    # BootNotification at once. 1.6 section 4.2 (BN-06): after Pending, not
    # before the interval has passed. After Accepted the same line left the
    # clock unset and `accepted` clear: a second BootNotification (J-24).
    from uocpp.services import boot_notification as bn

    box, reg, k, link = make([conf(PENDING, 60), conf(PENDING, 60)])
    boot = bn.BootNotification(box, reg, k, 5, State())
    Sleep, waits, waiting = recorded_waits(link, False)

    task = asyncio.create_task(box.run())
    real, bn.sleep, bn.log = bn.sleep, Sleep, _LineFails
    try:
        first = asyncio.create_task(boot.run())
        try:
            await asyncio.wait_for_ms(waiting.wait(), 2000)
        except (MemoryError, asyncio.TimeoutError):
            pass
        if not waits:  # the run failed: the supervisor starts it again
            again = asyncio.create_task(boot.run())
            try:
                await asyncio.wait_for_ms(waiting.wait(), 2000)
            except asyncio.TimeoutError:
                pass
            again.cancel()
        first.cancel()
        eq(len(link.sent), 1, "no second BootNotification before the interval")
        eq(waits[0][0], 1, "the wait after the first")
        eq(55000 < waits[0][1] <= 60000, True, "waits the 60 s (%d ms)" % waits[0][1])

        box2, reg2, k2, link2 = make([conf(ACCEPTED, 90), conf(ACCEPTED, 90)])
        task2 = asyncio.create_task(box2.run())
        boot2 = bn.BootNotification(box2, reg2, k2, 5, State())
        try:
            await boot2.run()
        except MemoryError:
            pass
        eq((reg2.accepted.is_set(), k2.get("HeartbeatInterval")), (True, 90), "Accepted taken in whole")
        eq(len(link2.sent), 1, "one BootNotification")
        task2.cancel()
    finally:
        bn.sleep, bn.log = real, log
        task.cancel()
