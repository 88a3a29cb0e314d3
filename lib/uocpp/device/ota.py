# Update files (tools/make_update.py builds them) and the two ways to install
# one. OCPP 1.6's UpdateFirmware carries no checksum, so the file brings its
# own: one header line, then the payload,
#   UOCPP-UPDATE 1 <kind> <version> <payload bytes> <SHA-256 of the payload, hex>\n
# kind "bundle": the compiled application (lib/), installed beside the
# running one (services/firmware_update.py); "image": a whole MicroPython
# firmware .bin for the next OTA app partition (ESP32).
# Everything streams: the download's pieces go through the hash straight to
# their target (a staging file, or partition blocks), and nothing switches
# before the length and the hash are checked.
# A signed file (make_update.py --signing-key) ends in one more line after
# the payload, its signature over the header line and the payload, and the
# signing certificate (then any intermediates), each base64 DER:
#   UOCPP-SIG 1 <signature> <certificate> [<intermediate> ...]\n
# checked against the installed ManufacturerRootCertificates
# (services/firmware_signature.py).
import binascii
import hashlib
import os

from micropython import const

MAGIC = b"UOCPP-UPDATE"
SIG_MAGIC = b"UOCPP-SIG 1 "
_HEAD_MAX = const(200)
_TRAILER_MAX = const(8192)  # a signature and a short chain, base64
_BLOCK = const(4096)  # esp32.Partition block size
_COPY = const(512)
KINDS = ("bundle", "image")


class UpdateError(ValueError):
    # fatal: trying again cannot help (a kind this charger cannot install).
    def __init__(self, reason, fatal=False):
        super().__init__(reason)
        self.fatal = fatal


def parse_header(line):
    # bytes of the first line (without \n) -> (kind, version, length, sha hex)
    line = bytes(line)
    parts = line.split()
    if len(parts) != 6 or parts[0] != MAGIC or parts[1] != b"1" or any(not 32 <= b <= 126 for b in line):
        raise UpdateError("not an update file (no UOCPP-UPDATE 1 header)")
    kind, version, sha = parts[2].decode(), parts[3].decode(), parts[5].decode()
    if kind not in KINDS or len(sha) != 64 or not parts[4].isdigit() or not 0 < len(version) <= 50:
        raise UpdateError("bad update header %r" % line[:80])
    return kind, version, int(parts[4]), sha


class Receiver:
    # The sink for link/http.get: reads the header, then feeds the payload
    # through SHA-256 into open_target(kind, version, length) -> an object
    # with write(view) and close(). check() afterwards raises UpdateError
    # unless the length and the hash match the header. Two more digests for
    # the signatures: signed (header line and payload, what the trailer's
    # signature covers) and whole (every byte: what SignedUpdateFirmware's
    # signature covers).
    def __init__(self, open_target):
        self._open = open_target
        self._head = bytearray()
        self.kind = self.version = self.target = None
        self.length = self.got = 0
        self._sha = None
        self._hash = hashlib.sha256()
        self._signed = hashlib.sha256()
        self._whole = hashlib.sha256()
        self.trailer = None  # the bytes after the payload (a signature line)
        self.signed_digest = self.whole_digest = None

    def __call__(self, view):
        if self.target is None:
            nl = bytes(view[: _HEAD_MAX + 1]).find(b"\n")
            if nl < 0:
                self._head.extend(view)
                if len(self._head) > _HEAD_MAX:
                    raise UpdateError("not an update file (no header line)")
                return
            self._head.extend(view[: nl + 1])
            view = view[nl + 1 :]
            self._signed.update(self._head)
            self._whole.update(self._head)
            self.kind, self.version, self.length, self._sha = parse_header(self._head[:-1])
            self._head = None
            self.target = self._open(self.kind, self.version, self.length)
        self._whole.update(view)
        if self.got + len(view) > self.length:
            n = self.length - self.got
            if self.trailer is None:
                self.trailer = bytearray()
            self.trailer.extend(view[n:])
            if len(self.trailer) > _TRAILER_MAX:
                raise UpdateError("longer than the %d bytes its header gives" % self.length)
            view = view[:n]
            if not n:
                return
        self._hash.update(view)
        self._signed.update(view)
        self.target.write(view)
        self.got += len(view)

    def close(self):
        if self.target is not None:
            self.target.close()

    def check(self):
        if self.target is None:
            raise UpdateError("not an update file (no header line)")
        if self.got != self.length:
            raise UpdateError("cut short: %d of %d bytes" % (self.got, self.length))
        digest = binascii.hexlify(self._hash.digest()).decode()
        if digest != self._sha:
            raise UpdateError("SHA-256 mismatch: got %s, the header says %s" % (digest[:16], self._sha[:16]))
        if self.trailer is not None and not (bytes(self.trailer[: len(SIG_MAGIC)]) == SIG_MAGIC and bytes(self.trailer[-1:]) == b"\n"):
            raise UpdateError("longer than the %d bytes its header gives" % self.length)
        self.signed_digest = self._signed.digest()
        self.whole_digest = self._whole.digest()

    def signature(self):
        # The trailer's (signature, [certificate DER, ...]), or None.
        if self.trailer is None:
            return None
        parts = bytes(self.trailer[len(SIG_MAGIC) : -1]).split()
        if len(parts) < 2:
            raise UpdateError("bad signature line")
        try:
            return binascii.a2b_base64(parts[0]), [binascii.a2b_base64(p) for p in parts[1:]]
        except ValueError:
            raise UpdateError("bad signature line (base64)")


