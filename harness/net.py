"""Small helpers for tests and benchmarks: a free TCP port, and a context
that stops every object a factory fixture started."""

import contextlib
import socket


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tracked(stop):
    """For factory fixtures: track(obj) remembers obj and returns it; at
    teardown every tracked object is stopped. track.started lists them."""
    started = []

    def track(obj):
        started.append(obj)
        return obj

    track.started = started
    try:
        yield track
    finally:
        for obj in started:
            stop(obj)
