# OCPP-J RPC (J-07..J-18): parses frames, answers central-system CALLs through
# a dispatcher, and runs our own CALLs one at a time (J-17) behind a lock,
# each with a timeout. CALLs from the central system are answered while our
# own CALL waits (J-18), because the link's reader task delivers them here.
import asyncio
import json
import os
import time

from micropython import const

from uocpp import errors, log, security_event
from uocpp.link import websocket

_CALL = const(2)
_CALLRESULT = const(3)
_CALLERROR = const(4)
# A CALLRESULT's text up to its payload; const(): a short literal would be
# an interned name for ever (docs/memory.md).
_HEAD_FMT = const("[%d,%s,")
_MAX_ID_LEN = const(36)
_TAKEN_MS = const(1000)  # the longest the reader waits for a reply to be taken in

# CALL ids: a per-boot random prefix plus a counter that survives soft
# resets, so ids are never reused within a run nor, in practice, across
# reboots (J-15). Stored messages keep the id they were given. The formats
# are const(): a short literal would be an interned name for ever
# (docs/memory.md).
_PREFIX_FMT = const("%08x")
_ID_FMT = const("%s-%d")
_id_prefix = _PREFIX_FMT % int.from_bytes(os.urandom(4), "big")
_id_seq = 0


def new_id():
    global _id_seq
    _id_seq += 1
    return _ID_FMT % (_id_prefix, _id_seq)


