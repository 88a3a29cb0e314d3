# The card reader's common part: one task polls the reader chip every
# _POLL_MS and turns a card held on it into ONE (connector, idTag) for the
# charging core, which asks take_card() when `changed` is set (the EVSE's
# own event, so the session task wakes as for a pilot change).
#
# Debounce: the card last reported is ignored while it stays on the reader
# and until it has been away for `debounce_ms` (a card at the edge of the
# field drops out for a poll or two; a user tapping twice in a hurry must
# not start and stop at once). Another card counts at once.
#
# The idTag is the UID in upper-case hex: 8, 14 or 20 characters for 4-, 7-
# and 10-byte UIDs, within OCPP's CiString20 (the form most central systems
# and RFID lists use).
#
# A chip that stops answering (loose wire, brown-out) is re-initialised with
# a back-off from _RETRY_MS to _RETRY_MAX_MS; the failure is logged once,
# the recovery once. Imported only when evse.cardReader is configured.
import asyncio
import time

from micropython import const

from uocpp import log

_POLL_MS = const(100)
_CHECK_EVERY = const(10)  # polls between two chip health checks (about 1 s)
_RETRY_MS = const(500)
_RETRY_MAX_MS = const(30000)
_QUEUE = const(4)  # cards not yet taken; the oldest goes beyond that


# The reader's private state, self._s (a list indexed by constants: every
# attribute would be an interned name for ever, docs/memory.md):
_CHIP = const(0)
_DEBOUNCE_MS = const(1)
_LAST = const(2)  # UID of the card last reported
_SEEN = const(3)  # ticks_ms when it was last on the reader
_DOWN = const(4)  # logged as failing, no good poll since
_POLLS = const(5)
_HELD = const(6)  # no poll has missed it since: held, however far apart the polls came


def id_tag(uid):
    from binascii import hexlify

    return hexlify(uid).decode().upper()


class CardReader:
    def __init__(self, chip, connector, debounce_ms, changed=None):
        # chip: async init() -> version, check(), async read_uid() -> bytes or
        # None, both raising on a chip fault (mfrc522.Mfrc522).
        self._s = [chip, debounce_ms, None, 0, False, 0, False]
        self.connector = connector
        self.changed = changed if changed is not None else asyncio.Event()
        self._cards = []
        self.ok = False  # the chip is initialised and answering
        self.failures = 0  # chip faults since the start (for tests and diagnostics)
        self._retry = _RETRY_MS

    def take_card(self):
        # (connector, idTag) of the oldest card not taken yet, or None.
        return self._cards.pop(0) if self._cards else None

    async def run(self):
        while True:
            try:
                wait = await self.poll()
            except MemoryError:
                # A card's event found no heap: it is read again at the next
                # poll. Never the end of this task, which nobody restarts.
                wait = _POLL_MS
            await asyncio.sleep_ms(wait)

    async def poll(self):
        # One poll: (re-)init the chip if needed, read the card on it.
        # Returns the ms to wait before the next poll.
        s = self._s
        chip = s[_CHIP]
        try:
            if not self.ok:
                version = await chip.init()
                self.ok = True
                s[_POLLS] = 0
                if not self.failures:
                    log.info("card", "card reader: chip version 0x%02X, cards go to connector %d", version, self.connector)
            s[_POLLS] += 1
            if s[_POLLS] >= _CHECK_EVERY:
                s[_POLLS] = 0
                chip.check()
            uid = await chip.read_uid()
        except Exception as e:
            # Any fault of the chip or its bus (ChipError, OSError from SPI,
            # even a driver bug): never the end of the task.
            if not s[_DOWN]:
                s[_DOWN] = True
                log.warning("card", "card reader: chip fault (%s: %s): re-initialising, every %d s at most", type(e).__name__, e, _RETRY_MAX_MS // 1000)
            self.ok = False
            self.failures += 1
            wait = self._retry
            self._retry = min(wait * 2, _RETRY_MAX_MS)
            return wait
        if s[_DOWN]:
            s[_DOWN] = False
            self._retry = _RETRY_MS
            log.info("card", "card reader: chip answers again")
        if uid is not None:
            self._saw(uid)
        else:
            s[_HELD] = False  # the card last reported is away from this poll on
        return _POLL_MS

    def _saw(self, uid):
        s = self._s
        now = time.ticks_ms()
        # Held while no poll has missed it (however far apart the polls
        # came: a busy loop), else back within the debounce. (0 <=: seen
        # over half the ticks' period ago, 6.2 days on a 32-bit board, reads
        # as negative: a new tap, not a card still held.)
        if uid == s[_LAST] and (s[_HELD] or 0 <= time.ticks_diff(now, s[_SEEN]) < s[_DEBOUNCE_MS]):
            s[_SEEN] = now  # still held (or back too soon): no new event
            s[_HELD] = True
            return
        tag = id_tag(uid)
        log.info("card", "card reader: card %s at connector %d", tag, self.connector)
        if len(self._cards) >= _QUEUE:
            self._cards.pop(0)
        self._cards.append((self.connector, tag))
        # Reported only once queued: a card whose event found no heap is
        # not taken as reported (and then ignored while it is held).
        s[_LAST] = uid
        s[_SEEN] = now
        s[_HELD] = True
        self.changed.set()


def from_config(cfg, hw, changed=None):
    # The reader evse.cardReader describes (config/evse.py checked it), on
    # the board's machine module.
    from uocpp.device.mfrc522 import Mfrc522

    Pin = hw.Pin
    spi = hw.SPI(cfg["spi"], baudrate=cfg["baudrate"], polarity=0, phase=0, sck=Pin(cfg["sck"]), mosi=Pin(cfg["mosi"]), miso=Pin(cfg["miso"]))
    rst = cfg["rst"]
    chip = Mfrc522(spi, Pin(cfg["cs"], Pin.OUT, value=1), Pin(rst, Pin.OUT, value=1) if rst >= 0 else None)
    return CardReader(chip, cfg["connector"], cfg["debounce"], changed)
