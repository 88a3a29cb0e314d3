# Cards at the reader (C16 3.1, 3.4): what the session loop does with a card,
# loaded with the first card. A card that needs no answer from the network
# (the idTag that started the transaction, a connector that cannot start, a
# reservation for someone else) is decided at once, in the loop; otherwise
# authorize() runs beside the loop as its own task, with its deadline, and
# hands the decision back (Sessions._decided); the loop takes it in (decide)
# and checks the connector as it is then. The loop never awaits here.
#   stop   the same idTag (case-insensitive), or one whose parentIdTag from
#          Authorize matches the one StartTransaction.conf (or the start's
#          Authorize) gave
#   start  Accepted, and the connector still free, operative and not
#          reserved for someone else (Sessions.authorized)
#   unlock the idTag of a transaction stopped DeAuthorized: its cable (3.5.4)
import asyncio

from micropython import const

from uocpp import log
from uocpp.model.transactions import same_tag

_MAX = const(4)  # cards authorized at once; more are ignored (a flood costs no heap)


def take(s, n, id_tag):
    # In the loop: a card at connector n of the Sessions s.
    tx = s._tx
    local = tx.running_on(n)
    if local is not None:
        t = tx.get(local)
        if same_tag(id_tag, t["tag"]):
            s.stop(n, "Local", id_tag)
        elif t.get("p"):
            _ask(s, n, id_tag, local)  # the same parentIdTag may stop it
        else:
            log.info("session", "connector %d: card %s does not stop transaction %s", n, id_tag, s._tx.label(local))
        return
    owner = s._locked[n]
    if owner is not None and same_tag(id_tag, owner) and s.evse.locked(n):
        # Stopped DeAuthorized: its owner's card unlocks the cable (3.5.4).
        s._locked[n] = None
        s.evse.lock(n, False)
        log.info("session", "connector %d: card %s, the cable is unlocked", n, id_tag)
        return
    if not s._connectors.operative(n):
        log.info("session", "connector %d is not available: card %s ignored", n, id_tag)
        return
    held = s._rsv.on(n) if s._rsv else None
    if held and not same_tag(id_tag, held[1]["tag"]) and not held[1]["parent"]:
        log.info("session", "connector %d is reserved: card %s refused", n, id_tag)
        return
    _ask(s, n, id_tag, None)


def _ask(s, n, id_tag, local):
    if s._asking >= _MAX:
        log.info("session", "connector %d: card %s ignored, %d cards are being authorized", n, id_tag, s._asking)
        return
    # Counted once its task is made (no heap for it: the card is as if not
    # read); the task counts it down however it ends.
    asyncio.create_task(_authorize(s, n, id_tag, local))
    s._asking += 1


async def _authorize(s, n, id_tag, local):
    # Beside the loop: the answer (or the offline rules at the deadline) is
    # handed back; whatever happens, a decision comes back. s._asking counts
    # these tasks: it comes down here however the task ends (cancelled, or
    # no heap to hand the decision back: then the card is as if not read).
    try:
        try:
            info = await s._auth.authorize(id_tag)
            if not isinstance(info, dict):
                info = {"status": "Invalid"}
        except Exception as e:
            log.error("session", "card %s: authorization failed: %r", id_tag, e)
            info = {"status": "Invalid"}
        s._decided.append((n, id_tag, local, info))
        s._again()
    finally:
        s._asking -= 1


def decide(s, n, id_tag, local, info):
    # In the loop: a card's authorization came back, taken off s._decided
    # by the loop (Sessions.run) before this runs, so a transaction it
    # starts finds no card being decided, and authorization leaves the heap
    # before the StartTransaction goes to the journal (Sessions._rest, the
    # session's peak). The connector may have changed meanwhile, so every
    # condition is checked again.
    status, parent = info.get("status"), info.get("parentIdTag")
    log.info("session", "card %s at connector %d: %s", id_tag, n, status)
    if local is not None:
        t = s._tx.get(local)
        if t is not None and t["c"] == n and s._stopping[n] is None and same_tag(parent, t.get("p")):
            s.stop(n, "Local", id_tag)
        else:
            log.info("session", "connector %d: card %s does not stop transaction %s", n, id_tag, s._tx.label(local))
        return
    if status == "Accepted":
        s.authorized(n, id_tag, parent)
