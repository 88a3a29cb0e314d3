# A small FTP client for file transfers (RFC 959): UpdateFirmware downloads
# (RETR) and GetDiagnostics uploads (STOR), over ftp:// or ftps://, loaded
# only when such a URL is used (link/transfer.py picks it). The same shape as
# link/http.py: bodies stream through one transfer.CHUNK buffer, every step
# (connect, each reply, each read or write) is bounded by the caller's
# timeout, and a failure is an exception with a reason.
#
#   login    ftp://user:pass@host[:port]/path (%XX allowed); anonymous
#            (password "uocpp@") without a user
#   path     the URL path without its first "/", %XX decoded, in one RETR or
#            STOR: relative to the login directory (RFC 1738); %2F at its
#            start names an absolute path
#   passive  EPSV (RFC 2428), PASV when the server refuses it; the data
#            connection always goes to the control connection's host, never
#            to the address a PASV reply names (NAT, and no FTP bounce)
#   binary   TYPE I; no REST: a retried transfer starts from zero
#   ftps://  explicit FTPS (RFC 4217): AUTH TLS on the plain port (21),
#            PBSZ 0, PROT P; the data connection in TLS too. A server that
#            refuses PROT P is refused in turn: nothing goes in clear. The
#            certificate must chain to the CA in DER and name the host, as
#            link/tls.py does for the OCPP link.
# A transfer is done only when the control connection says so (2xx after
# the data connection closed): a data connection cut short is not a file.
import asyncio

from micropython import const

from uocpp.link import handshake, transfer

_MAX_LINE = const(512)  # a reply line; a hostile server cannot grow it
_MAX_LINES = const(64)  # lines of one multi-line reply
_SCHEMES = ("ftp://", "ftps://")


class FtpError(transfer.TransferError):
    # status: the FTP reply code, 0 when the answer was not FTP.
    pass


def _text(line):
    try:
        return line[:120].decode()
    except UnicodeError:
        return repr(line[:120])


