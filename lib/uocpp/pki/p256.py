# NIST P-256 (secp256r1) in plain integers: key generation, ECDSA signing and
# verification with SHA-256 digests. MicroPython has no EC arithmetic and
# its ssl (mbedTLS) exposes no key generation or signing, so this is ours.
# Points are Jacobian (X, Y, Z): y^2 = x^3 - 3x + b with x = X/Z^2, y = Y/Z^3;
# one inversion per scalar multiplication (Fermat: MicroPython's pow takes no
# negative exponent). Not constant-time: a charger signs rarely (one CSR per
# key) and a timing attacker would need many signatures on the local link.
import os

from uocpp.pki import arun, run

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5


def _inv(x, m):
    return pow(x, m - 2, m)


def _double(pt):
    x, y, z = pt
    if not z or not y:
        return (0, 1, 0)
    p = P
    zz = z * z % p
    yy = y * y % p
    s = 4 * x * yy % p
    m = 3 * (x - zz) * (x + zz) % p  # a = -3
    x3 = (m * m - 2 * s) % p
    return (x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * y * z % p)


def _add(p1, q):
    # p1 (Jacobian) + q (affine x, y): "mixed" addition, 8 multiplications
    # instead of 12; every point this module adds is affine.
    x1, y1, z1 = p1
    if not z1:
        return (q[0], q[1], 1)
    p = P
    z1z1 = z1 * z1 % p
    h = (q[0] * z1z1 - x1) % p
    r = (q[1] * z1 * z1z1 - y1) % p
    if not h:
        return _double(p1) if not r else (0, 1, 0)
    hh = h * h % p
    hhh = h * hh % p
    v = x1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return (x3, (r * (v - x3) - y1 * hhh) % p, h * z1 % p)


def _affine(pt):
    if not pt[2]:
        return None
    zi = _inv(pt[2], P)
    zi2 = zi * zi % P
    return (pt[0] * zi2 % P, pt[1] * zi2 * zi % P)


def _mul2_steps(k1, p1, k2, p2):
    # k1*p1 + k2*p2 in one pass (Shamir's trick); p1, p2 affine (x, y),
    # k2 may be 0 (then p2 is not used). Yields every 8 bits.
    both = _affine(_add((p1[0], p1[1], 1), p2)) if k2 else None
    acc = (0, 1, 0)
    for i in range(255, -1, -1):  # scalars are below N < 2^256; no int.bit_length here
        acc = _double(acc)
        a, b = (k1 >> i) & 1, (k2 >> i) & 1
        if a and b:
            if both:  # None: p2 = -p1, their sum is the point at infinity
                acc = _add(acc, both)
        elif a:
            acc = _add(acc, p1)
        elif b:
            acc = _add(acc, p2)
        if not i & 7:
            yield
    return _affine(acc)


def on_curve(x, y):
    return 0 <= x < P and 0 <= y < P and (y * y - x * x * x + 3 * x - B) % P == 0


def public_key(d):
    return run(_mul2_steps(d, (GX, GY), 0, None))


def _random_scalar(extra=b""):
    import hashlib

    while True:
        # os.urandom mixed with the caller's secret and message: a weak RNG
        # alone then cannot repeat a nonce for two different messages.
        k = int.from_bytes(hashlib.sha256(os.urandom(32) + extra).digest(), "big")
        if 0 < k < N:
            return k


def generate():
    # A new key pair -> (d, (x, y)).
    d = _random_scalar()
    return d, public_key(d)


def point_bytes(q):
    return b"\x04" + q[0].to_bytes(32, "big") + q[1].to_bytes(32, "big")


def parse_point(raw):
    # 04|X|Y (uncompressed) -> (x, y); ValueError for anything else.
    if len(raw) != 65 or raw[0] != 4:
        raise ValueError("P-256: not an uncompressed point")
    x, y = int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")
    if not on_curve(x, y):
        raise ValueError("P-256: point not on the curve")
    return x, y


def sign(d, digest):
    # ECDSA over a SHA-256 digest (32 bytes) -> (r, s).
    e = int.from_bytes(digest, "big")
    while True:
        k = _random_scalar(d.to_bytes(32, "big") + digest)
        r = public_key(k)[0] % N
        if not r:
            continue
        s = _inv(k, N) * (e + r * d) % N
        if s:
            return r, s


def verify_steps(q, digest, r, s):
    # ECDSA verification as steps (run() or arun()): True or False.
    if not (0 < r < N and 0 < s < N):
        return False
    e = int.from_bytes(digest, "big")
    w = _inv(s, N)
    pt = yield from _mul2_steps(e * w % N, (GX, GY), r * w % N, q)
    return pt is not None and pt[0] % N == r


def verify(q, digest, r, s):
    return run(verify_steps(q, digest, r, s))


def sig_der(r, s):
    from uocpp.pki import der

    return der.enc(der.SEQ, der.enc_uint(r) + der.enc_uint(s))


def sig_from_der(raw):
    # Ecdsa-Sig-Value SEQUENCE { r INTEGER, s INTEGER } -> (r, s).
    from uocpp.pki import der

    s, e = der.expect(raw, 0, der.SEQ)
    if e != len(raw):
        raise ValueError("ECDSA: trailing bytes")
    rs, re_ = der.expect(raw, s, der.INTEGER, e)
    ss, se = der.expect(raw, re_, der.INTEGER, e)
    return der.uint(raw, rs, re_), der.uint(raw, ss, se)


# -- key generation and signing in a task (services/csr_exchange.py) -------
def mul_async(k):
    return arun(_mul2_steps(k, (GX, GY), 0, None))


async def generate_async():
    d = _random_scalar()
    return d, await mul_async(d)


async def sign_async(d, digest):
    e = int.from_bytes(digest, "big")
    while True:
        k = _random_scalar(d.to_bytes(32, "big") + digest)
        r = (await mul_async(k))[0] % N
        s = _inv(k, N) * (e + r * d) % N if r else 0
        if s:
            return r, s
