# OCPP configuration keys (C16 section 9, CFG-*, KEY-*): the values in
# force. Each key is declared once, with type, access, default, rule and
# whether a change needs a reboot, in model/keytable.py, which is loaded only
# to build the store and to check a change, and dropped after. Values changed
# by the central system persist on flash (json_file, atomic) and win over
# config.json seeds after a restart.
from micropython import const

from uocpp import unload

_TABLE = const("uocpp.model.keytable")

R = const(0)  # read-only
RW = const(1)
W = const(2)  # write-only: never reported (CFG-10)

# ChangeConfiguration's status when it took effect (CFG-06); its other
# answers are model/keytable.py's, which decides them.
ACCEPTED = "Accepted"

# The 1.6 feature profiles this charger implements, in the order
# SupportedFeatureProfiles lists them; config.json's ocpp.featureProfiles
# switches the optional ones off (Core is always on): ops/ then answers
# their actions NotSupported without importing anything.
PROFILES = ("Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation", "RemoteTrigger", "SmartCharging")

# The keys' names, in the order of model/keytable.py's declarations (line i
# there declares key i, its name in the line's comment), as one
# constant: each name follows a space, and a space ends the last. The store
# keeps the values in a list by index, and finds a name's index in this
# text (index()), so no name is an object of its own: frozen or in a ROMFS
# image the text stays in flash, one 16-byte header on a ROMFS build where
# a constant per name made one each, and a .mpy build copies one block
# instead of a string per name and a tuple. (name(i) and Keys.name() spell
# a key; a method's parameter `name` is a key's name.)
NAMES = (
    " AuthorizationKey"
    " AllowOfflineTxForUnknownId"
    " AuthorizationCacheEnabled"
    " AuthorizeRemoteTxRequests"
    " ChargeProfileMaxStackLevel"
    " ChargingScheduleAllowedChargingRateUnit"
    " ChargingScheduleMaxPeriods"
    " ClockAlignedDataInterval"
    " ConnectionTimeOut"
    " ConnectorPhaseRotation"
    " ConnectorPhaseRotationMaxLength"
    " ConnectorSwitch3to1PhaseSupported"
    " GetConfigurationMaxKeys"
    " HeartbeatInterval"
    " LocalAuthListEnabled"
    " LocalAuthListMaxLength"
    " LocalAuthorizeOffline"
    " LocalPreAuthorize"
    " MaxChargingProfilesInstalled"
    " MessageTimeout"
    " MeterValuesAlignedData"
    " MeterValuesAlignedDataMaxLength"
    " MeterValuesSampledData"
    " MeterValuesSampledDataMaxLength"
    " MeterValueSampleInterval"
    " NumberOfConnectors"
    " ReserveConnectorZeroSupported"
    " ResetRetries"
    " RetryBackOffRandomRange"
    " RetryBackOffRepeatTimes"
    " RetryBackOffWaitMinimum"
    " SecurityProfile"
    " SendLocalListMaxLength"
    " StopTransactionOnEVSideDisconnect"
    " StopTransactionOnInvalidId"
    " StopTxnAlignedData"
    " StopTxnAlignedDataMaxLength"
    " StopTxnSampledData"
    " StopTxnSampledDataMaxLength"
    " SupportedFeatureProfiles"
    " TransactionMessageAttempts"
    " TransactionMessageRetryInterval"
    " UnlockConnectorOnEVSideDisconnect"
    " WebSocketPingInterval"
    " AdditionalRootCertificateCheck"
    " CertificateSignedMaxChainSize"
    " CertificateStoreMaxLength"
    " CpoName"
    " "
)
_COUNT = const(48)


def index(name):
    # The index of the key spelled exactly `name`: the text is searched in
    # place, nothing is made. KeyError when no key is spelled so.
    n = len(name)
    at = NAMES.find(name)
    while at > 0:
        if NAMES.find(" ", at - 1) == at - 1 and NAMES.find(" ", at) == at + n:
            return NAMES.count(" ", 0, at) - 1
        at = NAMES.find(name, at + 1)
    raise KeyError(name)


def name(i):
    # Key i's name, a new string (GetConfiguration's reply, the log).
    at = 0
    for _ in range(i + 1):
        at = NAMES.find(" ", at) + 1
    return NAMES[at : NAMES.find(" ", at)]


# Each declaration: (index, type, access, default, rule, needs reboot),
# read through these indices (model/keytable.py makes them from its table,
# and reads the others).
INDEX = const(0)
ACCESS = const(2)


def as_text(value):
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value == int(value):
        value = int(value)
    return str(value)


class Keys:
    # What the charger does only at boot (reading the values in force) and
    # on a ChangeConfiguration is model/keytable.py's, loaded for it and
    # dropped after: here only the values in force and their lookup.
    def __init__(self, path, seeds=None):
        # seeds: {name: value} from config.json; persisted changes win.
        self._path = path
        self._values = [None] * _COUNT  # by the key's index
        self._watch = {}
        self._guards = {}
        self._volatile = []  # indices of values in force from use(), not stored
        from uocpp.model import keytable

        try:
            keytable.load(self, seeds)  # sets _values and _changed
        finally:
            unload(_TABLE)

    def get(self, name):
        return self._values[index(name)]

    def name(self, text):
        # The declared spelling of a key named case-insensitively (J-22), or
        # None when unknown (ChangeConfiguration's, which loads the table
        # next anyway).
        from uocpp.model import keytable

        try:
            d = keytable.find(text)
        finally:
            unload(_TABLE)
        return None if d is None else name(d[INDEX])

    def text(self, name):
        return as_text(self.get(name))

    def use(self, name, value):
        # A value in force until the next boot, not stored: what a
        # BootNotification.conf sets (its heartbeat interval, BN-05).
        i = index(name)
        self._values[i] = value
        if i not in self._volatile:
            self._volatile.append(i)
        self.apply(name)

    def watch(self, name, apply):
        # apply(value) runs when a change of `name` takes effect (apply()).
        self._watch[name] = apply

    def guard(self, name, allows):
        # allows(value) -> False refuses a change that the declared rule
        # permits but the state of other keys does not (SEC-12).
        self._guards[name] = allows

    def apply(self, name):
        # Separate from change() so that the operation can answer first and
        # act afterwards (a new AuthorizationKey reconnects the link).
        fn = self._watch.get(name)
        if fn:
            fn(self.get(name))

    def change(self, key, text, guarded=True):
        # ChangeConfiguration (CFG-06, CFG-07): the status (keytable.change).
        # The firmware's own changes (a security profile fall-back) pass
        # guarded=False.
        from uocpp.model import keytable

        try:
            return keytable.change(self, key, text, guarded)
        finally:
            unload(_TABLE)