# -- images: the next OTA app partition (esp32.Partition, or a stand-in) -----
class Image:
    # The partition API behind the platform layer: Partition is esp32.Partition
    # on a board, a recording stand-in in the unit tests.
    def __init__(self, partition):
        self._p = partition

    def running(self):
        return self._p(self._p.RUNNING).info()[4]  # its label, say "ota_0"

    def writer(self, length):
        part = self._p(self._p.RUNNING).get_next_update()
        size = part.info()[3]
        if length > size:
            raise UpdateError("the image (%d bytes) does not fit the %d-byte partition" % (length, size), True)
        return ImageWriter(part)

    def confirm(self):
        # The new image booted and was Accepted: keep it (no rollback).
        self._p.mark_app_valid_cancel_rollback()

    def boot(self, label):
        # Boot that partition next (the way back to the old image).
        found = self._p.find(self._p.TYPE_APP, label=label)
        if found:
            found[0].set_boot()


class ImageWriter:
    # Writes each piece of the stream where it belongs, with no buffer of its
    # own: a block is erased (ioctl 6) when the stream reaches it, then
    # written in place (writeblocks with an offset: the extended block
    # protocol, which does not erase). What stays unwritten of the last block
    # is erased flash (0xFF). set_boot() only after check().
    def __init__(self, part):
        self.part = part
        self._pos = 0

    def write(self, view):
        while len(view):
            block, off = divmod(self._pos, _BLOCK)
            if not off:
                self.part.ioctl(6, block)  # MP_BLOCKDEV_IOCTL_BLOCK_ERASE
            n = min(len(view), _BLOCK - off)
            self.part.writeblocks(block, view[:n], off)
            self._pos += n
            view = view[n:]

    def close(self):
        pass

    def label(self):
        return self.part.info()[4]

    def switch(self):
        self.part.set_boot()


# -- bundles: an archive of files, unpacked into a slot directory ------------
# The payload: for each file "F <bytes> <path>\n" and its bytes; "E\n" ends it.
class FileTarget:
    def __init__(self, path):
        self._f = open(path, "wb")

    def write(self, view):
        self._f.write(view)

    def close(self):
        self._f.close()


def _line(f):
    line = f.readline()
    if not line.endswith(b"\n"):
        raise UpdateError("bundle ends without its end mark")
    return line[:-1].decode()


def unpack(src, dest):
    # The staging file src into the empty directory dest. Returns the count
    # of files. Paths stay inside dest.
    remove_tree(dest)
    os.mkdir(dest)
    buf = memoryview(bytearray(_COPY))
    count = 0
    with open(src, "rb") as f:
        while True:
            line = _line(f)
            if line == "E":
                return count
            kind, size, path = line.split(" ", 2)
            if kind != "F" or path.startswith("/") or ".." in path.split("/") or not size.isdigit():
                raise UpdateError("bad bundle entry %r" % line[:60])
            _make_dirs(dest, path)
            left = int(size)
            with open(dest + "/" + path, "wb") as out:
                while left:
                    n = f.readinto(buf[: min(left, _COPY)])
                    if not n:
                        raise UpdateError("bundle cut short in %s" % path)
                    out.write(buf[:n])
                    left -= n
            count += 1


def _make_dirs(dest, path):
    at = dest
    for part in path.split("/")[:-1]:
        at += "/" + part
        try:
            os.mkdir(at)
        except OSError:
            pass


def remove_tree(path):
    try:
        entries = list(os.ilistdir(path))
    except OSError:
        return
    for entry in entries:
        sub = path + "/" + entry[0]
        if entry[1] == 0x4000:
            remove_tree(sub)
        else:
            os.remove(sub)
    os.rmdir(path)
