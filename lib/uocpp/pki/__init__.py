# Certificates and keys of the 1.6 security whitepaper: a DER/X.509 reader
# (der.py), P-256 and RSA signatures (p256.py, rsa.py), chain checks
# (chain.py), the certificate store on flash (store.py) and the charger's
# own key and CSR (csr.py). Every module loads on use only.


def run(steps):
    # A computation written as a generator (it yields now and then to let
    # other tasks run), run to its end at once. Its return value.
    try:
        while True:
            next(steps)
    except StopIteration as e:
        return e.value


async def arun(steps):
    # The same in a task: the others run at each yield. A scalar
    # multiplication takes a second or more on a board, which must not stop
    # the safety loop and the link for that long.
    import asyncio

    try:
        while True:
            next(steps)
            await asyncio.sleep_ms(0)
    except StopIteration as e:
        return e.value


def unload():
    # Give the code back to the heap once the work is done (a TLS context
    # built, a certificate installed): these modules are used rarely.
    from uocpp import unload as drop

    for name in ("der", "p256", "rsa", "chain", "store", "csr", "identity"):
        drop("uocpp.pki." + name)
    drop("uocpp.services.certificates")
