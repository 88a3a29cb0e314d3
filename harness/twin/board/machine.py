# Stand-in for the ESP32 port's `machine` (C on a board), for the twin: the
# firmware's own code drives these classes exactly as it drives the chip's,
# and every pin level, PWM duty, ADC reading, SPI transaction, UART byte
# and watchdog feed goes to the hardware model (harness/twin/model.py),
# which answers as the board's circuits would.
import random
import time

from _wire import ask, count

# Bumped by every PWM change: the pilot waveform the ADCs hold is stale.
_pwm_changes = 0

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        count(self)
        self.id = id
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None):
        if mode != -1:
            ask("mode %d %s" % (self.id, "out" if mode in (Pin.OUT, Pin.OPEN_DRAIN) else "in"))
        if pull in (Pin.PULL_UP, Pin.PULL_DOWN):
            ask("pull %d %d" % (self.id, 1 if pull == Pin.PULL_UP else 0))
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return int(ask("in %d" % self.id))
        ask("out %d %d" % (self.id, 1 if v else 0))
        return None

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3):
        return None  # no interrupts in the twin: the firmware polls its inputs


def _pin_id(pin):
    return pin.id if isinstance(pin, Pin) else int(pin)


class PWM:
    def __init__(self, dest, freq=None, duty_u16=None, **kw):
        count(self)
        self._dest = dest  # held, as the C object holds its GPIO (see _wire.count)
        self._pin = _pin_id(dest)
        self._freq = freq or 5000
        self._duty = 0
        ask("pwm %d %d %d" % (self._pin, self._freq, 0 if duty_u16 is None else duty_u16))
        if duty_u16 is not None:
            self._duty = duty_u16

    def freq(self, value=None):
        if value is None:
            return self._freq
        self._freq = value
        ask("pwm %d %d %d" % (self._pin, self._freq, self._duty))

    def duty_u16(self, value=None):
        global _pwm_changes
        if value is None:
            return self._duty
        self._duty = min(65535, max(0, int(value)))
        ask("pwm %d %d %d" % (self._pin, self._freq, self._duty))
        _pwm_changes += 1

    def deinit(self):
        global _pwm_changes
        ask("pwm %d 0 0" % self._pin)
        _pwm_changes += 1


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=None):
        count(self)
        self._dest = pin  # held, as the C object holds its GPIO (see _wire.count)
        self._pin = _pin_id(pin)
        self._atten = ADC.ATTN_0DB if atten is None else atten
        ask("adc_atten %d %d" % (self._pin, self._atten))
        self._seen = -1  # the waveform is asked for at the first read
        self._asked = self._high_us = self._high = self._low = 0

    def atten(self, value):
        self._atten = value
        ask("adc_atten %d %d" % (self._pin, value))

    def read_u16(self):
        # A sample of the pilot waveform at this instant of the firmware's
        # clock: the model gives the waveform (the high phase's share of each
        # 1 ms period and each phase's reading) and this ADC, like the chip's,
        # samples it where the firmware's read falls in the period. The
        # waveform is asked for again after a PWM change or 5 ms (the vehicle
        # or the pilot circuit changed), so a read costs no round trip to
        # the model, as a read of the chip's ADC costs none.
        now = time.ticks_ms()
        if self._seen != _pwm_changes or time.ticks_diff(now, self._asked) >= 5:
            high_us, self._high, self._low = ask("adc %d" % self._pin).split()
            self._high_us = float(high_us) * 1000
            self._high, self._low = int(self._high), int(self._low)
            self._seen, self._asked = _pwm_changes, now
        raw = self._high if time.ticks_us() % 1000 < self._high_us else self._low
        return min(65535, max(0, raw + random.randint(-40, 40)))  # front end and ADC noise

    def read(self):
        return self.read_u16() >> 4

class UART:
    # The model hands out a pty path for each UART it wires to a device (the
    # Modbus meter on RS-485); read() returns at once with what arrived.
    def __init__(self, id, baudrate=115200, tx=None, rx=None, timeout=0, **kw):
        count(self)
        self._id = id
        path = ask("uart %d %d %s %s" % (id, baudrate, -1 if tx is None else tx, -1 if rx is None else rx))
        self._f = open(path, "r+b")
        _raw(self._f.fileno(), baudrate)

    def read(self, n=-1):
        data = self._f.read(256 if n < 0 else n)
        return data or None  # as on a board: None when nothing arrived

    def write(self, data):
        return self._f.write(data)

    def any(self):
        return 0

    def flush(self):
        pass

    def deinit(self):
        self._f.close()


def _raw(fd, baud):
    import termios

    termios.setraw(fd)
    attr = termios.tcgetattr(fd)
    attr[6][6] = 0  # VMIN: reads never block
    attr[6][5] = 0  # VTIME
    termios.tcsetattr(fd, termios.TCSANOW, attr)


class SPI:
    # Each write/readinto/write_readinto is one transfer on the bus, handed
    # to the chip the model has on it (whose CS the firmware drives as a Pin).
    MSB = 0
    LSB = 1

    def __init__(self, id, baudrate=1000000, polarity=0, phase=0, sck=None, mosi=None, miso=None, **kw):
        count(self)
        self._id = id

    def init(self, *a, **kw):
        pass

    def _transfer(self, out, verb="spi"):
        reply = ask("%s %d %s" % (verb, self._id, bytes(out).hex() or "-"))
        return bytes.fromhex(reply) if reply != "-" else b""

    def write(self, buf):
        self._transfer(buf, "spiw")  # nothing to read back: the model may hold it until CS rises

    def read(self, n, write=0):
        return self._transfer(bytes([write]) * n)

    def readinto(self, buf, write=0):
        got = self._transfer(bytes([write]) * len(buf))
        buf[: len(got)] = got

    def write_readinto(self, out, buf):
        got = self._transfer(out)
        buf[: len(got)] = got

    def deinit(self):
        pass


class WDT:
    # The task watchdog: the model resets the board (kills and restarts the
    # firmware process) when a feed is later than the timeout.
    def __init__(self, id=0, timeout=5000):
        count(self)
        ask("wdt %d" % timeout)

    def feed(self):
        ask("feed")


class RTC:
    # Runs on the host's clock; datetime() sets what it reads back (the
    # firmware's clock module keeps its own offset from time.time()).
    _shift = 0

    def datetime(self, dt=None):
        if dt is None:
            t = time.gmtime(time.time() + RTC._shift)
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        y, mo, d, _wd, h, mi, s = dt[:7]
        RTC._shift = time.mktime((y, mo, d, h, mi, s, 0, 0)) - time.time()
        return None

    def init(self, dt):
        self.datetime(dt)


def reset():
    # A hard reset: the model kills this process and boots the board again.
    ask("reset")
    while True:
        time.sleep(1)


def soft_reset():
    reset()


def reset_cause():
    return int(ask("reset_cause"))


def unique_id():
    return bytes.fromhex(ask("unique_id"))


def freq(hz=None):
    return 240000000 if hz is None else None


def idle():
    pass


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def lightsleep(ms=None):
    time.sleep_ms(ms or 0)


deepsleep = lightsleep
