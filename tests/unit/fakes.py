# Stand-ins for the parts around the outbox in unit tests: keys as a dict,
# a link whose peer is a Python function, an in-memory journal with the
# store/journal.py API, and an outbox that keeps what is submitted.
import asyncio
import json


class Keys:
    def __init__(self, **values):
        self.values = {"MessageTimeout": 1, "TransactionMessageAttempts": 3, "TransactionMessageRetryInterval": 1}
        self.values.update(values)

    def get(self, name):
        return self.values[name]


class Link:
    # peer(action, payload) -> reply payload (dict), ("error", code), None
    # (no reply) or raises OSError (the send fails, like a closed WebSocket).
    def __init__(self, peer, up=True):
        self.peer = peer
        self.rpc = None
        self.up = asyncio.Event()
        if up:
            self.up.set()
        self.sent = []  # (uid, action, payload) of every CALL that went out
        self.drops = 0
        self.connections = 1  # never changes: a failure waits out its whole pause
        self.probes = 0

    async def send(self, frame):
        msg = json.loads(frame)
        reply = self.peer(msg[2], msg[3])
        self.sent.append((msg[1], msg[2], msg[3]))
        if reply is None:
            return
        if type(reply) is tuple:
            text = json.dumps([4, msg[1], reply[1], "", {}])
        else:
            text = json.dumps([3, msg[1], reply])
        asyncio.create_task(self.rpc.on_message(text, self.send))

    def drop(self, reason):
        self.drops += 1

    def probe(self):
        self.probes += 1


class Journal:
    max_bytes = 1 << 30  # never full

    def __init__(self):
        self._records = []
        self._seq = 0

    @property
    def live_bytes(self):
        return sum(12 + len(b) for _, b in self._records)

    def append(self, body):
        self._seq += 1
        self._records.append((self._seq, body.encode() if isinstance(body, str) else body))
        return self._seq

    def remove(self, seq):
        self._records = [r for r in self._records if r[0] != seq]

    def first(self):
        return self._records[0] if self._records else None

    def __len__(self):
        return len(self._records)

    def records(self):
        return iter(list(self._records))


class Backoff:
    def __init__(self, seconds=0.05):
        self.seconds = seconds
        self.waits = 0

    def next(self):
        self.waits += 1
        return self.seconds

    def reset(self):
        pass


class Outbox:
    # Keeps what is submitted (the test answers or builds it); withdraw()
    # takes one back.
    def __init__(self):
        self.msgs = []

    def submit(self, msg):
        self.msgs.append(msg)
        return msg

    def withdraw(self, msg):
        self.msgs.remove(msg)
