# MQTT status mirror: publishes the charge point's observable state
# (model/state.py) retained under <topicPrefix>/<charge point id>/, with an
# "online"/"offline" availability topic that the broker's last will flips to
# "offline" when the firmware dies. Optional: app.py imports this module only
# when mqtt.enabled is true, so a disabled mirror costs no heap.
#
# Why no thread and no blocking socket: umqtt.simple reads and writes a
# blocking socket, so a broker that stalls (accepts TCP, never answers) would
# hold the whole asyncio loop, and with it every Heartbeat and CALL reply,
# for as long as the socket waits. Worst loop lag seen by a 10 ms probe task
# on the unix port while connecting to such a broker (socket timeout 2 s):
#   umqtt.simple called in the loop:               2010-2017 ms per attempt
#   umqtt.simple in a _thread (no GIL on unix):    6-36 ms
#   umqtt encodes, asyncio carries (this module):  2-22 ms (noise of a busy host)
# The thread would do on the unix port, but on an ESP32 it costs a FreeRTOS
# task stack (several KB, from the heap Wi-Fi and TLS also need), shares the
# GIL, needs a lock to hand over the state, and cannot be stopped while it
# blocks in recv (a soft reset would wait for its timeout). So umqtt.simple
# does what it is good at, encoding MQTT 3.1.1 packets (CONNECT with will and
# credentials, PUBLISH, PINGREQ) into a buffer, and asyncio streams carry the
# bytes on a non-blocking socket, every step under mqtt.timeout.
#
# mqtt.tls: the socket is wrapped in TLS (link/tls.py, the OCPP link's CA
# rule: one DER CA on flash, the certificate must name mqtt.host) before
# anything is written; the handshake runs on the first write, so a server
# the CA does not vouch for never gets the CONNECT and its credentials.
# mqtt.discovery: Home Assistant discovery configs (extras/ha_discovery.py,
# imported only then) go out at the start of every session, before the
# availability and state topics.
#
# Energy, power and the transaction of each connector are not fed by the
# services: the mirror samples them (services/metering.py's last readings,
# model/transactions.py) once a second into the state, so that a disabled
# mirror costs the charging code nothing.
import asyncio
import errno
import json
import socket
import time

from micropython import const

from uocpp import log, unload
from uocpp.model import state as st
from uocpp import sleep
from uocpp.link.backoff import Backoff

AVAILABILITY = "availability"  # "online" while connected; the last will says "offline"
ONLINE = b"online"
OFFLINE = b"offline"

_CONNACK = const(0x20)
_SAMPLE_MS = const(1000)  # the meter is read once a second
_ENERGY = "Energy.Active.Import.Register"
_POWER = "Power.Active.Import"
NO_TRANSACTION = '{"transactionId":null,"idTag":null}'
# State fields (model/state.py) per connector N >= 1, sampled here from the
# meter and the transactions while the mirror runs: ints, Wh and W.
ENERGY = "connector/%d/energy"  # Energy.Active.Import.Register, Wh
POWER = "connector/%d/power"  # Power.Active.Import, W (when the meter has it)
# JSON {"transactionId": id, or null until the central system gave one, "idTag": tag}
TRANSACTION = "connector/%d/transaction"
# CONNACK return codes (MQTT 3.1.1, 3.2.2.3).
_REFUSED = ("", "unacceptable protocol version", "client id rejected", "server unavailable", "bad user name or password", "not authorized")
# Fields whose stale retained value from an earlier boot would mislead: each
# session of a boot clears them (an empty retained message) until set.
_CLEAR_WHEN_UNSET = (st.REGISTRATION,)


class _CaFileError(Exception):
    # mqtt.caFile cannot be read or holds no DER certificate.
    pass


class _Reply(Exception):
    # umqtt asked to read the broker's reply: the packet is complete.
    pass


class _Capture:
    # Stands in for umqtt's socket (and, during connect(), for its socket
    # module): whatever umqtt writes is collected into `out`.
    def __init__(self):
        self.out = bytearray()

    def socket(self, *args):
        return self

    def getaddrinfo(self, host, port, *args):
        return ((0, 0, 0, "", None),)

    def connect(self, addr):
        pass

    def settimeout(self, t):
        pass

    def setblocking(self, flag):
        pass

    def write(self, data, n=-1):
        self.out += data if n < 0 else memoryview(data)[:n]
        return len(data) if n < 0 else n

    def read(self, n):
        raise _Reply()


