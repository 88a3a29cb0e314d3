"""config.json ocpp.featureProfiles: optional 1.6 feature profiles switched off.

SupportedFeatureProfiles then lists only those on, and the actions of a
profile that is off are answered with CALLERROR NotSupported (OCPP-J 4.2.3:
an action the charge point does not support) without their module being
imported; a bad value stops the boot with a message naming key and rule."""

import pytest
from ocpp.v16 import call

from harness.firmware import EXIT_CONFIG
from harness.wire import call_raw

# An action of each optional profile, with a payload its module would accept.
OFF_ACTIONS = {
    "Reservation": ("ReserveNow", {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "TAG", "reservationId": 7}),
    "SmartCharging": ("ClearChargingProfile", {}),
    "LocalAuthListManagement": ("GetLocalListVersion", {}),
    "FirmwareManagement": ("GetDiagnostics", {"location": "ftp://127.0.0.1/diag"}),
    "RemoteTrigger": ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
}


def registered(cs, firmware, profiles, **kw):
    fw = firmware(cs.port, {"ocpp": {"featureProfiles": profiles}, "log": {"level": "debug"}}, **kw)
    cs.wait_received("BootNotification")
    fw.wait_log("registration Accepted")
    return fw


def supported(cs):
    keys = cs.call("CP001", call.GetConfiguration(key=["SupportedFeatureProfiles"])).configuration_key
    return keys[0]["value"]


def test_core_only_answers_every_optional_action_not_supported(cs, firmware):
    registered(cs, firmware, ["Core"])
    assert supported(cs) == "Core"
    for profile, (action, payload) in OFF_ACTIONS.items():
        reply = call_raw(cs, action, payload)
        assert reply.kind == 4, (profile, reply.msg)
        assert reply.msg[2] == "NotSupported", (profile, reply.msg)
        assert profile in reply.msg[3]
    # Core's own operations still work.
    assert cs.call("CP001", call.ChangeConfiguration(key="HeartbeatInterval", value="120")).status == "Accepted"


def test_a_profile_off_imports_nothing_of_its_operations(cs, firmware):
    # The debug-level trace of the import hook is not available on the unix
    # port: the module's absence shows in what the firmware answers with a
    # payload its module would refuse (TypeConstraintViolation if it were
    # loaded and checked); NotSupported comes before any import or check.
    registered(cs, firmware, ["Core", "SmartCharging"])
    reply = call_raw(cs, "ReserveNow", {"connectorId": "one"})
    assert (reply.kind, reply.msg[2]) == (4, "NotSupported")
    reply = call_raw(cs, "ClearChargingProfile", {"id": "x"})
    assert (reply.kind, reply.msg[2]) == (4, "TypeConstraintViolation")


def test_listed_profiles_stay_on_in_canonical_order(cs, firmware):
    registered(cs, firmware, ["SmartCharging", "Core", "Reservation"])
    assert supported(cs) == "Core,Reservation,SmartCharging"
    reply = call_raw(cs, "CancelReservation", {"reservationId": 3})
    assert reply.kind == 3 and reply.msg[2] == {"status": "Rejected"}
    assert cs.call("CP001", call.ClearChargingProfile()).status == "Unknown"
    assert call_raw(cs, "TriggerMessage", {"requestedMessage": "Heartbeat"}).msg[2] == "NotSupported"


def test_default_is_every_profile(cs, firmware):
    fw = firmware(cs.port)
    cs.wait_received("BootNotification")
    fw.wait_log("registration Accepted")
    assert supported(cs) == "Core,FirmwareManagement,LocalAuthListManagement,Reservation,RemoteTrigger,SmartCharging"


@pytest.mark.parametrize(
    "value,expected",
    [
        (["Reservation"], "ocpp.featureProfiles: must include Core (always on)"),
        (
            ["Core", "Telepathy"],
            "ocpp.featureProfiles: must list only Core, FirmwareManagement, LocalAuthListManagement, Reservation, RemoteTrigger, SmartCharging",
        ),
        (["Core", "Core"], "ocpp.featureProfiles: must list each profile once"),
        ("Core", "ocpp.featureProfiles: must be an array, not str"),
    ],
)
def test_a_bad_value_is_rejected_at_boot(firmware, value, expected):
    fw = firmware(1, {"ocpp": {"featureProfiles": value}})
    assert fw.wait_exit(10) == EXIT_CONFIG
    assert expected in fw.log
    assert "Traceback" not in fw.log


@pytest.mark.parametrize(
    "action,message",
    [
        ("TriggerMessage", "DiagnosticsStatusNotification"),
        ("TriggerMessage", "FirmwareStatusNotification"),
        ("ExtendedTriggerMessage", "FirmwareStatusNotification"),
        ("ExtendedTriggerMessage", "LogStatusNotification"),
    ],
)
def test_a_trigger_for_a_message_of_a_profile_off_is_not_implemented(cs, firmware, action, message):
    """C16 5.17: "If the requested message is unknown or not implemented the Charge Point SHALL return
    NotImplemented" (ExtendedTriggerMessage: the same rule, whitepaper). With FirmwareManagement off (its
    GetDiagnostics, UpdateFirmware and GetLog NotSupported), the charge point sends none of their notifications of
    its own: a trigger for one is NotImplemented and nothing is sent. (Before: Accepted, and an Idle notification of
    a profile it says it lacks.)"""
    registered(cs, firmware, ["Core", "RemoteTrigger"])
    assert call_raw(cs, action, {"requestedMessage": message}).msg[2] == {"status": "NotImplemented"}
    # A message triggered after it goes out, so nothing came before it.
    assert call_raw(cs, "TriggerMessage", {"requestedMessage": "Heartbeat"}).msg[2] == {"status": "Accepted"}
    cs.wait_received("Heartbeat")
    assert cs.received(message) == []
