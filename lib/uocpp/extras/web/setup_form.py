# Setup mode: an access point and the setup form instead of the OCPP link.
# Saving merges the form into config.json, checks the whole document with
# config/settings.py's own rules (their error texts go back on the page),
# writes it atomically and restarts in normal mode (web.setupMode off).
import asyncio
import binascii
import os

from micropython import const

from uocpp import log, platform
from uocpp.extras.web import pages
from uocpp.extras.web.server import HTML, Server
from uocpp.store import json_file

_CA_MAX = const(8192)  # a CA certificate in DER is 1 to 2 KB
# The names an upload is stored under, whatever the client calls it: the one
# config.json does not point to, so that the old CA stays whole until the
# new config.json (pointing to the new one) is written.
_CA_NAMES = ("ca.der", "ca2.der")
# microdot's multipart reader keeps a boundary split over two reads only
# for reads of at most its buffer (256 B); a larger one reads past the end.
_CHUNK = const(256)
_FIELDS = ("ssid", "wifiPassword", "url", "chargePointId", "authorizationKey", "securityProfile")


class TooLarge(Exception):
    pass


def _section(doc, name):
    s = doc.get(name)
    if not isinstance(s, dict):
        s = doc[name] = {}
    return s


def merge(doc, f, ca=None):
    # The form's fields into the config document. A password or key left
    # empty keeps the stored one (the page never shows them).
    cs, wifi = _section(doc, "centralSystem"), _section(doc, "wifi")
    if "ssid" in f:
        wifi["ssid"] = f["ssid"].strip()
    if f.get("wifiPassword"):
        wifi["password"] = f["wifiPassword"]
    for key in ("url", "chargePointId"):
        if key in f:
            cs[key] = f[key].strip()
    if f.get("authorizationKey"):
        cs["authorizationKey"] = f["authorizationKey"]
    p = f.get("securityProfile")
    if p is not None:
        # Not a number: kept as text, so settings.py says what it must be.
        try:
            cs["securityProfile"] = int(p)
        except ValueError:
            cs["securityProfile"] = p
    if ca:
        cs["caFile"] = ca
    _section(doc, "web")["setupMode"] = False
    return doc


class Setup:
    def __init__(self, path, flash, cp_id):
        self._path = path
        self._cas = tuple(json_file.join(flash, n) for n in _CA_NAMES)
        self._ca = self._cas[0] + ".tmp"  # where an upload lands first
        self._cp_id = cp_id
        self.saved = False
        self.token = ""  # the server's CSRF token, for the form's action
        self.done = asyncio.Event()

    def _doc(self):
        doc = json_file.read_json(self._path, {})
        return doc if isinstance(doc, dict) else {}

    def _page(self, doc, problems):
        cs, wifi = doc.get("centralSystem") or {}, doc.get("wifi") or {}
        if not isinstance(cs, dict) or not isinstance(wifi, dict):
            cs, wifi = {}, {}
        p = cs.get("securityProfile")
        if p is None:
            # Absent: the profile the charger runs at (settings.py validate()); with
            # none selected a browser would post the first option, 0.
            p = 2 if str(cs.get("url", "")).startswith("wss://") else 1 if cs.get("authorizationKey") else 0
        v = {
            "ssid": wifi.get("ssid", ""),
            "url": cs.get("url", ""),
            "chargePointId": cs.get("chargePointId", self._cp_id),
            "securityProfile": p,
            "caFile": cs.get("caFile", ""),
        }
        return pages.setup(self._cp_id, v, problems, False, self.token), 200, HTML

    async def handle(self, req):
        if req.method != "POST":
            return self._page(self._doc(), [])
        tmp = self._ca
        try:
            fields, uploaded = await self._read(req, tmp)
        except TooLarge as e:
            _remove(tmp)
            log.warning("web", "setup form refused: %s", e)
            return "Payload too large: %s" % e, 413
        except EOFError:  # the client closed mid-body (server.py): nothing saved, no partial CA kept
            _remove(tmp)
            log.warning("web", "setup form not saved: the request ended before its body did")
            return "Bad request: incomplete body", 400
        except BaseException:
            # Any other failure after the upload began (a part microdot
            # refuses, a field not UTF-8, a full flash): no partial CA kept.
            _remove(tmp)
            raise
        doc = self._doc()
        old = doc.get("centralSystem")
        kept = old.get("caFile", "") if isinstance(old, dict) else ""  # shown again if not saved
        doc = merge(doc, fields, tmp if uploaded is not None else None)
        problems = []
        if uploaded == -1:
            problems.append("centralSystem.caFile: the upload is cut off (its DER length is not the file's size): upload the whole certificate again")
        elif uploaded is not None and uploaded != 0x30:
            problems.append("centralSystem.caFile: the upload is not a DER certificate (PEM? openssl x509 -outform der)")
        from uocpp.config import settings as config

        problems.extend(config.validate(doc)[2])
        if problems:
            _remove(tmp)
            log.warning("web", "setup form not saved: %d problem(s): %s", len(problems), "; ".join(problems))
            doc["centralSystem"]["caFile"] = kept
            return self._page(doc, problems)
        uploaded = uploaded is not None
        # By name, not path: a relative caFile ("ca.der", docs/security.md)
        # is the same file as the flash directory's; overwritten, a failed save
        # would leave the old config.json pointing to a removed CA.
        ca = self._cas[1] if str(kept).rsplit("/", 1)[-1] == _CA_NAMES[0] else self._cas[0]
        try:
            if uploaded:
                os.rename(tmp, ca)
                doc["centralSystem"]["caFile"] = ca
            json_file.write_json_atomic(self._path, doc)
        except OSError as e:  # flash full or worn: config.json and its CA are the old ones still
            _remove(tmp)
            if uploaded:
                _remove(ca)
            log.error("web", "setup not saved: %s cannot be written (%s)", self._path, e)
            doc["centralSystem"]["caFile"] = kept
            return self._page(doc, ["%s: cannot be written (%s)" % (self._path, e)])
        for secret in config.secrets({"c": doc["centralSystem"], "w": doc["wifi"]}):
            log.add_secret(secret)
        if uploaded and kept in self._cas:
            _remove(kept)  # the CA the old config.json pointed to
        log.info("web", "setup saved to %s%s; restarting in normal mode", self._path, " with the CA in " + ca if uploaded else "")
        self.saved = True
        return pages.setup(self._cp_id, None, [], True), 200, HTML

    async def _read(self, req, tmp):
        # -> (fields, first byte of the CA upload or None for none).
        fields = {}
        first = None
        ctype = req.content_type or ""
        if not ctype.startswith("multipart/form-data"):
            if req.content_length > req.max_body_length:
                raise TooLarge("a form without a file over %d B" % req.max_body_length)
            form = req.form or {}
            for name in _FIELDS:
                if name in form:
                    fields[name] = form[name]
            return fields, first
        from microdot.multipart import FormDataIter

        if req.body and ("--%s--" % ctype.rsplit("; boundary=", 1)[-1]).encode() not in req.body:
            # Read whole (under 4 KB, server.py): without its closing boundary
            # microdot's reader asks the spent body for more for ever, never yielding.
            raise EOFError
        async for name, value in FormDataIter(req):
            if isinstance(value, str):
                if name in _FIELDS:
                    fields[name] = value
            elif name == "ca" and first is None:
                # The client's file name is never used: the CA goes to ca.der.
                first = await _store(value, tmp)
        return fields, first


