"""Helpers for tests that talk raw OCPP-J to the firmware through the central system."""

import itertools
import json

_ids = itertools.count(1)


def send_raw(cs, frame, cp_index=-1):
    """Send a raw text frame on the latest (or given) connection; returns the frame's id if it has one."""
    ws = cs.connections[cp_index][1]
    text = frame if isinstance(frame, str) else json.dumps(frame)
    cs.run(ws.send(text))
    try:
        return json.loads(text)[1]
    except (ValueError, IndexError, TypeError, KeyError):
        return None


def call_raw(cs, action, payload, timeout=5):
    """Send a CALL as raw JSON (bypassing the ocpp package's own schema checks); returns the reply frame."""
    uid = "t-%d" % next(_ids)
    send_raw(cs, [2, uid, action, payload])
    return reply_from_cp(cs, uid, timeout)


def reply_from_cp(cs, uid, timeout=5):
    return cs.wait_for(lambda fs: next((f for f in fs if f.direction == "in" and f.kind in (3, 4) and f.msg[1] == uid), None), timeout, "reply to %s" % uid)


def index_of(cs, frame):
    with cs.cs._cond:
        return cs.frames.index(frame)
