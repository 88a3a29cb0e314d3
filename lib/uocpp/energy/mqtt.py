# The energy manager's commands over the MQTT mirror's session
# (extras/mqtt_mirror.py, TLS as configured there): the mirror sends
# subscribe() once connected and hands every byte it reads to feed().
#   <base>energy/<n>/limit/set   amps, a number 0 .. connectors.maxCurrent
#                                (below 6: pause); energy.localTimeout s
#                                without one -> energy.safeCurrent
#   <base>energy/<n>/enable/set  true | false (also 1/0, on/off): false pauses
#                                (the local limit 0), true offers the limit again
#   <base>energy/mode/set        fast | solar | min+solar
# Anything else (not a number, out of range, an unknown mode or connector)
# is logged and changes nothing. QoS 0: the subscription asks for it, so the
# broker never sends a PUBLISH that needs an acknowledgement.
from micropython import const

from uocpp import log

_PUBLISH = const(3)
_SUBACK = const(9)
_MAX_PACKET = const(256)  # a command is a few bytes; longer packets are skipped
_SUBSCRIBE_ID = const(1)
_ENABLE = {"true": True, "1": True, "on": True, "false": False, "0": False, "off": False}


def _string(text):
    b = text.encode()
    return bytes((len(b) >> 8, len(b) & 0xFF)) + b


def _length(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


class Commands:
    def __init__(self, energy, base, max_amps):
        self._energy = energy
        self._base = base  # "<topicPrefix>/<id>/"
        self._max = max_amps
        self._buf = bytearray()
        self._skip = 0  # bytes of an oversized packet still to drop

    def subscribe(self):
        # One SUBSCRIBE (MQTT 3.1.1, 3.8) for both command topics, QoS 0.
        # Sent at the start of every session: a new stream, so what an
        # earlier session left half-read is dropped, not joined to its bytes.
        self._buf = bytearray()
        self._skip = 0
        body = bytes((0, _SUBSCRIBE_ID))
        for topic in ("energy/+/limit/set", "energy/+/enable/set", "energy/mode/set"):
            body += _string(self._base + topic) + b"\x00"
        return b"\x82" + _length(len(body)) + body

    def discovery(self, prefix, cp_id, availability, count):
        # Home Assistant configs (energy/ha.py, dropped with the mirror's discovery).
        from uocpp.energy import ha

        return ha.configs(prefix, cp_id, self._base, availability, count, self._max)

    def feed(self, data):
        # Bytes from the broker, in any cuts: every whole PUBLISH is acted on.
        if self._skip:
            n = min(self._skip, len(data))
            self._skip -= n
            data = data[n:]
        self._buf.extend(data)
        if len(self._buf) > 2 * _MAX_PACKET:  # a length field that never ends: not MQTT
            self._buf = bytearray()
        while True:
            buf = self._buf
            size, at, mult = 0, 1, 1
            while at < len(buf) and at <= 4:
                size += (buf[at] & 0x7F) * mult
                mult <<= 7
                at += 1
                if not buf[at - 1] & 0x80:
                    break
            else:
                return  # the length is not all here yet
            whole = at + size
            if whole > _MAX_PACKET:
                log.warning("energy", "MQTT packet of %d bytes skipped", whole)
                self._skip = max(0, whole - len(buf))
                self._buf = bytearray()
                return
            if len(buf) < whole:
                return
            if buf[0] >> 4 == _SUBACK:
                log.info("energy", "listening for commands on %senergy/+/limit/set, +/enable/set and mode/set", self._base)
            elif buf[0] >> 4 == _PUBLISH:
                try:
                    self._publish(bytes(buf[at:whole]), (buf[0] >> 1) & 3)
                except Exception as e:  # a bad command must not end the mirror's reader
                    log.warning("energy", "MQTT command not taken: %r", e)
            self._buf = buf[whole:]

    def _publish(self, body, qos):
        n = (body[0] << 8) | body[1]
        topic = body[2 : 2 + n].decode()
        payload = body[2 + n + (2 if qos else 0) :].decode().strip()
        if not topic.startswith(self._base):
            return
        self.command(topic[len(self._base) :], payload)

    def command(self, topic, payload):
        # topic relative to the base -> True when taken.
        parts = topic.split("/")
        e = self._energy
        if parts == ["energy", "mode", "set"]:
            return e.request_mode(payload, "MQTT")
        if len(parts) != 4 or parts[0] != "energy" or parts[3] != "set" or parts[2] not in ("limit", "enable"):
            return False
        if not e.cfg["localTimeout"]:
            log.warning("energy", "%s refused: energy.localTimeout is 0 (no local limit)", topic)
            return False
        try:
            n = int(parts[1])
        except ValueError:
            n = 0
        if not 1 <= n <= e.count:
            log.warning("energy", "%s for connector %s refused: no such connector", parts[2], parts[1][:8])
            return False
        if parts[2] == "enable":
            on = _ENABLE.get(payload.lower())
            if on is None:
                log.warning("energy", "connector %d: enable %r refused: true or false", n, payload[:20])
                return False
            e.local(n, enabled=on)
            return True
        try:
            amps = float(payload)
        except ValueError:
            log.warning("energy", "local limit %r on %s refused: not a number", payload[:20], topic)
            return False
        if not 0 <= amps <= self._max:  # NaN fails too
            log.warning("energy", "connector %d: local limit %s refused: not within 0 .. %s A", n, payload[:20], self._max)
            return False
        e.local(n, amps)
        return True
