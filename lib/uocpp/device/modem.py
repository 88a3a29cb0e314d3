# The cellular modem's identity: ICCID and IMSI over AT commands, read once at
# boot (provision.py) before anything else uses the UART. Synchronous on
# purpose: it runs before the asyncio loop exists, and every wait is bounded
# by a per-command timeout and by one total budget, so boot never hangs on a
# silent modem.
#
# The port is anything with write(bytes) and a non-blocking read() that
# returns bytes, b"" or None, and deinit(): machine.UART(timeout=0) on an
# ESP32, a raw tty on the unix port (platform.open_uart).
import time

from micropython import const

from uocpp import log

_POLL_MS = const(10)
_MAX_LINE = const(128)  # longer lines are garbage, not identity: cut them short
_MAX_DRAIN_READS = const(16)

# AT+CCID is 3GPP-ish; Quectel, u-blox/Telit and SIMCom each have their own.
ICCID_COMMANDS = ("AT+CCID", "AT+QCCID", "AT+ICCID", "AT+CICCID")
_ICCID_PREFIXES = ("+CCID", "+QCCID", "+ICCID", "+CICCID")
_IMSI_PREFIXES = ("+CIMI",)

# +CME ERROR 10 (numeric, or the AT+CMEE=2 text): no SIM, so no identity.
_NO_SIM = ("10", "SIM NOT INSERTED")


class _Budget:
    # One deadline for the whole read; each command takes what is left.
    def __init__(self, total_ms):
        self.deadline = time.ticks_add(time.ticks_ms(), total_ms)

    def left(self):
        return max(0, time.ticks_diff(self.deadline, time.ticks_ms()))


def clean_iccid(text):
    # "8931440400012345678F" or '"89314404000123456789"' -> digits, or None.
    # SIMs pad a 19-digit ICCID with F (some report it, some strip it).
    value = text.strip().strip('"').strip()
    while value[-1:] in ("F", "f"):
        value = value[:-1]
    if 18 <= len(value) <= 22 and value.isdigit():
        return value
    return None


def clean_imsi(text):
    # An IMSI is at most 15 digits (MCC + MNC + MSIN); fewer than 6 is noise.
    value = text.strip().strip('"').strip()
    if 6 <= len(value) <= 15 and value.isdigit():
        return value
    return None


class At:
    # One AT command at a time: write it, collect lines until a final result
    # code, skip the echo and unsolicited result codes (URCs).
    def __init__(self, port, timeout_ms, retries, budget):
        self.port = port
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.budget = budget
        self._buf = bytearray()

    def _drain(self):
        # Whatever arrived before our command is not its answer (late replies,
        # URCs such as RDY or +CPIN: READY after power-up). Bounded: a line
        # spewing noise must not keep us here.
        for _ in range(_MAX_DRAIN_READS):
            if not self.port.read():
                break
        self._buf = bytearray()

    def _line(self, deadline):
        # The next non-empty line as printable text, or None when the deadline
        # passed. Modems end lines with \r\n, echo with \r; either ends one.
        while True:
            buf = self._buf
            end = -1
            for i in range(len(buf)):
                if buf[i] == 13 or buf[i] == 10:
                    end = i
                    break
            if end >= 0:
                text = bytes(b for b in buf[:end] if 32 <= b < 127).decode().strip()
                self._buf = buf[end + 1 :]
                if text:
                    return text
                continue
            if len(buf) > _MAX_LINE:
                self._buf = bytearray()
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return None
            data = self.port.read()
            if data:
                self._buf.extend(data)
            else:
                time.sleep_ms(_POLL_MS)

    def command(self, cmd, prefixes=(), clean=None):
        # One exchange. Returns (final, value): final is "OK", "ERROR", the
        # +CME/+CMS ERROR line, or None on timeout; value is the first info
        # line that `clean` accepts (None if none did).
        self._drain()
        wait = min(self.timeout_ms, self.budget.left())
        deadline = time.ticks_add(time.ticks_ms(), wait)
        log.debug("modem", "> %s", cmd)
        self.port.write(cmd.encode() + b"\r")
        value = None
        while True:
            line = self._line(deadline)
            if line is None:
                log.debug("modem", "no final result for %s within %d ms", cmd, wait)
                return None, value
            log.debug("modem", "< %s", line)
            upper = line.upper()
            if upper == cmd.upper():
                continue  # echo (ATE1, the factory default on most modems)
            if upper == "OK" or upper == "ERROR":
                return upper, value
            if upper.startswith("+CME ERROR") or upper.startswith("+CMS ERROR"):
                return line, value
            if value is not None or clean is None:
                continue
            prefix, colon, rest = line.partition(":")
            if colon and prefix[:1] in ("+", "^"):
                if prefix.upper() not in prefixes:
                    continue  # a URC such as +CREG: 1 or +CPIN: READY
                value = clean(rest)
            else:
                value = clean(line)  # bare digits; RING, RDY ... fail clean()

    def ask(self, cmd, prefixes=(), clean=None):
        # command() with retries on silence or an OK without a value (a late
        # OK from an earlier command can end an exchange early).
        # Returns (final, value) of the last attempt.
        final = None
        value = None
        for _ in range(self.retries + 1):
            if self.budget.left() <= 0:
                break
            final, value = self.command(cmd, prefixes, clean)
            if value is not None or (final is not None and final != "OK"):
                break
            if final == "OK" and clean is None:
                break
        return final, value


