# A small DER reader and writer, and the X.509 fields the whitepaper needs:
# serial, issuer and subject names (as DER, for hashing and matching),
# validity, the public key and the signature. Offsets into the one buffer
# of the certificate, so reading one allocates a few ints and slices.
from micropython import const

SEQ = const(0x30)
SET = const(0x31)
INTEGER = const(0x02)
BIT_STRING = const(0x03)
OCTET_STRING = const(0x04)
OID = const(0x06)
UTF8 = const(0x0C)
_UTC_TIME = const(0x17)
_GEN_TIME = const(0x18)
_BOOL = const(0x01)

# Object identifiers, as their DER value bytes.
EC_KEY = b"\x2a\x86\x48\xce\x3d\x02\x01"  # 1.2.840.10045.2.1
P256 = b"\x2a\x86\x48\xce\x3d\x03\x01\x07"  # 1.2.840.10045.3.1.7
RSA_KEY = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"  # 1.2.840.113549.1.1.1
RSA_SHA256 = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"  # 1.2.840.113549.1.1.11
ECDSA_SHA256 = b"\x2a\x86\x48\xce\x3d\x04\x03\x02"  # 1.2.840.10045.4.3.2
_BASIC_CONSTRAINTS = b"\x55\x1d\x13"  # 2.5.29.19
CN = b"\x55\x04\x03"  # 2.5.4.3
ORG = b"\x55\x04\x0a"  # 2.5.4.10


class DerError(ValueError):
    pass


def tlv(b, i, end=None):
    # The element at b[i:] -> (tag, start of its value, end of its value).
    if end is None:
        end = len(b)
    if i + 2 > end:
        raise DerError("DER: truncated")
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        if not 0 < k <= 3 or i + k > end:
            raise DerError("DER: bad length")
        n = 0
        for _ in range(k):
            n = (n << 8) | b[i]
            i += 1
    if i + n > end:
        raise DerError("DER: truncated")
    return tag, i, i + n


def expect(b, i, tag, end=None):
    t, s, e = tlv(b, i, end)
    if t != tag:
        raise DerError("DER: tag %02x where %02x expected" % (t, tag))
    return s, e


def uint(b, s, e):
    return int.from_bytes(bytes(b[s:e]), "big")


def _time(b, s, e, tag):
    t = bytes(b[s:e]).decode()
    if tag == _UTC_TIME:
        y = int(t[0:2])
        t = ("19" if y >= 50 else "20") + t
    if len(t) != 15 or t[14] != "Z":
        raise DerError("X.509: time %s not in UTC seconds" % t)
    from uocpp import clock

    return clock.parse_iso("%s-%s-%sT%s:%s:%sZ" % (t[0:4], t[4:6], t[6:8], t[8:10], t[10:12], t[12:14]))


