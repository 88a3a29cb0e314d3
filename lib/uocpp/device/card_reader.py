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


def id_tag(uid):
    return "".join("%02X" % b for b in uid)


class CardReader:
    def __init__(self, chip, connector, debounce_ms, changed=None, name="card reader"):
        # chip: async init() -> version, check(), async read_uid() -> bytes or
        # None, both raising on a chip fault (mfrc522.Mfrc522).
        self._chip = chip
        self.connector = connector
        self._debounce_ms = debounce_ms
        self.changed = changed if changed is not None else asyncio.Event()
        self._name = name
        self._cards = []
        self._last = None  # UID of the card last reported
        self._seen = 0  # ticks_ms when it was last on the reader
        self.ok = False  # the chip is initialised and answering
        self.failures = 0  # chip faults since the start (for tests and diagnostics)
        self._down = False  # logged as failing, no good poll since
        self._retry = _RETRY_MS
        self._polls = 0

    def take_card(self):
        # (connector, idTag) of the oldest card not taken yet, or None.
        return self._cards.pop(0) if self._cards else None

    async def run(self):
        while True:
            await asyncio.sleep_ms(await self.poll())

    async def poll(self):
        # One poll: (re-)init the chip if needed, read the card on it.
        # Returns the ms to wait before the next poll.
        chip = self._chip
        try:
            if not self.ok:
                version = await chip.init()
                self.ok = True
                self._polls = 0
                if not self.failures:
                    log.info("card", "%s: chip version 0x%02X, cards go to connector %d", self._name, version, self.connector)
            self._polls += 1
            if self._polls >= _CHECK_EVERY:
                self._polls = 0
                chip.check()
            uid = await chip.read_uid()
        except Exception as e:
            # Any fault of the chip or its bus (ChipError, OSError from SPI,
            # even a driver bug): never the end of the task.
            if not self._down:
                self._down = True
                log.warning("card", "%s: chip fault (%s: %s): re-initialising, every %d s at most", self._name, type(e).__name__, e, _RETRY_MAX_MS // 1000)
            self.ok = False
            self.failures += 1
            wait = self._retry
            self._retry = min(wait * 2, _RETRY_MAX_MS)
            return wait
        if self._down:
            self._down = False
            self._retry = _RETRY_MS
            log.info("card", "%s: chip answers again", self._name)
        if uid is not None:
            self._saw(uid)
        return _POLL_MS

    def _saw(self, uid):
        now = time.ticks_ms()
        if uid == self._last and time.ticks_diff(now, self._seen) < self._debounce_ms:
            self._seen = now  # still held (or back too soon): no new event
            return
        self._last = uid
        self._seen = now
        tag = id_tag(uid)
        log.info("card", "%s: card %s at connector %d", self._name, tag, self.connector)
        if len(self._cards) >= _QUEUE:
            self._cards.pop(0)
        self._cards.append((self.connector, tag))
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