async def _store(upload, path):
    # Streams the upload into path, at most _CA_MAX bytes. -> its first byte
    # (None: empty), -1 for a DER SEQUENCE whose outer length (X.690 8.1.3)
    # is not the file's size: a certificate cut off, or with bytes after it.
    n = 0
    first = None
    head = b""
    with open(path, "wb") as f:
        while True:
            chunk = await upload.read(_CHUNK)
            if not chunk:
                break
            if not n:
                first = chunk[0]
                head = bytes(chunk[:5])
            n += len(chunk)
            if n > _CA_MAX:
                raise TooLarge("the CA certificate is over %d B" % _CA_MAX)
            f.write(chunk)
    if not n:
        _remove(path)
    if first == 0x30:
        size = -1
        if len(head) > 1:
            k = head[1] & 0x7F
            if head[1] < 0x80:
                size = 2 + k  # the short form
            elif 0 < k <= 3 and len(head) >= 2 + k:
                size = 2 + k + int.from_bytes(head[2 : 2 + k], "big")  # the long form
        if size != n:
            first = -1
    return first


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


async def run(settings, web):
    # Ends in a reset, once the form is saved: normal mode comes up.
    cp_id = settings["centralSystem"]["chargePointId"]
    password = web["apPassword"]
    if not password:
        # Printed this once (a new one each setup-mode boot), masked after.
        password = binascii.hexlify(os.urandom(6)).decode()
        # On the console only, once: masked everywhere from here on, and never
        # in the flash log (it would outlive this setup session there).
        log.add_secret(password)
        print("web: setup mode: access point and page password %s (generated; web.apPassword sets one)" % password)
    log.info("web", "setup mode: the OCPP link stays off until the form is saved")
    platform.access_point(("uOCPP-" + cp_id)[:32], password)
    setup = Setup(platform.config_path(), platform.flash_dir(settings), cp_id)
    app = Server(password)
    setup.token = app.token
    app.route("/", methods=["GET", "POST"])(setup.handle)

    def answered():
        if setup.saved:
            setup.done.set()

    app.after_response = answered
    task = asyncio.create_task(app.listen(web["host"], web["port"], "setup page"))
    await setup.done.wait()
    app.shutdown()
    task.cancel()
    platform.reset()
