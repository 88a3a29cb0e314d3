# BootNotification (seed section 3.2): the send function, its result codes,
# the registration status, the boot config the application reads, the retry
# timer after a failed or non-accepted boot, and the trigger that re-sends it.
#
# Rules: nothing but BootNotification before Accepted (BN-04); Pending and
# Rejected wait at least `interval` (BN-06), or bootRetryInterval when it is 0
# (BN-07); Rejected also silences us towards the central system (BN-09/10);
# CALLERROR, timeout or a lost link retry with back-off. Accepted sets the
# heartbeat interval and the clock (BN-05) and happens once per boot (J-24).
import asyncio
import time

from micropython import const

from uocpp import clock, errors, log
from uocpp.model import identity
from uocpp.model import state as st
from uocpp import sleep

# BOOTNOTIFICATIONERROR_T
SUCCESS = const(0)  # the request went out (trigger accepted)
FAILED = const(1)  # it could not be sent: no link
RESPONSE_FAILED = const(2)  # CALLERROR or no reply in time
RESPONSE_ACCEPT_FAILED = const(3)  # a reply came but breaks BootNotification.conf
RESPONSE_SUCCESS = const(4)  # Accepted
RESPONSE_PENDING = const(5)
RESPONSE_REJECTED = const(6)

RESULT_NAMES = ("SUCCESS", "FAILED", "RESPONSE_FAILED", "RESPONSE_ACCEPT_FAILED", "RESPONSE_SUCCESS", "RESPONSE_PENDING", "RESPONSE_REJECTED")

# REGISTRATIONSTATUS
ACCEPTED = "Accepted"
PENDING = "Pending"
REJECTED = "Rejected"

_BY_STATUS = {ACCEPTED: RESPONSE_SUCCESS, PENDING: RESPONSE_PENDING, REJECTED: RESPONSE_REJECTED}


class BootConfig:
    # BOOTNOTIFICATIONCONFIG_T: what the last BootNotification.conf said.
    # status is None until a valid reply arrived; current_time is the ISO text.
    def __init__(self):
        self.status = None
        self.current_time = None
        self.interval = 0


class BootNotification:
    def __init__(self, rpc, link, settings, heartbeat, state, set_rtc=None):
        self.rpc = rpc
        self.link = link
        self.heartbeat = heartbeat
        self._set_rtc = set_rtc
        self.state = state
        o = settings["ocpp"]
        self.default_retry_s = o["bootRetryInterval"]
        self._failure_backoff = link.new_backoff()
        self.config = BootConfig()
        self.accepted = asyncio.Event()
        self._timer_expired = asyncio.Event()
        self._retry_at = None
        rpc.permit = self._permit

    # -- policy the RPC layer asks before every CALL of ours ---------------
    def _permit(self, action, triggered):
        status = self.config.status
        if status == ACCEPTED:
            return
        if action == "BootNotification":
            if status == REJECTED and not self._timer_expired.is_set():
                raise errors.NotPermitted("Rejected: waiting for the retry interval (BN-09)")
            return
        if status == PENDING and triggered:
            return  # BN-12: a TriggerMessage may ask for it while Pending
        raise errors.NotPermitted("%s before Accepted (BN-04)" % action)

    # -- seed API -----------------------------------------------------------
    def get_boot_notification_interval(self):
        # GetBootNotificationInterval: seconds from the last reply (0 if none).
        return self.config.interval

    async def send_boot_notification(self):
        # SendBootNotificationRequest: sends BootNotification.req with the
        # identity from the setters and applies the reply. Returns a result code.
        try:
            reply = await self.rpc.call("BootNotification", identity.boot_notification_payload())
        except (errors.NotConnected, errors.NotPermitted) as e:
            log.info("boot", "BootNotification not sent: %s", e)
            return FAILED
        except errors.CallFailed as e:
            log.warning("boot", "BootNotification failed: %s", e)
            self.state.set(st.LAST_ERROR, "BootNotification failed: %s" % e)
            return RESPONSE_FAILED
        status = reply.get("status")
        current = reply.get("currentTime")
        interval = reply.get("interval")
        try:
            if status not in _BY_STATUS or type(interval) is not int or interval < 0 or len(reply) != 3:
                raise ValueError("fields")
            unix = clock.parse_iso(current)
        except (ValueError, TypeError):
            log.warning("boot", "BootNotification.conf is malformed: %r", reply)
            return RESPONSE_ACCEPT_FAILED
        cfg = self.config
        cfg.status, cfg.current_time, cfg.interval = status, current, interval
        self.rpc.answer_calls = status != REJECTED
        self.state.set(st.REGISTRATION, status)
        log.info("boot", "registration %s, interval %d s, time %s", status, interval, current)
        if status == ACCEPTED:
            clock.set_unix(unix)
            if self._set_rtc:
                self._set_rtc(unix)
            if interval > 0:  # 0 keeps the configured heartbeat interval (BN-16)
                self.heartbeat.set_interval(interval)
            self.accepted.set()
        return _BY_STATUS[status]

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

    # -- the registration task -----------------------------------------------
    async def run(self):
        while True:
            await self.link.connected.wait()
            self._timer_expired.set()
            result = await self.send_boot_notification()
            if result == RESPONSE_SUCCESS:
                self._failure_backoff.reset()
                return
            if result in (RESPONSE_PENDING, RESPONSE_REJECTED):
                wait = self.config.interval or self.default_retry_s
                self._failure_backoff.reset()
            elif result == FAILED:
                continue  # the link reconnects with its own back-off
            else:
                wait = self._failure_backoff.next()
            log.info("boot", "%s: next BootNotification in %.1f s", RESULT_NAMES[result], wait)
            self.start_boot_notification_timer(wait)
            left = time.ticks_diff(self._retry_at, time.ticks_ms())
            if await sleep.until(self._timer_expired, left):
                log.info("boot", "BootNotification triggered early")
