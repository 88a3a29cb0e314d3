# The certificate store (whitepaper A.1-A.3): CentralSystemRootCertificate
# and ManufacturerRootCertificate, each a DER file under <flash>/certs/, and
# an index (certs/index.json) that keeps their certificateHashData so that
# GetInstalledCertificateIds reads no certificate. Loaded only by the
# certificate operations and, for profile 2 and 3, to build the TLS context.
#
# A new Central System root is on trial: the link trusts it (with the roots
# before it, unless AdditionalRootCertificateCheck replaced them) and keeps
# the old set as the fall-back, used when a connection with the new one
# fails on its certificate; the first connection that succeeds with the new
# set ends the trial and removes the replaced root (the "fallback
# certificate" of the whitepaper). With no Central System root installed,
# centralSystem.caFile is the one the link trusts.
import binascii
import hashlib
import os

from micropython import const

from uocpp import log
from uocpp.pki import der
from uocpp.store import json_file

CS_ROOT = "CentralSystemRootCertificate"
MF_ROOT = "ManufacturerRootCertificate"
_TAG = {CS_ROOT: "C", MF_ROOT: "M"}
_MAX_DER = const(4096)  # a root certificate is 0.5..2 KB


def _dir(flash):
    return json_file.join(flash, "certs")


def _hex(b):
    return binascii.hexlify(b).decode()


def hash_data(cert, issuer=None):
    # certificateHashData (SHA256): the issuer's name as DER, the issuer's
    # public key (the BIT STRING's value), the serial in hex. A root is its
    # own issuer; otherwise issuer is the Cert that signed it, when known.
    key = (issuer or cert).key
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": _hex(hashlib.sha256(cert.part(cert.issuer)).digest()),
        "issuerKeyHash": _hex(hashlib.sha256(key).digest()),
        "serialNumber": "%x" % cert.serial,
    }


def same_hash(a, b):
    for k in ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber"):
        if str(a.get(k, "")).lower().lstrip("0") != str(b.get(k, "")).lower().lstrip("0"):
            return False
    return True


class Store:
    def __init__(self, flash):
        self._dir = _dir(flash)
        self._index = self._dir + "/index.json"
        idx = json_file.read_json(self._index, None)
        if not isinstance(idx, dict) or not isinstance(idx.get("c"), list):
            idx = {"c": [], "new": None, "old": []}
        # c: [[tag, file, hash data]]; new: the file on trial; old: the
        # files it replaces, kept until it connected.
        self.idx = idx

    def _save(self):
        try:
            os.mkdir(self._dir)
        except OSError:
            pass
        json_file.write_json_atomic(self._index, self.idx)

    def entries(self, kind):
        tag = _TAG[kind]
        return [e for e in self.idx["c"] if e[0] == tag]

    def count(self):
        return len(self.idx["c"])

    def read(self, entry):
        with open(self._dir + "/" + entry[1], "rb") as f:
            return f.read(_MAX_DER)

    def certs(self, kind, skip=()):
        out = []
        for e in self.entries(kind):
            if e[1] not in skip:
                try:
                    out.append(der.Cert(self.read(e)))
                except (OSError, ValueError) as ex:
                    log.warning("certs", "%s unreadable: %s", e[1], ex)
        return out

    def find(self, hd):
        for e in self.idx["c"]:
            if same_hash(e[2], hd):
                return e
        return None

    def add(self, kind, cert, replaces=(), issuer=None):
        # cert (a Cert) into the store. replaces: entries it takes the place
        # of (kept as the fall-back until the new one connected).
        n = 0
        names = [e[1] for e in self.idx["c"]]
        while "%s%d.der" % (_TAG[kind], n) in names:
            n += 1
        name = "%s%d.der" % (_TAG[kind], n)
        try:
            os.mkdir(self._dir)
        except OSError:
            pass
        _write(self._dir + "/" + name, cert.der)
        # The files of the roots that go are removed once the index no
        # longer names them: an index that cannot be written (a full
        # flash) leaves every file it names, and this one goes.
        before = {"c": list(self.idx["c"]), "new": self.idx["new"], "old": self.idx["old"]}
        gone = []
        self.idx["c"].append([_TAG[kind], name, hash_data(cert, issuer)])
        if kind == CS_ROOT:
            names = self.idx["old"]
            if names and replaces:
                # A trial under way: the root on trial (replaces) goes for
                # good, its fall-back (not given up yet) stays.
                self.idx["old"] = [e[1] for e in replaces]
                gone = self._drop_old()
                self.idx["old"] = names
            else:
                gone = self._drop_old()  # an earlier trial's fall-back goes for good
                self.idx["old"] = [e[1] for e in replaces]
            self.idx["new"] = name
        try:
            self._save()
        except OSError:
            self.idx = before
            _unlink(self._dir, [name])
            raise
        _unlink(self._dir, gone)
        return name

    def remove(self, entry):
        self.idx["c"] = [e for e in self.idx["c"] if e[1] != entry[1]]
        if self.idx["new"] == entry[1]:
            # The root on trial gone: the ones it replaced are the current
            # set again (trusted, and what a next root is checked against).
            self.idx["new"] = None
            self.idx["old"] = []
        self.idx["old"] = [f for f in self.idx["old"] if f != entry[1]]
        self._save()
        try:
            os.remove(self._dir + "/" + entry[1])
        except OSError:
            pass

    def _drop_old(self):
        # -> the files of the old roots, out of the index (the caller
        # removes them once the index is on flash).
        gone = self.idx["old"]
        for name in gone:
            for e in self.idx["c"]:
                if e[1] == name:
                    self.idx["c"].remove(e)
                    break
        self.idx["old"] = []
        return gone

    # -- the link's trust ------------------------------------------------------
    def trusted(self, fallback):
        # DER of the Central System roots the next TLS attempt trusts: the
        # current set, or (fallback) the set before the root on trial. An
        # empty list: none installed (the link then trusts caFile).
        new, old = self.idx["new"], self.idx["old"]
        out = []
        for e in self.entries(CS_ROOT):
            if (fallback and e[1] == new) or (not fallback and e[1] in old):
                continue
            out.append(self.read(e))
        return out

    def on_trial(self):
        return self.idx["new"] is not None

    def connected(self, fallback):
        # A TLS connection succeeded; with the new set, the trial ends.
        if fallback or self.idx["new"] is None:
            return
        log.info("certs", "the new Central System root certificate connected: the fall-back goes")
        gone = self._drop_old()
        self.idx["new"] = None
        self._save()
        _unlink(self._dir, gone)


def _unlink(directory, names):
    for name in names:
        try:
            os.remove(directory + "/" + name)
        except OSError:
            pass


def _write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)
