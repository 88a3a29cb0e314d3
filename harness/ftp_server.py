"""A real FTP(S) server on 127.0.0.1 for transfer tests: pyftpdlib, one thread per connection.

FtpServer(root, tls=None, refuse_prot=False).start() serves the directory root to the user
"user" (password "pw") and to anonymous, both allowed to read and write. tls: a Pki
(harness/pki.py): explicit FTPS (AUTH TLS), TLS required on the control and the data
connections; refuse_prot: an FTPS server that answers PROT P with 534 and would send data in clear;
epsv=False: a server that answers EPSV with 502 (PASV only); pasv_bare=True: one whose 227 reply to PASV
has no parentheses around the numbers (RFC 1123 4.1.2.6: RFC 959 itself shows both forms); greet_120=True:
one that greets with "120 Service ready in 1 minute." before its 220 (RFC 959 5.4).

server.files(name) / put(name, data): the root's files. server.commands records every command as
(verb, argument). server.wait_upload(name) waits for a completed STOR.

server.plan[name] = [step, ...] scripts the next transfers of that file, one step per RETR or
STOR, then normal service:
  "stall"   the data connection stops mid-transfer (a download after its first 64 KB block, an
            upload once 1 KB is in) and the control connection says nothing more (until stop())
  "mute"    the control connection never answers the RETR or STOR
"""

import logging
import os
import threading
import warnings

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import ThreadedFTPServer

USER, PASSWORD = "user", "pw"
logging.getLogger("pyftpdlib").addHandler(logging.NullHandler())  # pyftpdlib would print every session
logging.getLogger("pyftpdlib").setLevel(logging.WARNING)


class _Stalling:
    """A file whose reads (after the first) or writes (past 1 KB) block until the server stops."""

    def __init__(self, f, stalled):
        self._f = f
        self._stalled = stalled
        self._reads = 0
        self._written = 0

    def read(self, n=-1):
        self._reads += 1
        if self._reads > 1:
            self._stalled.wait(60)
        return self._f.read(n)

    def write(self, data):
        self._written += len(data)
        if self._written > 1024:
            self._stalled.wait(60)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)


class _Planned:
    owner = None  # the FtpServer, set on each server's own subclass
    pasv_bare = False
    greet_120 = False

    def respond(self, resp, *args, **kw):
        if self.greet_120 and resp.startswith("220 "):
            self.greet_120 = False  # this connection's own attribute from now on
            super().respond("120 Service ready in 1 minute.", *args, **kw)
        if self.pasv_bare and resp.startswith("227 "):
            resp = resp.replace("(", "").replace(")", "")
        return super().respond(resp, *args, **kw)

    def pre_process_command(self, line, cmd, arg):
        with self.owner.lock:
            self.owner.commands.append((cmd, arg))
            self.owner.cond.notify_all()
        return super().pre_process_command(line, cmd, arg)

    def _step(self, file):
        name = os.path.relpath(file, self.owner.root)
        with self.owner.lock:
            steps = self.owner.plan.get(name)
            return steps.pop(0) if steps else None

    def _transfer(self, base, file, *args):
        step = self._step(file)
        if step == "mute":
            return None
        if step != "stall":
            return base(self, file, *args)
        fs_open = self.fs.open
        self.fs.open = lambda path, mode: _Stalling(fs_open(path, mode), self.owner.stalled)
        try:
            return base(self, file, *args)
        finally:
            self.fs.open = fs_open

    def ftp_RETR(self, file):
        return self._transfer(FTPHandler.ftp_RETR, file)

    def ftp_STOR(self, file, mode="w"):
        return self._transfer(FTPHandler.ftp_STOR, file, mode)

    def on_file_received(self, file):
        self.owner.store(os.path.relpath(file, self.owner.root))


class FtpServer:
    def __init__(self, root, tls=None, refuse_prot=False, epsv=True, pasv_bare=False, greet_120=False):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.plan = {}
        self.commands = []
        self.received = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.stalled = threading.Event()
        self._stop = threading.Event()
        auth = DummyAuthorizer()
        auth.add_user(USER, PASSWORD, self.root, perm="elradfmw")
        with warnings.catch_warnings():  # "write permissions assigned to anonymous user": on purpose here
            warnings.simplefilter("ignore")
            auth.add_anonymous(self.root, perm="elradfmw")
        attrs = {"owner": self, "authorizer": auth, "auth_failed_timeout": 0.1, "banner": "uocpp test FTP server"}
        attrs["use_sendfile"] = False  # every download through the file's read() (and the plan's stall)
        attrs["pasv_bare"] = pasv_bare
        attrs["greet_120"] = greet_120
        if not epsv:
            attrs["ftp_EPSV"] = lambda self, line="": self.respond("502 EPSV not implemented.")
        if tls is None:
            handler = type("Handler", (_Planned, FTPHandler), attrs)
        else:
            attrs.update(certfile=str(tls.server[0]), keyfile=str(tls.server[1]), ssl_context=None, tls_control_required=True)
            attrs["tls_data_required"] = not refuse_prot
            if refuse_prot:
                attrs["ftp_PROT"] = lambda self, line: (
                    self.respond("534 PROT P refused by policy.") if line.upper() == "P" else TLS_FTPHandler.ftp_PROT(self, line)
                )
            handler = type("Handler", (_Planned, TLS_FTPHandler), attrs)
        # Its own IOLoop: pyftpdlib's default is one per process, which two servers would share.
        self._server = ThreadedFTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop())
        self.port = self._server.address[1]
        self.scheme = "ftp" if tls is None else "ftps"
        self._thread = None

    def url(self, name, user=USER, password=PASSWORD):
        cred = "" if user is None else "%s:%s@" % (user, password)
        return "%s://%s127.0.0.1:%d/%s" % (self.scheme, cred, self.port, name)

    def _serve(self):
        while not self._stop.is_set():
            self._server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self._server.close_all()

    def start(self):
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.stalled.set()
        self._stop.set()
        self._thread.join(10)

    def put(self, name, data):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def file(self, name):
        with open(os.path.join(self.root, name), "rb") as f:
            return f.read()

    def store(self, name):
        with self.lock:
            self.received.append(name)
            self.cond.notify_all()

    def wait_upload(self, name, timeout=10.0):
        with self.lock:
            if not self.cond.wait_for(lambda: name in self.received, timeout):
                raise TimeoutError("no upload of %s within %.1f s; commands: %r" % (name, timeout, self.commands))
        return self.file(name)

    def wait_commands(self, verb, count=1, timeout=10.0):
        with self.lock:
            if not self.cond.wait_for(lambda: self.verbs().count(verb) >= count, timeout):
                raise TimeoutError("%d of %d %s within %.1f s: %r" % (self.verbs().count(verb), count, verb, timeout, self.commands))

    def verbs(self):
        return [c[0] for c in self.commands]