class Rpc:
    def __init__(self, dispatch, registration, keys):
        # dispatch(action, payload) -> payload or (payload, after), a payload
        # a dict or a list of its JSON text's pieces; raises
        # errors.OcppError (ops.Dispatcher). registration: whether to answer
        # at all (BN-10). keys: MessageTimeout, read per CALL.
        self._dispatch = dispatch
        self._registration = registration
        self._keys = keys
        self.last_call_ms = time.ticks_ms()
        self._lock = asyncio.Lock()
        self._done = asyncio.Event()
        self._pending = None
        self._reply = None
        # Set by the caller (the outbox) once it has taken a reply in, hooks
        # included: the reader reads the next frame only then.
        self.taken = asyncio.Event()

    def link_lost(self):
        # The link is gone: a CALL waiting for its reply fails now.
        if self._pending is not None:
            self._reply = errors.LinkLost("link lost while waiting for the reply")
            self._done.set()

    # -- our CALLs (the outbox is the one caller) ---------------------------
    async def call(self, send, action, payload, uid=None):
        # send(frame): the link's. Returns the CALLRESULT payload. Raises
        # errors.CallErrorReceived, CallTimeout or NotConnected. A stored
        # message brings its own uid, so that its re-sends keep it.
        async with self._lock:
            uid = uid or new_id()
            frame = json.dumps([_CALL, uid, action, payload])
            self._pending = uid
            self._reply = None
            self._done.clear()
            self.taken.clear()
            try:
                log.frame(">>", frame)
                try:
                    await send(frame)
                except (errors.NotConnected, MemoryError):
                    # No heap before a byte of the frame went out leaves the
                    # stream as it was (after one, websocket.py ends the
                    # connection itself): not the link's failure (outbox.py).
                    raise
                except Exception as e:
                    raise errors.NotConnected("send failed: %s" % e)
                frame = None
                self.last_call_ms = time.ticks_ms()
                timeout = int(self._keys.get("MessageTimeout") * 1000)
                try:
                    await asyncio.wait_for_ms(self._done.wait(), timeout)
                except asyncio.TimeoutError:
                    log.warning("rpc", "%s %s: no reply within %d ms", action, uid, timeout)
                    raise errors.CallTimeout("%s timed out" % action)
            finally:
                self._pending = None
            reply = self._reply
            self._reply = None
            if isinstance(reply, Exception):
                raise reply
            return reply

    # -- incoming frames ----------------------------------------------------
    async def on_message(self, text, send):
        # A text message from the link; send(frame) answers on that link.
        log.frame("<<", text)
        try:
            msg = json.loads(text)
        except (ValueError, MemoryError) as e:
            # 1.6 defines no answer for unparseable JSON and no id can be read.
            why = "ignored a frame that is not JSON (%s)" % type(e).__name__
        else:
            why = None
            if not isinstance(msg, list) or len(msg) < 2:
                why = "ignored a frame that is not an OCPP-J array"
            else:
                # A lone UTF-16 surrogate can only come from a \u escape; without
                # one (the usual case) nothing parsed from this frame needs the
                # strict UTF-8 check, which would copy every reply to encode it.
                escaped = "\\u" in text
                kind, uid = msg[0], msg[1]
                if type(kind) is not int or kind not in (_CALL, _CALLRESULT, _CALLERROR):
                    # The type only: the repr of hostile nesting would overflow the stack.
                    why = "ignored a frame with message type %s (J-09)" % (kind if type(kind) is int else type(kind).__name__)
                elif not isinstance(uid, str) or (escaped and not websocket.clean(uid)):
                    # An id we could not echo as valid UTF-8 (a "\ud800" escape) is unreadable too.
                    why = "ignored a frame whose unique id is not a valid string"
        if why is not None:
            log.warning("rpc", why)
            # The whitepaper's InvalidMessages event, with the log line's own
            # text: string constants are interned, each new one costs heap.
            security_event.report("InvalidMessages", why)
            return
        if kind == _CALL:
            answer = self._answer(msg, uid, escaped)
            if answer is not None and hasattr(answer[0], "send"):
                # A reply computed in steps (a signature check, issue 25),
                # the other tasks running meanwhile; framed like any reply.
                try:
                    done = await answer[0]
                except Exception as e:
                    done = e
                answer = self._answer(msg, uid, escaped, done)
            # Let the request go before the reply goes out: parsed, a hostile
            # one (nested brackets) is ~15-30 times its size, and a slow link
            # would keep it alive for the whole write.
            msg = None
            if answer is None:
                return
            reply, after = answer
            log.frame(">>", reply)
            try:
                try:
                    await send(reply)
                except MemoryError:
                    # Out of memory before a byte of it went out (a reply made as
                    # it is sent, GetConfiguration's; after one, websocket.py
                    # ends the connection and this send fails too): the CALLERROR
                    # a handler out of memory gets, and nothing after it.
                    after = None
                    await send(_error_frame(uid, "InternalError", "out of memory", {}))
            except Exception as e:
                # A frame that did not go out whole (no heap for it, a peer that
                # is gone) leaves the stream in an unknown state: the link ends
                # this connection (link.py) and connects again.
                log.warning("rpc", "could not send the reply: %s", e)
                raise errors.NotConnected("reply not sent: %s" % e)
            # Anything the operation does afterwards (a triggered message, a reset)
            # starts only once its CALLRESULT is on the wire (TM-02, Reset).
            if after is not None:
                asyncio.create_task(after())
            return
        if uid != self._pending:
            log.info("rpc", "ignored a reply for unknown or expired id %s", uid[:_MAX_ID_LEN])
            return
        if kind == _CALLRESULT:
            if len(msg) == 3 and isinstance(msg[2], dict):
                self._reply = msg[2]
            else:
                # An answer, but no usable one: refused like a payload that
                # breaks its .conf (the outbox's rules for a bad reply).
                self._reply = errors.ReplyRefused("a CALLRESULT payload must be one JSON object")
        elif len(msg) >= 4 and isinstance(msg[2], str):
            self._reply = errors.CallErrorReceived(msg[2], msg[3] if isinstance(msg[3], str) else "")
        else:
            self._reply = errors.CallErrorReceived("FormationViolation", "malformed CALLERROR")
        self._pending = None
        self._done.set()
        # The caller takes the reply in (a transactionId, an idTagInfo
        # for the cache) before the next frame is handled: the central
        # system's next CALL may depend on it (a ClearCache right after a
        # StopTransaction.conf). One scheduler turn was not always enough.
        try:
            await asyncio.wait_for_ms(self.taken.wait(), _TAKEN_MS)
        except asyncio.TimeoutError:
            pass

    def _answer(self, msg, uid, escaped, done=None):
        # -> (reply frame, after) for a CALL, or None when it gets no answer.
        if not self._registration.answers_calls():
            log.info("rpc", "not answering %s while Rejected (BN-10)", uid[:_MAX_ID_LEN])
            return None
        after = None
        try:
            why = None  # the FormationViolation of a malformed CALL
            if len(uid) > _MAX_ID_LEN:
                why = "unique id longer than %d characters" % _MAX_ID_LEN
            elif len(msg) != 4:
                why = "a CALL has 4 elements, this one %d" % len(msg)
            else:
                action, payload = msg[2], msg[3]
                if not isinstance(action, str):
                    why = "action must be a string"
                elif not isinstance(payload, dict):
                    why = "payload must be a JSON object"
                elif escaped and done is None and not _clean(payload):
                    # A lone "\ud800" escape in a value the charger keeps (an
                    # idTag, a configuration value) would go out later in a frame
                    # of ours that is not UTF-8, and again at every connection
                    # if stored (a StartTransaction): refused at the door.
                    why = "text is not valid Unicode (J-07)"
            if why is not None:
                raise errors.OcppError("FormationViolation", why)
            result = self._dispatch(action, payload) if done is None else done
            if isinstance(result, Exception):
                raise result
            if hasattr(result, "send"):
                return result, None
            if type(result) is tuple:
                result, after = result
            if callable(result) or type(result) is list:
                # The payload's JSON text in pieces (GetConfiguration's), made
                # already or by a function as the link sends them
                # (websocket.py): framed around them, not dumped again.
                reply = _framed(uid, result)
            else:
                # As one str when small, else as a list of pieces (each item
                # of a big list or dict dumped on its own), so that no block
                # the size of the whole message is needed (websocket.send
                # takes the list).
                reply = [_CALLRESULT, uid, result]
                if _big(reply):
                    result = []
                    _pieces(reply, result)
                    reply = result
                else:
                    reply = json.dumps(reply)
        except errors.OcppError as e:
            if e.code in ("FormationViolation", "ProtocolError"):
                security_event.report("InvalidMessages", e.description)
            reply = _error_frame(uid, e.code, e.description, e.details)
        except MemoryError:
            reply = _error_frame(uid, "InternalError", "out of memory", {})
        except Exception as e:
            log.error("rpc", "handler failed: %r", e)
            reply = _error_frame(uid, "InternalError", "handler failed", {})
        if escaped and not _clean(reply):
            # Echoed text (an action name, a value) held a "\ud800" escape.
            reply = _error_frame(uid, "FormationViolation", "text is not valid Unicode (J-07)", {})
            security_event.report("InvalidMessages", "text is not valid Unicode (J-07)")
        return reply, after