def _topic_part(text):
    # A charge point id may hold characters that are special in MQTT topics.
    for ch in "/+#":
        text = text.replace(ch, "_")
    return text


class MqttMirror:
    def __init__(self, settings, state, metering=None, transactions=None, energy=None):
        # metering, transactions: services/metering.py and
        # model/transactions.py, sampled for energy, power and transactions.
        m = self._mqtt = settings["mqtt"]
        cp_id = self._cp_id = settings["centralSystem"]["chargePointId"]
        self.state = state
        self.host = m["host"]
        self.port = m["port"]
        prefix = m["topicPrefix"]
        self.base = (prefix + "/" if prefix else "") + _topic_part(cp_id) + "/"
        self.keepalive_ms = int(m["keepalive"] * 1000)
        self.timeout_ms = int(m["timeout"] * 1000)
        self.backoff = Backoff(m["reconnectMinimum"], m["reconnectRandomRange"], m["reconnectRepeatTimes"])
        self._connectors = settings["connectors"]["count"]
        self._ssl = None  # the TLS context, made at the first attempt (mqtt.tls)
        self._metering = metering
        self._tx = transactions
        self._tx_seen = [0] * (self._connectors + 1)  # (remote, tag) last put in the state
        # energy/mqtt.py: the energy manager's command topics (subscribed per session), when on.
        self._commands = None if energy is None else energy.commands(self.base)
        self._fields = ()
        self._umqtt = None
        self._client = None
        self._addr = None
        self._version = 0
        self._last_rx = 0
        self._last_tx = 0
        self._down = asyncio.Event()
        self.sessions = 0
        # The link is not up while the app starts; say so instead of leaving
        # an earlier boot's retained "connected" in place.
        if state.get(st.CONNECTION) is None:
            state.set(st.CONNECTION, "disconnected")

    def topic(self, key):
        return (self.base + key).encode()

    # -- encoding (umqtt.simple) ----------------------------------------------
    def _make_client(self, simple):
        m = self._mqtt
        self._umqtt = simple
        self._client = simple.MQTTClient(
            (m["clientId"] or self._cp_id).encode(),
            self.host,
            self.port,
            m["user"].encode() if m["user"] else None,
            m["password"].encode(),
            m["keepalive"],
        )
        self._client.set_last_will(self.topic(AVAILABILITY), OFFLINE, retain=True)

    def _encode(self, method, *args):
        capture = self._client.sock = _Capture()
        method(*args)
        return capture.out

    def _encode_connect(self):
        # umqtt's connect() makes its own socket through its module's
        # `socket` name; for this one synchronous call that name points at
        # the capture, and the read of the CONNACK ends the call.
        simple = self._umqtt
        saved = simple.socket
        capture = _Capture()
        simple.socket = capture
        try:
            self._client.connect()
        except _Reply:
            pass
        finally:
            simple.socket = saved
        return capture.out

    # -- the mirror task --------------------------------------------------------
    async def run(self):
        try:
            from umqtt import simple
        except ImportError:
            log.error("mqtt", "umqtt.simple is not installed (make lib/umqtt/simple.py): the mirror is off")
            return
        self._make_client(simple)
        sampler = asyncio.create_task(self._sampler()) if self._metering or self._tx else None
        try:
            await self._connect_loop()
        finally:
            if sampler:
                sampler.cancel()

    async def _connect_loop(self):
        while True:
            try:
                if self._addr is None:
                    # getaddrinfo blocks, so it runs once: an IP address
                    # costs nothing, a host name one look-up (retried only
                    # when it fails).
                    self._addr = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0]
                await self._session()
                why = "connection lost"
            except asyncio.CancelledError:
                raise
            except asyncio.TimeoutError:
                why = "no answer within %.1f s" % (self.timeout_ms / 1000)
            except Exception as e:
                why = self._why(e)
            delay = self.backoff.next()
            n = self.backoff.attempt
            # In a long outage only the 8th, 16th, 32nd... attempt reaches the
            # flash log: a week without the broker keeps the log from before it.
            log.sparse(n, log.info)("mqtt", "%s:%d: %s; retrying in %.1f s", self.host, self.port, why, delay)
            await asyncio.sleep_ms(int(delay * 1000))

    # -- energy, power, transactions --------------------------------------------
    async def _sampler(self):
        # The field names, made once: the state's dict keeps these very
        # strings, so a sample allocates nothing for them.
        self._fields = [(ENERGY % n, POWER % n, TRANSACTION % n) for n in range(1, self._connectors + 1)]
        while True:
            try:
                self.sample()
            except Exception as e:  # never the end of the mirror
                log.error("mqtt", "sampling failed: %r", e)
            await asyncio.sleep_ms(_SAMPLE_MS)

    def sample(self):
        # Ints for energy and power (small ints take no heap) under field
        # names made once; a string only when a transaction changed. The
        # state passes on only what changed.
        state, m = self.state, self._metering
        by_connector = {}
        if self._tx is not None:
            for t in self._tx.running.values():
                by_connector[t["c"]] = t
        for n in range(1, self._connectors + 1):
            energy, power, transaction = self._fields[n - 1]
            if m is not None and n < len(m.readings) and not m.failed[n]:
                r = m.readings[n]
                v = r.get(_ENERGY)
                if isinstance(v, (int, float)):
                    state.set(energy, int(v))
                v = r.get(_POWER)
                if isinstance(v, (int, float)):
                    state.set(power, int(v + 0.5))
            if self._tx is None:
                continue
            t = by_connector.get(n)
            seen = None if t is None else (t["remote"], t["tag"])
            if seen != self._tx_seen[n]:
                self._tx_seen[n] = seen
                if seen is None:
                    value = NO_TRANSACTION
                else:
                    value = '{"transactionId":%s,"idTag":%s}' % ("null" if seen[0] is None else seen[0], json.dumps(seen[1]))
                state.set(transaction, value)

    def _why(self, e):
        if isinstance(e, _CaFileError):
            return "TLS: mqtt.caFile %s" % e
        if self._mqtt["tls"]:
            from uocpp.link import tls

            problem = tls.certificate_problem(e)
            if problem:
                return "TLS: the broker's certificate is refused: %s" % problem
            # mbedTLS wraps its reasons in newlines.
            return "TLS: %s" % (str(e).strip() or repr(e))
        return "%s" % (e,) or repr(e)

    async def _session(self):
        ai = self._addr
        m = self._mqtt
        if m["tls"] and self._ssl is None:
            # Imported only when on; a CA file that cannot be read is an
            # error of this attempt (logged, retried: it may be uploaded).
            from uocpp.link import tls

            try:
                self._ssl = tls.context(m["caFile"])
            except (OSError, ValueError) as e:
                raise _CaFileError(str(e).strip() or repr(e))
        sock = socket.socket(ai[0], ai[1], ai[2])
        tasks = ()
        try:
            sock.setblocking(False)
            try:
                sock.connect(ai[-1])
            except OSError as e:
                if e.args[0] != errno.EINPROGRESS:
                    raise
            if self._ssl is not None:
                # As asyncio.open_connection does for the OCPP link: the
                # handshake (and the check of the certificate against the CA
                # and mqtt.host) runs non-blocking on the first write.
                sock = self._ssl.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
                sock.setblocking(False)
            stream = asyncio.StreamWriter(sock, {})
            await asyncio.wait_for_ms(self._handshake(stream), self.timeout_ms)
            self.sessions += 1
            self.backoff.reset()
            log.info("mqtt", "connected to %s:%d%s (session %d), publishing under %s", self.host, self.port, " (TLS)" if self._ssl else "", self.sessions, self.base)
            self._down.clear()
            self._last_rx = self._last_tx = time.ticks_ms()
            tasks = (asyncio.create_task(self._read(stream)), asyncio.create_task(self._publish(stream)))
            await self._down.wait()
        finally:
            # Closing without DISCONNECT makes the broker send the last will,
            # which is the truth: this session is gone.
            for t in tasks:
                t.cancel()
            sock.close()

    async def _handshake(self, stream):
        stream.write(self._encode_connect())
        await stream.drain()
        reply = await stream.readexactly(4)
        if reply[0] != _CONNACK or reply[1] != 2:
            raise ValueError("not an MQTT broker (reply %r)" % reply)
        code = reply[3]
        if code:
            raise ValueError("connection refused: %s (%d)" % (_REFUSED[code] if code < len(_REFUSED) else "?", code))

    async def _send(self, stream, packet):
        # A write the broker does not take within the timeout ends the
        # session (TimeoutError), like any other failure.
        stream.write(packet)
        await asyncio.wait_for_ms(stream.drain(), self.timeout_ms)
        self._last_tx = time.ticks_ms()

    async def _publish_value(self, stream, key, value):
        payload = b"" if value is None else str(value).encode()
        log.debug("mqtt", "publish %s%s = %s", self.base, key, payload)
        await self._send(stream, self._encode(self._client.publish, self.topic(key), payload, True))

    async def _discovery(self, stream):
        # Home Assistant needs a config before the state it describes: one
        # config at a time, each published and dropped before the next.
        from uocpp.extras import ha_discovery

        m = self._mqtt
        n = 0
        for topic, payload in ha_discovery.configs(m["discoveryPrefix"], self._cp_id, self.base, self.base + AVAILABILITY, self._connectors):
            await self._send(stream, self._encode(self._client.publish, topic, payload, True))
            n += 1
        if self._commands is not None:  # energy: the local limit (number), the offer, the charging mode (select)
            for topic, payload in self._commands.discovery(m["discoveryPrefix"], self._cp_id, self.base + AVAILABILITY, self._connectors):
                await self._send(stream, self._encode(self._client.publish, topic, payload, True))
                n += 1
            unload("uocpp.energy.ha")
        log.info("mqtt", "published %d Home Assistant discovery configs under %s/", n, m["discoveryPrefix"])
        # Needed again only at the next connection: its code and tables go
        # back to the heap until then (a re-import costs a few ms).
        unload("uocpp.extras.ha_discovery")

    async def _publish(self, stream):
        try:
            if self._mqtt["discovery"]:
                await self._discovery(stream)
            await self._send(stream, self._encode(self._client.publish, self.topic(AVAILABILITY), ONLINE, True))
            if self._commands is not None:  # energy: its command topics
                await self._send(stream, self._commands.subscribe())
            # At every session while unset, not the first alone: a first
            # session cut before this line would leave the old value retained.
            for key in _CLEAR_WHEN_UNSET:
                if self.state.get(key) is None:
                    await self._publish_value(stream, key, None)
            # A new session publishes every field: the broker may have lost
            # its retained messages, and changes made while down are due.
            self._version = 0
            ping_sent = None
            while True:
                self.state.changed.clear()
                # [(key, value)] of the fields written since we last looked.
                state = self.state
                changes = [(k, state.values[k]) for k, v in state.versions.items() if v > self._version]
                self._version = state.version
                for key, value in changes:
                    await self._publish_value(stream, key, value)
                now = time.ticks_ms()
                if ping_sent is not None and time.ticks_diff(self._last_rx, ping_sent) >= 0:
                    ping_sent = None  # the broker answered
                if ping_sent is None:
                    # Nothing heard, or nothing sent (MQTT 3.1.2.10: the
                    # broker drops a client silent for 1.5 keepalives, even
                    # while commands come in), for a keepalive period: PINGREQ.
                    left = min(
                        time.ticks_diff(time.ticks_add(self._last_rx, self.keepalive_ms), now),
                        time.ticks_diff(time.ticks_add(self._last_tx, self.keepalive_ms), now),
                    )
                    if left <= 0:
                        ping_sent = now
                        await self._send(stream, self._encode(self._client.ping))
                        continue
                else:
                    left = time.ticks_diff(time.ticks_add(ping_sent, self.timeout_ms), now)
                    if left <= 0:
                        log.warning("mqtt", "no PINGRESP within %.1f s: the broker is gone", self.timeout_ms / 1000)
                        break
                await sleep.until(self.state.changed, left)
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            log.warning("mqtt", "the broker took no data for %.1f s", self.timeout_ms / 1000)
        except Exception as e:
            log.info("mqtt", "publishing failed: %r", e)
        self._down.set()

    async def _read(self, stream):
        # Without energy commands we never subscribe, so the broker only sends
        # PINGRESP; any byte shows it is alive, an empty read that it closed
        # the connection.
        try:
            while True:
                data = await stream.read(16)
                if not data:
                    log.info("mqtt", "the broker closed the connection")
                    break
                self._last_rx = time.ticks_ms()
                if self._commands is not None:  # energy: commands come as PUBLISHes
                    self._commands.feed(data)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.info("mqtt", "read failed: %r", e)
        self._down.set()
