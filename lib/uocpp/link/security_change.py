# SecurityProfile changes (SEC-12) for link/security.py: loaded only on a
# ChangeConfiguration of it, while a raised profile is on trial, or at a
# boot that finds a trial on flash, so a charger whose profile never
# changes carries none of this in its heap.
# Each function takes the Security object (sec) it works for.
import os

from micropython import const

from uocpp import log, unload
from uocpp.model import keys as K
from uocpp.store import json_file

# Failed connection attempts in a row after which a raised profile is given
# up (SEC-12: "fall back if the connection fails"; 1.6 has no key for it,
# 2.0.1 has NetworkProfileConnectionAttempts). One failure is too few: a
# Wi-Fi drop or a central system restarting would lower the security for
# good. With the link's back-off three attempts span seconds to a minute.
TRIAL_ATTEMPTS = const(3)


def allows(sec, profile):
    # ChangeConfiguration.SecurityProfile (SEC-12): True to accept. The
    # profile to fall back to goes to flash here, before keys.json takes
    # the new one (raised() runs only once the reply is on the wire): a
    # power cut in between left the new profile with nothing to fall back
    # to, and a profile that cannot connect then kept the charger offline
    # for good. Not stored: refused. (A change refused after this, by a
    # keys.json that cannot be written, leaves a record naming the profile
    # in force: resume() ignores it.)
    why = _refusal(sec, profile)
    if not why:
        try:
            json_file.write_json_atomic(sec._trial_path, {"fallback": sec.profile})
        except OSError as e:
            why = "cannot store the fall-back profile: %s" % e
    if why:
        log.warning("security", "SecurityProfile %d refused: %s", profile, why)
        return False
    return True


def _refusal(sec, profile):
    if profile <= sec.profile:
        return "not above the current profile %d" % sec.profile
    from uocpp.model import keytable  # the key rules, dropped after

    key_ok = keytable.auth_key_ok(sec._keys.get("AuthorizationKey"))
    unload(keytable.__name__)
    if not key_ok:
        return "no valid AuthorizationKey"
    if profile == 3:
        # issue 25: TLS with the client certificate the central system
        # signed (CertificateSigned); none yet: nothing to connect with.
        from uocpp import pki
        from uocpp.pki import identity

        why = identity.refusal(sec)
        pki.unload()
        if why:
            return why
    if profile >= 2:
        if not sec._secure_url:
            return "no wss:// url (centralSystem.secureUrl)"
        if not sec._ca_file and not json_file.exists(sec._flash + "/certs/index.json"):
            return "no CA certificate (centralSystem.caFile or an installed CentralSystemRootCertificate)"
        from uocpp.link import tls

        try:
            tls.context(sec._ca_file, sec._flash)
        except (OSError, ValueError) as e:
            return "CA certificate unusable: %s" % e
    return None


def resume(sec):
    # At boot, when security.json holds a trial: the profile to fall back
    # to and the failures so far (a power cut during the trial forgets
    # neither).
    trial = json_file.read_json(sec._trial_path, {})
    old = trial.get("fallback") if isinstance(trial, dict) else None
    if isinstance(old, int) and 0 <= old < sec.profile:
        sec._fallback = old
        failed = trial.get("failed")
        sec._failed = failed if isinstance(failed, int) and failed > 0 else 0
        log.info("security", "SecurityProfile %d still on trial (falls back to %d)", sec.profile, old)


def raised(sec, profile):
    # Runs after the Accepted reply went out: keep the old profile on
    # flash; the next connection uses the new one.
    old, sec.profile, sec._fallback, sec._failed = sec.profile, profile, sec.profile, 0
    try:
        json_file.write_json_atomic(sec._trial_path, {"fallback": old})
    except OSError as e:
        log.error("security", "cannot store the fall-back profile: %s", e)
    log.info("security", "SecurityProfile %d -> %d: reconnecting", old, profile)


def settled(sec, error):
    old = sec._fallback
    if old is None:
        return
    if error is None:
        log.info("security", "SecurityProfile %d connected: kept", sec.profile)
    elif sec._failed + 1 < TRIAL_ATTEMPTS:
        sec._failed += 1
        log.warning("security", "SecurityProfile %d failed to connect (%d of %d attempts): kept for now", sec.profile, sec._failed, TRIAL_ATTEMPTS)
        try:
            json_file.write_json_atomic(sec._trial_path, {"fallback": old, "failed": sec._failed})
        except OSError as e:
            log.error("security", "cannot store the trial's failures: %s", e)
        return
    else:
        log.warning("security", "SecurityProfile %d failed to connect %d times: falling back to %d", sec.profile, TRIAL_ATTEMPTS, old)
        if sec._keys.change("SecurityProfile", str(old), False) != K.ACCEPTED:
            log.error("security", "could not store the fall-back to profile %d", old)
        sec.profile = old
    sec._fallback, sec._failed = None, 0
    try:
        json_file.write_json_atomic(sec._trial_path, {})
    except OSError as e:
        log.error("security", "cannot clear the trial record: %s", e)
        # Left, it would put the kept profile on trial again at the next
        # boot: removed (which needs no room), as no record.
        try:
            os.remove(sec._trial_path)
        except OSError:
            pass