class _Session:
    def __init__(self, url, ca_file, timeout_ms):
        url, cred = transfer.userinfo(url)
        self.secure, self.host, self.port, path = handshake.parse_url(url, _SCHEMES, (21, 21))
        self.path = transfer.unquote(path[1:])
        if not self.path or self.path.endswith("/"):
            raise ValueError("the URL names no file")
        user, _, self._pw = (cred or "anonymous:uocpp@").partition(":")
        for part in (user, self._pw, self.path):
            if "\r" in part or "\n" in part:  # %0D%0A: a second command
                raise ValueError("CR or LF in the URL")
        self._user = user
        self._ca = ca_file
        self._t = timeout_ms
        self._ctx = None
        self._s = None
        self._buf = b""

    async def _wait(self, aw):
        return await asyncio.wait_for_ms(aw, self._t)

    async def _line(self):
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line, self._buf = self._buf[:i], self._buf[i + 1 :]
                return line.rstrip(b"\r")
            if len(self._buf) > _MAX_LINE:
                raise FtpError(0, "reply line over %d bytes" % _MAX_LINE)
            chunk = await self._wait(self._s.read(128))
            if not chunk:
                raise FtpError(0, "the server closed the control connection")
            self._buf += chunk

    async def reply(self):
        # -> (code, first line); a multi-line reply (RFC 959 4.2) read whole.
        line = await self._line()
        if len(line) < 3 or not line[:3].isdigit():
            raise FtpError(0, "not an FTP reply: %s" % _text(line))
        if line[3:4] == b"-":
            for _ in range(_MAX_LINES):
                last = await self._line()
                if last[:3] == line[:3] and last[3:4] != b"-":
                    break
            else:
                raise FtpError(0, "reply over %d lines" % _MAX_LINES)
        return int(line[:3]), line

    async def cmd(self, text, want=b"2", what=None):
        # Sends one command; a reply whose first digit is not in want raises.
        # what: the command as an error names it (never PASS's argument).
        if text:
            self._s.write(text.encode() + b"\r\n")
            await self._wait(self._s.drain())
        code, line = await self.reply()
        if line[:1] not in want:
            raise FtpError(code, "%s: %s" % (what or text or "greeting", _text(line)))
        return code

    async def open(self):
        if self.secure:
            if not self._ca:
                raise ValueError("ftps:// needs a CA certificate file")
            from uocpp.link import tls

            self._ctx = tls.context(self._ca)
        self._s = (await self._wait(asyncio.open_connection(self.host, self.port)))[0]
        if await self.cmd(None, b"12") == 120:  # "ready in nnn minutes": its 220 follows (RFC 959 5.4)
            await self.cmd(None)
        if self._ctx:
            await self.cmd("AUTH TLS")
            if self._buf:  # sent before the handshake: injected, not the server's
                raise FtpError(0, "plain text after AUTH TLS")
            self._tls(self._s)
        # 331: a password wanted; 230: logged in on the user alone.
        if await self.cmd("USER " + self._user, b"23", "USER") == 331:
            await self.cmd("PASS " + self._pw, b"2", "PASS")
        if self._ctx:
            await self.cmd("PBSZ 0")
            try:
                await self.cmd("PROT P")
            except FtpError as e:
                raise FtpError(e.status, "the server refused PROT P (a data connection in TLS): %s" % e)
        await self.cmd("TYPE I")

    def _tls(self, stream):
        # The stream's socket goes on in TLS (asyncio.open_connection's own
        # way, after the plain exchange). The client speaks first in TLS: one
        # read now sends its hello (and finds nothing yet), or a download,
        # whose first act is a read, would wait for the server forever.
        stream.s = self._ctx.wrap_socket(stream.s, server_hostname=self.host, do_handshake_on_connect=False)
        stream.s.setblocking(False)
        stream.s.readinto(bytearray(1))

    async def _passive(self):
        try:
            self._s.write(b"EPSV\r\n")
            await self._wait(self._s.drain())
            code, line = await self.reply()
            if code == 229:  # "(|||port|)"
                inner = line[line.find(b"(") + 1 : line.rfind(b")")]
                return int(inner.split(inner[:1])[3])
        except (ValueError, IndexError):
            raise FtpError(0, "bad EPSV reply")
        self._s.write(b"PASV\r\n")
        await self._wait(self._s.drain())
        code, line = await self.reply()
        # "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)": only the port is used.
        # The parentheses may be missing (RFC 1123 4.1.2.6): the numbers are
        # the digits and commas from the first digit after the code on.
        start = 4
        while start < len(line) and not 48 <= line[start] <= 57:
            start += 1
        end = start
        while end < len(line) and (line[end] == 44 or 48 <= line[end] <= 57):  # ',' or a digit
            end += 1
        nums = line[start:end].split(b",")
        if code != 227 or len(nums) != 6 or b"" in nums:
            raise FtpError(code, "no passive mode: %s" % _text(line))
        return int(nums[4]) * 256 + int(nums[5])

    async def data(self, verb):
        # The data connection for verb (RETR or STOR) on the path, once the
        # server said it opens it (1xx).
        port = await self._passive()
        d = (await self._wait(asyncio.open_connection(self.host, port)))[0]
        try:
            if self._ctx:
                self._tls(d)
            await self.cmd("%s %s" % (verb, self.path), b"1")
        except BaseException:
            await handshake.close_stream(d)
            raise
        return d

    async def close(self):
        # QUIT, and its 221 awaited (at most 500 ms): the server closes first,
        # so no unread reply makes our close a reset, and the session is
        # over on the server too before the next one starts.
        if self._s is not None:
            self._t = 500
            try:
                await self.cmd("QUIT")
            except Exception:
                pass
            await handshake.close_stream(self._s)


async def get(url, sink, ca_file=None, timeout=30):
    # Downloads url (RETR), calling sink(memoryview) for each piece in order
    # (the view is valid only during the call). Returns the number of bytes.
    # Raises FtpError (a refusal, a transfer the server did not complete),
    # OSError, ValueError (URL, CA file) or asyncio.TimeoutError.
    s = _Session(url, ca_file, int(timeout * 1000))
    try:
        await s.open()
        d = await s.data("RETR")
        try:
            got = await transfer.receive(d, sink, -1, s._t)
        finally:
            await handshake.close_stream(d)
        await s.cmd(None, b"2", "RETR (%d bytes in)" % got)
        return got
    finally:
        await s.close()


async def send(url, source, length, ca_file=None, timeout=30):
    # Uploads length bytes read from source (readinto(buf), such as a file
    # opened "rb") with STOR. Returns the server's final reply code (2xx);
    # raises as get() does.
    s = _Session(url, ca_file, int(timeout * 1000))
    try:
        await s.open()
        d = await s.data("STOR")
        try:
            await transfer.pump(source, length, d, s._t)
        finally:
            await handshake.close_stream(d)  # the end of the file (RFC 959 3.4)
        return await s.cmd(None, b"2", "STOR (%d bytes out)" % length)
    finally:
        await s.close()