class Cert:
    # One X.509 certificate, read from its DER (bytes). Fields:
    #   tbs, issuer, subject, spki: (start, end) of the whole element
    #   serial: int; not_before, not_after: Unix seconds
    #   key_alg: EC_KEY or RSA_KEY; key: the BIT STRING's bytes (EC: 04|X|Y)
    #   sig_alg: the OID's bytes; sig: the signature's bytes; ca: basicConstraints cA
    def __init__(self, der):
        self.der = b = der
        s, e = expect(b, 0, SEQ)
        if e != len(b):
            raise DerError("X.509: trailing bytes")
        _, ts, te = tlv(b, s, e)
        self.tbs = (s, te)
        i = self._read_tbs(b, ts, te)
        if i != te:
            raise DerError("X.509: bad TBSCertificate")
        s, ae = expect(b, te, SEQ, e)
        os_, oe = expect(b, s, OID, ae)
        self.sig_alg = bytes(b[os_:oe])
        s, be = expect(b, ae, BIT_STRING, e)
        self.sig = bytes(b[s + 1 : be])

    def _read_tbs(self, b, i, end):
        t, s, e = tlv(b, i, end)
        if t == 0xA0:  # [0] version
            i = e
            t, s, e = tlv(b, i, end)
        if t != INTEGER:
            raise DerError("X.509: no serial number")
        self.serial = uint(b, s, e)
        _, _, i = tlv(b, e, end)  # the signature algorithm, again
        _, _, e = tlv(b, i, end)
        self.issuer = (i, e)
        vs, ve = expect(b, e, SEQ, end)
        t, s, e2 = tlv(b, vs, ve)
        self.not_before = _time(b, s, e2, t)
        t, s, e2 = tlv(b, e2, ve)
        self.not_after = _time(b, s, e2, t)
        _, _, e = tlv(b, ve, end)
        self.subject = (ve, e)
        ks, ke = expect(b, e, SEQ, end)
        self.spki = (e, ke)
        s, ae = expect(b, ks, SEQ, ke)
        os_, oe = expect(b, s, OID, ae)
        self.key_alg = bytes(b[os_:oe])
        if self.key_alg == EC_KEY:
            cs, ce = expect(b, oe, OID, ae)
            if bytes(b[cs:ce]) != P256:
                raise DerError("X.509: EC key on a curve other than P-256")
        s, be = expect(b, ae, BIT_STRING, ke)
        self.key = bytes(b[s + 1 : be])
        self.ca = None
        i = ke
        while i < end:
            t, s, e = tlv(b, i, end)
            if t == 0xA3:  # [3] extensions
                self._read_extensions(b, s, e)
            i = e
        return i

    def _read_extensions(self, b, s, e):
        s, e = expect(b, s, SEQ, e)
        while s < e:
            xs, xe = expect(b, s, SEQ, e)
            os_, oe = expect(b, xs, OID, xe)
            if bytes(b[os_:oe]) == _BASIC_CONSTRAINTS:
                t, vs, ve = tlv(b, oe, xe)
                if t == _BOOL:  # critical
                    t, vs, ve = tlv(b, ve, xe)
                bs, be = expect(b, vs, SEQ, ve)
                self.ca = False
                if bs < be:
                    t, cs, ce = tlv(b, bs, be)
                    self.ca = t == _BOOL and b[cs] != 0
            s = xe

    def part(self, span):
        return self.der[span[0] : span[1]]

    def self_issued(self):
        return self.part(self.issuer) == self.part(self.subject)

    def name_field(self, oid):
        # The first attribute `oid` of the subject, as text, or None.
        b = self.der
        i, end = self.subject
        i, end = expect(b, i, SEQ, end)
        while i < end:
            ss, se = expect(b, i, SET, end)
            as_, ae = expect(b, ss, SEQ, se)
            os_, oe = expect(b, as_, OID, ae)
            if bytes(b[os_:oe]) == oid:
                _, vs, ve = tlv(b, oe, ae)
                return bytes(b[vs:ve]).decode()
            i = se
        return None


# -- writing ---------------------------------------------------------------
def enc(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes((tag, n))
    elif n < 0x100:
        head = bytes((tag, 0x81, n))
    else:
        head = bytes((tag, 0x82, n >> 8, n & 0xFF))
    return head + body


def enc_uint(n):
    # Minimal big-endian bytes, with a leading 0 when the top bit is set (a
    # DER INTEGER is signed). MicroPython's int has no bit_length().
    body = n.to_bytes(nbytes(n) + 1, "big")
    i = 0
    while i < len(body) - 1 and body[i] == 0 and body[i + 1] < 0x80:
        i += 1
    return enc(INTEGER, body[i:])


def nbytes(n):
    return (len("%x" % n) + 1) // 2


# -- PEM -------------------------------------------------------------------
def pem_to_ders(text):
    # Every CERTIFICATE block of a PEM text, as DER bytes.
    import binascii

    out = []
    begin = "-----BEGIN CERTIFICATE-----"
    i = text.find(begin)
    while i >= 0:
        j = text.find("-----END CERTIFICATE-----", i)
        if j < 0:
            raise DerError("PEM: no END line")
        body = "".join(text[i + len(begin) : j].split())
        try:
            out.append(binascii.a2b_base64(body))
        except ValueError:
            raise DerError("PEM: bad base64")
        i = text.find(begin, j)
    return out


def der_to_pem(der, label):
    import binascii

    b64 = binascii.b2a_base64(der).decode().replace("\n", "")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)
