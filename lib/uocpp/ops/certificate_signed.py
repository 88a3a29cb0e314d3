# CertificateSigned (whitepaper use case A02): the chain the central system's
# CA signed for our CSR, checked before it replaces the old one
# (services/csr_exchange.py); at security profile 3 the link reconnects
# with it once the reply is out.
from uocpp.validate import STR
from uocpp import unload

REQUEST = (("certificateChain", STR, True, 10000),)
USES = ("keys",)


def handle(payload, keys):
    return _signed(payload["certificateChain"])


async def _signed(text):
    # A coroutine (rpc.py): the chain's signature checks take seconds on a
    # board, while the other tasks go on.

    from uocpp import pki
    from uocpp.link.security import Security
    from uocpp.services import csr_exchange

    app = Security.app
    status = await pki.arun(csr_exchange.signed_steps(app.security, text))
    unload("uocpp.services.csr_exchange")
    if status != csr_exchange.ACCEPTED or app.security.profile != 3:
        return {"status": status}

    async def reconnect():
        app.link.drop("new charge point certificate")

    return {"status": status}, reconnect