def _no_sim(final):
    if final is None or not final.upper().startswith("+CME ERROR"):
        return False
    code = final.partition(":")[2].strip().upper()
    return code in _NO_SIM


def read_identity(port, timeout_s, retries, total_s, where="the modem"):
    # Returns (values, reason): values holds "iccid" and/or "imsi" that the
    # modem reported; reason says why something is missing (None if nothing is).
    budget = _Budget(int(total_s * 1000))
    at = At(port, int(timeout_s * 1000), retries, budget)
    final, _ = at.ask("AT")
    if final != "OK":
        if budget.left() <= 0 and final is None:
            return {}, "no answer to AT on %s within modem.totalTimeout (%s s)" % (where, total_s)
        if final is None:
            return {}, "no answer to AT on %s (%d attempt(s) of %s s)" % (where, retries + 1, timeout_s)
        return {}, "%s answered AT with %s" % (where, final)
    values = {}
    problems = []
    for cmd in ICCID_COMMANDS:
        final, iccid = at.ask(cmd, _ICCID_PREFIXES, clean_iccid)
        if iccid:
            values["iccid"] = iccid
            break
        if _no_sim(final):
            return values, "no SIM card (%s answered %s)" % (cmd, final)
        if budget.left() <= 0:
            break
    else:
        problems.append("no ICCID: %s answered %s" % ("/".join(ICCID_COMMANDS), final or "nothing"))
    if budget.left() > 0:
        final, imsi = at.ask("AT+CIMI", _IMSI_PREFIXES, clean_imsi)
        if imsi:
            values["imsi"] = imsi
        else:
            problems.append("no IMSI: AT+CIMI answered %s" % (final or "nothing"))
    if budget.left() <= 0 and len(values) < 2:
        problems.append("modem.totalTimeout (%s s) ran out" % total_s)
    return values, "; ".join(problems) or None


def read(cfg, open_uart):
    # The boot entry point: open the UART that config.json's modem section
    # names, read, close. Never raises; returns (values, reason).
    # open_uart: the platform's (given by the caller: device drivers never
    # import the platform layer, which imports them).
    try:
        port, where = open_uart(cfg)
    except (OSError, ValueError) as e:
        return {}, "cannot open the modem port: %s" % (e,)
    try:
        return read_identity(port, cfg["timeout"], cfg["retries"], cfg["totalTimeout"], where)
    except OSError as e:
        return {}, "modem I/O failed: %s" % (e,)
    finally:
        try:
            port.deinit()  # frees the pins (ESP32) or the device (unix)
        except Exception:
            pass
