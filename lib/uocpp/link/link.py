# The link: the one task that owns the WebSocket. It connects, hands every
# text message to the RPC layer, keeps the link alive with pings, and on any
# failure tears down every task of the old connection and reconnects with
# back-off (BO-01, BO-02; J-05 for 401/404 answers).
#
# A dead peer is found by keepalive, not by socket state: after each ping
# (once the peer was quiet for WebSocketPingInterval, or at once when a CALL
# timed out) something must arrive within the pong timeout, or the link is
# declared dead. A frame the peer does not take within that timeout ends the
# link too (transport/websocket.py).
#
# asyncio.CancelledError is a BaseException: the `except Exception` clauses
# below let a cancellation through.
import asyncio
import time

from micropython import const

from uocpp import errors, log, security_event, unload
from uocpp.model import state as st
from uocpp import sleep
from uocpp.link.backoff import KeyBackoff
from uocpp.link import websocket  # noqa: F401 - at boot, low in the heap: the per-connection handshake loads none of it


_PING_SENT = const("ping sent")  # a const(): a short literal would be an interned name for ever (docs/memory.md)


class Link:
    def __init__(self, cs, keys, security, state, rpc):
        # cs: config.json's centralSystem section (identity, timeouts, frame
        # size); keys: the OCPP keys in force (ping interval, pong timeout,
        # back-off, AuthorizationKey), read when used; security: per attempt,
        # target() -> (url, Basic auth?, ssl context) and attempted(error or
        # None) (SEC-01, SEC-12); rpc: on_message(text, send) and link_lost().
        # Its two values, not the section (the app keeps none of it once
        # started, startup.py): the frame size and the connect timeout (ms).
        self._cs = (cs["maxFrameSize"], int(cs["connectTimeout"] * 1000))
        self._keys = keys
        self._security = security
        self.state = state
        self._rpc = rpc
        self.cp_id = cs["chargePointId"]
        self.backoff = KeyBackoff(keys)
        # Set while a connection is up and not known to be broken: the one
        # answer to "may I send now?".
        self.up = asyncio.Event()
        self.connections = 0
        self._ws = None
        self.key = None  # the AuthorizationKey new_key() added to log.secrets
        # _down: the connection is ending (_serve); _probe: the keepalive
        # looks now (at the peer, or at _down).
        self._down = True
        self._probe = asyncio.Event()

    async def send(self, frame):
        ws = self._ws
        if ws is None or not self.up.is_set():
            raise errors.NotConnected("no link")
        await ws.send(frame)

    def new_key(self, key):
        # A new AuthorizationKey (SEC-10): a new connection with it. The
        # one an earlier call added leaves the masked secrets (no fall-back
        # uses it): they no longer grow with each rotation until reboot.
        secrets = log.secrets
        if self.key in secrets:
            secrets.remove(self.key)
        self.key = None if key in secrets else key  # a boot secret stays
        log.add_secret(key)
        self.drop("new AuthorizationKey")

    def probe(self, value=None):
        # Ask the keepalive to check the peer now (a CALL timed out, or the
        # keepalive timing changed: value, the WebSocketPingInterval or
        # MessageTimeout watched (startup.py), is read per ping).
        self._probe.set()

    async def close(self):
        # Graceful close of the current connection (application stop).
        ws = self._ws
        if ws is not None:
            await ws.close()

    def drop(self, reason):
        # Close the current connection; run() reconnects.
        if self._ws is not None and not self._down:
            log.info("link", "dropping the connection: %s", reason)
            self.up.clear()
            self._down = True
            self._probe.set()  # wakes the keepalive (_serve)

    async def run(self):
        while True:
            try:
                # Served from here, not from _attempt(): its frame (the
                # connect's locals) is gone while the connection lasts.
                ws = await self._attempt()
                if ws is not None:
                    await self._serve(ws)
                    await self._back_off("connection lost")
            except MemoryError:
                # No heap to connect, to start the connection's tasks or to
                # log: whatever the attempt had is gone (_serve tears its
                # connection down), so back off and try again.
                self.up.clear()
                await asyncio.sleep_ms(1000)
                log.warning("link", "out of memory: connecting again")
                security_event.report("MemoryExhaustion", "link")

    async def _attempt(self):
        # One connection attempt: the WebSocket, or None after backing off.
        max_size, connect_ms = self._cs
        sec = self._security
        error = None
        try:
            base, basic, ssl = sec.target()
            # The handshake's code makes the url, the Basic authorization and
            # the connection: it is in the heap only while it runs.
            from uocpp.link import handshake

            try:
                # J-02: the identity is the last path segment, percent-encoded.
                url = base.rstrip("/") + "/" + handshake.quote(self.cp_id)
                n = self.backoff.attempt + 1
                # In a long outage only the 8th, 16th, 32nd... attempt reaches the
                # flash log: a week offline keeps the log from before it.
                log.sparse(n, log.info)("link", "connecting to %s", url)
                ws = await asyncio.wait_for_ms(
                    handshake.connect(
                        url,
                        authorization=handshake.basic_authorization(self.cp_id, self._keys.get("AuthorizationKey")) if basic else None,
                        max_size=max_size,
                        ssl=ssl,
                        send_timeout_ms=int(self._keys.get("MessageTimeout") * 1000),
                    ),
                    connect_ms,
                )
            finally:
                unload("uocpp.link.handshake")
        except Exception as e:
            error = e
        try:
            sec.attempted(error)
        except Exception:
            # No heap (or flash) for the bookkeeping after a connect that
            # worked: that connection goes, not left open beside the next.
            if error is None:
                await ws.close()
            raise
        if isinstance(error, asyncio.TimeoutError):
            await self._back_off("connect timed out")
        elif error is not None:
            # mbedTLS wraps its reasons in newlines.
            await self._back_off("connect failed: %s" % (str(error).strip() or repr(error),))
        else:
            return ws

    async def _back_off(self, why):
        delay = self.backoff.next()
        self.state.set(st.LAST_ERROR, why)
        n = self.backoff.attempt
        log.sparse(n, log.info)("link", "%s; backing off %.1f s (attempt %d)", why, delay, n)
        await asyncio.sleep_ms(int(delay * 1000))

    async def _serve(self, ws):
        # One connection: its reader is a task of its own, and the keepalive
        # runs here, in the link's task (issue 24: one task and two frames
        # fewer per connection), until the link is down: the reader ended,
        # the keepalive found the peer dead, or drop() (the reader and drop()
        # set _down and wake the keepalive through _probe); then every task
        # of the connection goes with it.
        self._ws = ws
        self._down = False
        self._probe.clear()
        self.connections += 1
        self.up.set()
        self.state.set(st.CONNECTION, "connected")
        log.info("link", "connected (connection %d)", self.connections)
        reader = None
        try:
            reader = asyncio.create_task(self._read(ws))
            while True:
                interval = self._keys.get("WebSocketPingInterval")
                self._probe.clear()
                if interval > 0:
                    # Ping once the peer was quiet for a whole interval (its
                    # traffic is proof of life enough), so a silent peer is
                    # found within interval + pong timeout of its last frame.
                    left = int(interval * 1000) - time.ticks_diff(time.ticks_ms(), ws.last_rx)
                    if left > 0 and not await sleep.until(self._probe, left):
                        continue
                else:
                    await self._probe.wait()
                if self._down:
                    break
                if self._keys.get("WebSocketPingInterval") != interval:
                    # Woken by a new interval: its timing from now, no ping
                    # now (0 disables ping/pong, 1.6 section 9.1).
                    continue
                sent = time.ticks_ms()
                await ws.ping()
                log.debug("link", _PING_SENT)
                timeout_ms = int(self._keys.get("MessageTimeout") * 1000)
                # The pong timeout: a probe meanwhile changes nothing (a ping
                # is out); the link going down ends the wait.
                while not self._down and await sleep.until(self._probe, timeout_ms - time.ticks_diff(time.ticks_ms(), sent)):
                    self._probe.clear()
                if self._down:
                    break
                if time.ticks_diff(ws.last_rx, sent) < 0:
                    log.warning("link", "nothing received within %.1f s of a ping: link is dead", timeout_ms / 1000)
                    break
        except Exception as e:
            log.info("link", "keepalive ended: %s", e)
        finally:
            # Whatever ended the link, every task of it goes with it.
            self._down = True
            self.up.clear()
            try:
                self.state.set(st.CONNECTION, "disconnected")
                self._rpc.link_lost()
            finally:
                # Even when that found no heap (link_lost makes the waiting
                # CALL's error): a reader left running would live on beside
                # the next connection, and end it when it ends itself.
                if reader is not None:
                    reader.cancel()
                self._ws = None
                try:
                    await ws.close()
                except Exception:
                    pass
            log.info("link", "disconnected")

    async def _read(self, ws):
        first = True
        try:
            while True:
                text = await ws.recv()
                if first:
                    # The peer speaks: this link works, so start back-off afresh.
                    self.backoff.reset()
                    first = False
                try:
                    await self._rpc.on_message(text, ws.send)
                except errors.NotConnected:
                    break  # a reply could not be sent (rpc.py): this connection is done
                except Exception as e:
                    log.error("link", "message handling failed: %r", e)
        except Exception as e:
            log.info("link", "read ended: %s", e)
        finally:
            self._down = True
            self._probe.set()  # wakes the keepalive (_serve)
