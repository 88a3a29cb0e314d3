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
import asyncio
import binascii
import time

from uocpp import log
from uocpp.model import state as st
from uocpp import sleep
from uocpp.link.backoff import Backoff
from uocpp.link import handshake, websocket


def basic_authorization(cp_id, key):
    # SEC-03/SEC-05: 32..40 hex digits are the password's bytes in hex;
    # anything else is the password itself.
    if not key:
        return None
    password = key.encode()
    if 32 <= len(key) <= 40 and len(key) % 2 == 0:
        try:
            password = binascii.unhexlify(key)
        except ValueError:
            pass
    token = binascii.b2a_base64(cp_id.encode() + b":" + password)[:-1]
    return "Basic " + token.decode()


def station_url(base, cp_id):
    # J-02: the identity is the last path segment, percent-encoded.
    return base.rstrip("/") + "/" + handshake.quote(cp_id)


class Link:
    def __init__(self, settings, rpc, state):
        cs = settings["centralSystem"]
        self._settings = settings
        self.state = state
        self.rpc = rpc
        self.cp_id = cs["chargePointId"]
        self.authorization_key = cs["authorizationKey"]
        # services/security.py sets itself here: per attempt, target() ->
        # (url, Basic auth?, ssl context) and attempted(error or None)
        # (SEC-01, SEC-12).
        self.security = None
        r = settings["reconnect"]
        self.backoff = Backoff(r["waitMinimum"], r["randomRange"], r["repeatTimes"])
        # Other back-offs that follow the same RetryBackOff* keys.
        self.backoffs = [self.backoff]
        self.ping_interval_s = settings["ocpp"]["webSocketPingInterval"]
        self.pong_timeout_s = settings["ocpp"]["messageTimeout"]
        self.connected = asyncio.Event()
        self.connections = 0
        self._ws = None
        self._down = asyncio.Event()
        self._probe = asyncio.Event()
        rpc.on_timeout = self.probe

    def new_backoff(self):
        b = Backoff(self.backoff.wait_minimum, self.backoff.random_range, self.backoff.repeat_times)
        self.backoffs.append(b)
        return b

    def apply_keys(self, keys, changed=False):
        # Take the link's settings from the OCPP keys (KEY-02, BO-02, SEC-10).
        # A new AuthorizationKey means a new connection with the new password.
        self.ping_interval_s = keys.get("WebSocketPingInterval")
        self.pong_timeout_s = keys.get("MessageTimeout")
        for b in self.backoffs:
            b.configure(keys.get("RetryBackOffWaitMinimum"), keys.get("RetryBackOffRandomRange"), keys.get("RetryBackOffRepeatTimes"))
        new_key = keys.get("AuthorizationKey")
        if new_key != self.authorization_key:
            log.forget_secret(self.authorization_key)
            log.add_secret(new_key)
            self.authorization_key = new_key
            if changed:
                self.drop("new AuthorizationKey")
        elif changed and self._ws is not None:
            self._probe.set()  # restart the keepalive with the new timing

    def probe(self):
        # Ask the keepalive to check the peer now.
        self._probe.set()

    async def close(self):
        # Graceful close of the current connection (application stop).
        ws = self._ws
        if ws is not None:
            await ws.close()

    def drop(self, reason):
        # Close the current connection; run() reconnects.
        if self._ws is not None:
            log.info("link", "dropping the connection: %s", reason)
            self._down.set()

    async def run(self):
        cs = self._settings["centralSystem"]
        while True:
            sec = self.security
            error = None
            try:
                base, basic, ssl = sec.target()
                url = station_url(base, self.cp_id)
                log.info("link", "connecting to %s", url)
                ws = await asyncio.wait_for_ms(
                    websocket.connect(
                        url,
                        authorization=basic_authorization(self.cp_id, self.authorization_key) if basic else None,
                        max_size=cs["maxFrameSize"],
                        ssl=ssl,
                        send_timeout_ms=int(self.pong_timeout_s * 1000),
                    ),
                    int(cs["connectTimeout"] * 1000),
                )
            except asyncio.CancelledError:
                raise
            except Exception as e:
                error = e
            sec.attempted(error)
            if isinstance(error, asyncio.TimeoutError):
                await self._back_off("connect timed out")
            elif error is not None:
                # mbedTLS wraps its reasons in newlines.
                await self._back_off("connect failed: %s" % (str(error).strip() or repr(error),))
            else:
                await self._serve(ws)
                await self._back_off("connection lost")

    async def _back_off(self, why):
        delay = self.backoff.next()
        self.state.set(st.LAST_ERROR, why)
        log.info("link", "%s; backing off %.1f s (attempt %d)", why, delay, self.backoff.attempt)
        await asyncio.sleep_ms(int(delay * 1000))

    async def _serve(self, ws):
        self._ws = ws
        self._down.clear()
        self._probe.clear()
        self.connections += 1
        self.rpc.attach(ws.send)
        self.connected.set()
        self.state.set(st.CONNECTION, "connected")
        log.info("link", "connected (connection %d)", self.connections)
        tasks = (asyncio.create_task(self._read(ws)), asyncio.create_task(self._keepalive(ws)))
        try:
            await self._down.wait()
        finally:
            # Whatever ended the link, every task of it goes with it.
            self.connected.clear()
            self.state.set(st.CONNECTION, "disconnected")
            self.rpc.detach()
            for t in tasks:
                t.cancel()
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
                    await self.rpc.on_message(text)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.error("link", "message handling failed: %r", e)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.info("link", "read ended: %s", e)
        finally:
            self._down.set()

    async def _keepalive(self, ws):
        try:
            while True:
                interval = self.ping_interval_s
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
                sent = time.ticks_ms()
                await ws.ping()
                log.debug("link", "ping sent")
                await asyncio.sleep_ms(int(self.pong_timeout_s * 1000))
                if time.ticks_diff(ws.last_rx, sent) < 0:
                    log.warning("link", "nothing received within %.1f s of a ping: link is dead", self.pong_timeout_s)
                    break
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.info("link", "keepalive ended: %s", e)
        self._down.set()
