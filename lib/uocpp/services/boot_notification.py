# BootNotification (seed section 3.2): the send function, its result codes,
# the registration status, the boot config the application reads, the retry
# timer after a non-accepted boot, and the trigger that re-sends it.
#
# Rules: nothing but BootNotification before Accepted (BN-04, enforced by
# the outbox); Pending and Rejected wait at least `interval` (BN-06), or
# bootRetryInterval when it is 0 (BN-07); Rejected also silences us towards
# the central system (BN-09/10). A CALLERROR, a timeout or a lost link is
# retried by the outbox with the RetryBackOff* back-off. Accepted sets the
# heartbeat interval and the clock (BN-05) and happens once per boot (J-24).
import asyncio
import time

from micropython import const

from uocpp import clock, errors, log, sleep
from uocpp.outbox import BOOT, Message, ONCE, RETRY
from uocpp.model import identity
from uocpp.model import state as st
from uocpp.model.state import ACCEPTED, PENDING, REJECTED  # noqa: F401 (seed names)

# BOOTNOTIFICATIONERROR_T
SUCCESS = const(0)  # the request went out (trigger accepted)
FAILED = const(1)  # it could not be sent: no link
RESPONSE_FAILED = const(2)  # CALLERROR or no reply in time
RESPONSE_ACCEPT_FAILED = const(3)  # a reply came but breaks BootNotification.conf
RESPONSE_SUCCESS = const(4)  # Accepted
RESPONSE_PENDING = const(5)
RESPONSE_REJECTED = const(6)
# The longest wait an interval puts in force: a day, HeartbeatInterval's own
# range. A central system may ask for more, but a board's ticks overflow past
# 2^29 ms (6.2 days on a 32-bit port): the wait would raise, the task fail,
# and the supervisor restart it until the watchdog resets the board.
_MOST_S = const(86400)

_RESULT_NAMES = const(("SUCCESS", "FAILED", "RESPONSE_FAILED", "RESPONSE_ACCEPT_FAILED", "RESPONSE_SUCCESS", "RESPONSE_PENDING", "RESPONSE_REJECTED"))


class BootNotification:
    def __init__(self, outbox, registration, keys, retry_s, state, set_rtc=None):
        # retry_s: config.json's ocpp.bootRetryInterval, for Pending and
        # Rejected replies whose interval is 0.
        self._outbox = outbox
        self.config = registration  # BOOTNOTIFICATIONCONFIG_T and validBootnotification
        self.accepted = registration.accepted
        self._keys = keys
        self.default_retry_s = retry_s
        self.state = state
        self._set_rtc = set_rtc
        self._timer_expired = asyncio.Event()
        self._retry_at = None

    # -- seed API -----------------------------------------------------------
    def get_boot_notification_interval(self):
        # GetBootNotificationInterval: seconds from the last reply (0 if none).
        return self.config.interval

    async def send_boot_notification(self):
        # SendBootNotificationRequest: one BootNotification.req with the
        # identity from the setters; applies the reply. Returns a result code.
        if self.config.status == REJECTED and not self._timer_expired.is_set():
            if self._retry_at is None or time.ticks_diff(self._retry_at, time.ticks_ms()) > 0:
                log.info("boot", "BootNotification not sent: Rejected, waiting for the retry interval (BN-09)")
                return FAILED
            self._retry_at = None  # its timer expired: this one goes, the next waits for another
        return await self._send(ONCE)

    def start_boot_notification_timer(self, seconds):
        # StartBootNotificationTimer: the next BootNotification goes out when
        # this expires (or earlier on a TriggerMessage).
        self._retry_at = time.ticks_add(time.ticks_ms(), int(seconds * 1000))
        self._timer_expired.clear()

    def trigger(self):
        # TriggerMessage(BootNotification): send it now. Accepted stays put
        # until the next reboot (TM-08), so the trigger is refused then.
        if self.config.status == ACCEPTED:
            return FAILED
        self._timer_expired.set()
        return SUCCESS

    # -- sending ---------------------------------------------------------------
    async def _send(self, policy):
        msg = Message("BootNotification", identity.boot_notification_payload, policy, BOOT, on_failure=self._retried)  # its .conf: confs/boot_notification.py
        try:
            reply = await self._outbox.request(msg)
        except errors.CallFailed as e:
            return self._failed(e)
        return self._apply(reply)

    def _retried(self, e):
        # The outbox retries it: log why, with the seed's result code.
        return _RESULT_NAMES[self._failed(e)]

    def _failed(self, e):
        if isinstance(e, errors.NotConnected):
            log.info("boot", "BootNotification not sent: %s", e)
            return FAILED
        if isinstance(e, errors.ReplyRefused):
            log.warning("boot", "BootNotification.conf is malformed: %s", e)
            return RESPONSE_ACCEPT_FAILED
        log.warning("boot", "BootNotification failed: %s", e)
        self.state.set(st.LAST_ERROR, "BootNotification failed: %s" % e)
        return RESPONSE_FAILED

    def _apply(self, reply):
        status, current, interval = reply["status"], reply["currentTime"], reply["interval"]
        cfg = self.config
        cfg.status, cfg.current_time, cfg.interval = status, current, interval
        self.state.set(st.REGISTRATION, status)
        try:
            log.info("boot", "registration %s, interval %d s, time %s", status, interval, current)
        except MemoryError:
            pass  # its arguments' tuple: the status is stored, the rest (the clock, the retry wait) must follow
        if status == ACCEPTED:
            unix = clock.parse_iso(current)
            clock.set_unix(unix)
            if self._set_rtc:
                self._set_rtc(unix)
            if interval > 0:  # 0 keeps the configured heartbeat interval (BN-16)
                self._keys.use("HeartbeatInterval", min(interval, _MOST_S))
            cfg.accepted.set()
        self._outbox.wake()
        # The status is one of the three (confs/boot_notification.py checked it).
        return RESPONSE_SUCCESS if status == ACCEPTED else RESPONSE_PENDING if status == PENDING else RESPONSE_REJECTED

    # -- the registration task -----------------------------------------------
    async def run(self):
        while True:
            if self._retry_at is not None:
                # The wait after Pending or Rejected (BN-06), first: a run
                # the supervisor started again after a failure in it (a
                # MemoryError) waits the rest before it sends.
                left = time.ticks_diff(self._retry_at, time.ticks_ms())
                if await sleep.until(self._timer_expired, left):
                    log.info("boot", "BootNotification triggered early")
            # The outbox retries failures until a valid reply comes.
            result = await self._send(RETRY)
            if result == RESPONSE_SUCCESS:
                return
            wait = min(self.config.interval, _MOST_S) or self.default_retry_s
            self.start_boot_notification_timer(wait)  # before the line: a MemoryError in it leaves the wait due
            log.info("boot", "%s: next BootNotification in %.1f s", _RESULT_NAMES[result], wait)