def _error_frame(uid, code, description, details):
    return json.dumps([_CALLERROR, uid, code, description, details])


def _big(obj):
    # A list or dict long enough, or holding one, to be sent in pieces.
    t = type(obj)
    if t is not list and t is not dict:
        return False
    if len(obj) > 8:
        return True
    for v in obj.values() if t is dict else obj:
        if _big(v):
            return True
    return False


def _pieces(obj, out):
    if not _big(obj):
        out.append(json.dumps(obj))
    elif type(obj) is list:
        out.append("[")
        for i, v in enumerate(obj):
            if i:
                out.append(",")
            _pieces(v, out)
        out.append("]")
    else:
        out.append("{")
        for i, (k, v) in enumerate(obj.items()):
            out.append(("," if i else "") + json.dumps(k) + ":")
            _pieces(v, out)
        out.append("}")


def _framed(uid, pieces):
    # A CALLRESULT around its payload's pieces, as a function making the
    # frame's pieces: the link calls it for the length, then for the bytes.
    head = _HEAD_FMT % (_CALLRESULT, json.dumps(uid))

    def frame():
        yield head
        yield from pieces() if callable(pieces) else pieces
        yield "]"

    return frame


def _clean(reply):
    # A reply (a str, its pieces, or a function making them), or a parsed
    # payload (each string checked where it is: no copy of the whole).
    if callable(reply):
        reply = reply()
    t = type(reply)
    if t is str:
        return websocket.clean(reply)
    if t is dict:
        reply = reply.items()
    elif t is not list and t is not tuple and not hasattr(reply, "send"):
        return True  # a number, true, false, null
    for p in reply:
        if not _clean(p):
            return False
    return True
