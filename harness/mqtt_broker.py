"""A real mosquitto on a loopback port, and real subscribers (mosquitto_sub).

`make test` installs the Debian packages mosquitto and mosquitto-clients.
Each broker gets its own generated config: one listener on 127.0.0.1 only,
no persistence (a restarted broker has lost every retained message). With
tls=(cafile, certfile, keyfile) (PEM, e.g. from harness/pki.py) a second
listener on tls_port speaks TLS; the plain one stays for the subscribers.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time


def _tool(name):
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        raise RuntimeError("%s is not installed: run `make test` (it installs mosquitto and mosquitto-clients)" % name)
    return found


class _Lines:
    """Collects a child's output lines; waits on them with a timeout."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(list(self.lines))
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(line for _, line in self.lines[-20:])
                    raise TimeoutError("no %s within %.1f s; last lines:\n%s" % (what, timeout, tail))
                self._cond.wait(min(left, 0.5))


class Broker:
    def __init__(self, workdir, port, users=None, tls=None, tls_port=None):
        self.workdir = workdir
        self.port = port
        self.users = users or {}
        self.tls = tls
        self.tls_port = tls_port
        self.proc = None
        self.out = None
        self.starts = 0

    def _write_config(self):
        os.makedirs(self.workdir, exist_ok=True)
        # `user`: run as whoever runs the tests (as root mosquitto would switch
        # to user mosquitto, which cannot read pytest's private tmp_path).
        conf = ["persistence false", "log_dest stderr", "log_type all", "user %s" % pwd.getpwuid(os.getuid()).pw_name, "listener %d 127.0.0.1" % self.port]
        if self.tls:
            cafile, certfile, keyfile = self.tls
            conf += ["listener %d 127.0.0.1" % self.tls_port, "cafile %s" % cafile, "certfile %s" % certfile, "keyfile %s" % keyfile]
        if self.users:
            pwfile = os.path.join(self.workdir, "passwords")
            open(pwfile, "w").close()
            for user, password in self.users.items():
                subprocess.run([_tool("mosquitto_passwd"), "-b", pwfile, user, password], check=True, capture_output=True)
            conf += ["allow_anonymous false", "password_file %s" % pwfile]
        else:
            conf.append("allow_anonymous true")
        path = os.path.join(self.workdir, "mosquitto.conf")
        with open(path, "w") as f:
            f.write("\n".join(conf) + "\n")
        return path

    def start(self):
        conf = self._write_config()
        self.proc = subprocess.Popen([_tool("mosquitto"), "-c", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        self.out = _Lines(self.proc)
        self.starts += 1
        self.out.wait_for(lambda ls: any(" running" in line for _, line in ls) or self.proc.poll() is not None, 10, "mosquitto start")
        if self.proc.poll() is not None:
            raise RuntimeError("mosquitto exited: %s" % self.log)
        return self

    @property
    def log(self):
        return "\n".join(line for _, line in self.out.lines) if self.out else ""

    def wait_log(self, pattern, count=1, timeout=10.0):
        rx = re.compile(pattern)
        return self.out.wait_for(lambda ls: len([1 for _, line in ls if rx.search(line)]) >= count, timeout, "broker log %r x%d" % (pattern, count))

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Subscriber:
    """mosquitto_sub on `topic`; records (time, retained, topic, payload)."""

    def __init__(self, port, topic, user=None, password=None):
        cmd = [_tool("mosquitto_sub"), "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-F", "%r %t %p"]
        if user:
            cmd += ["-u", user, "-P", password]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        self.out = _Lines(self.proc)

    @property
    def messages(self):
        out = []
        for t, line in list(self.out.lines):
            parts = line.split(" ", 2)
            if len(parts) >= 2 and parts[0] in ("0", "1"):
                out.append((t, parts[0] == "1", parts[1], parts[2] if len(parts) > 2 else ""))
        return out

    def values(self, retained_only=False):
        """topic -> latest payload."""
        return {topic: payload for _, retained, topic, payload in self.messages if retained or not retained_only}

    def wait_value(self, topic, payload, timeout=10.0, retained=None):
        """Wait for a message on topic with payload (a str or compiled regex); returns it."""

        def match(p):
            return payload.fullmatch(p) if hasattr(payload, "fullmatch") else p == payload

        def found(_lines):
            for m in self.messages:
                if m[2] == topic and match(m[3]) and (retained is None or m[1] == retained):
                    return m
            return None

        return self.out.wait_for(found, timeout, "message %s = %r" % (topic, payload))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class StalledBroker:
    """A TCP listener that accepts connections and never answers a byte; with
    accept=False one whose SYNs go unanswered (its accept queue is kept full),
    as a broker host that has gone away."""

    def __init__(self, accept=True):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16 if accept else 0)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self._stop = False
        if accept:
            threading.Thread(target=self._accept, daemon=True).start()
        else:
            # Listen backlog 0 holds one connection; while it waits unaccepted,
            # the kernel drops every further SYN.
            self._filler = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            self.accepted.append(self._filler)

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.sock.close()
        for c in self.accepted:
            c.close()


def mirror_config(port, **over):
    """The firmware's `mqtt` section against a test broker on 127.0.0.1:port,
    reconnecting at once (tests wait on events, not on back-off)."""
    cfg = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": port,
        "keepalive": 5,
        "timeout": 1,
        "reconnectMinimum": 0.2,
        "reconnectRandomRange": 0,
        "reconnectRepeatTimes": 0,
    }
    cfg.update(over)
    return cfg
