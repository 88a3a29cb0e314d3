# Security profiles 0..3 (SEC-01..SEC-12), one at a time (SEC-02):
#   0  ws://   no authentication
#   1  ws://   HTTP Basic auth (charge point id : AuthorizationKey)
#   2  wss://  TLS with the server certificate checked, plus Basic auth
#   3  wss://  TLS with the server certificate checked and our own client
#              certificate (SignCertificate/CertificateSigned, issue 25), no Basic auth
# The SecurityProfile key holds the profile. Before every connection attempt
# the link asks target() for the URL, whether to send Basic auth and the TLS
# context. The central system may only raise the profile (SEC-12); a raised
# profile is tried on a new connection at once, and if it cannot connect the
# firmware falls back to the old profile and stores it: after TRIAL_ATTEMPTS
# failed attempts in a row (security_change.py), not after one, which may be
# a Wi-Fi drop or a central system restarting. The old profile and the
# failures so far are kept on flash while the new one is on trial, so a
# power cut during the trial neither forgets the fall-back nor restarts the
# count.
from micropython import const

from uocpp import platform, security_event, unload
from uocpp.lazy import held
from uocpp.store import json_file

_TRIAL = const("security.json")


class Security:
    def __init__(self, settings, keys, flash):
        # The app wires allows() as the SecurityProfile key's guard and
        # raised() as its watcher (then drops the link to reconnect).
        cs = settings["centralSystem"]
        self._settings = settings
        self._keys = keys
        self._ca_file = cs["caFile"]
        url = cs["url"]
        # Profile 2 connects to the wss:// url: `url` itself, or `secureUrl`
        # when `url` is the ws:// one for profiles 0 and 1.
        self._plain_url = "" if url.startswith("wss://") else url
        self._secure_url = url if url.startswith("wss://") else cs["secureUrl"]
        self._trial_path = json_file.join(flash, _TRIAL)
        self._flash = flash
        self.profile = keys.get("SecurityProfile")
        if self.profile < cs["securityProfile"]:
            # A stored value wins over config.json, but never lowers what the
            # installer configured since.
            self.profile = cs["securityProfile"]
            keys.change("SecurityProfile", str(self.profile), False)
        self._fallback = None  # the profile to fall back to while one is on trial
        self._failed = 0  # failed attempts of the profile on trial
        if held(self._trial_path):  # a trial the last run left ("{}": none)
            _change("resume", self)

    async def prepare(self):
        # A certificate can only be validated with the right date: set the
        # clock first wherever TLS may be used (now or after a raise): with
        # a caFile, or at profile 2 or 3 on installed roots alone.
        if self._ca_file or self.profile >= 2:
            await platform.sync_clock(self._settings)

    def allows(self, profile):
        # ChangeConfiguration.SecurityProfile (SEC-12): True to accept.
        return _change("allows", self, profile)

    def raised(self, profile):
        _change("raised", self, profile)

    def target(self):
        # -> (url, send Basic auth, ssl context or None) for the next attempt.
        # Raises with the reason when this profile cannot connect at all.
        profile = self.profile
        if profile >= 2:
            if not self._secure_url:
                raise ValueError("security profile %d needs a wss:// url (centralSystem.secureUrl)" % profile)
            from uocpp.link import tls

            # Profile 3: our client certificate instead of Basic auth (issue 25).
            return self._secure_url, profile == 2, tls.context(self._ca_file, self._flash, profile == 3)
        if not self._plain_url:
            raise ValueError("security profile %d needs a ws:// url" % profile)
        return self._plain_url, profile > 0, None

    def attempted(self, error):
        # After every connection attempt: error is None when the WebSocket
        # handshake succeeded.
        if error is not None and getattr(error, "status", None) == 401 and self.profile > 0:
            # The central system refused our Basic-auth credentials.
            security_event.report("FailedToAuthenticateAtCentralSystem", str(error))
        if self.profile >= 2:
            from uocpp.link import tls

            tls.attempted(error, self._flash)
        if self._fallback is not None:
            _change("settled", self, error)


def _change(fn, *args):
    # The profile change code (security_change.py) is in the heap only while
    # one of its functions runs: a change is rare, and a raised profile's
    # trial calls it once per connection attempt.
    from uocpp.link import security_change

    try:
        return getattr(security_change, fn)(*args)
    finally:
        unload("uocpp.link.security_change")
