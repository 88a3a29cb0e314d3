# config/settings.py, evse.py, energy.py, loading.py (the JSON reader): every rule's message,
# the defaults and the JSON errors, as they were before the declarations
# became data (issue 24: the messages must not change; the cases were
# recorded from the code they replaced). A key's bounds appear in its
# message, so a typo in the table shows here.
from check import eq

from uocpp.config import settings

BASE = {"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"}, "centralSystem": {"chargePointId": "CP1", "url": "ws://h/ocpp"}}


def doc(over):
    out = {k: dict(v) for k, v in BASE.items()}
    for s, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(s), dict):
            out[s].update(v)
        else:
            out[s] = v
    return out


def canon(x):
    # A dict's text with sorted keys; 10 and 10.0, [] and () stay apart.
    if isinstance(x, dict):
        return "{" + ", ".join("%r: %s" % (k, canon(x[k])) for k in sorted(x)) + "}"
    if isinstance(x, (list, tuple)):
        return ("[%s]" if isinstance(x, list) else "(%s)") % ", ".join(canon(v) for v in x)
    return repr(x)


# (section, key, value, the one problem validate() names)
CASES = (
    ("firmware", "caFile", 5, "firmware.caFile: must be a string, not int"),
    ("firmware", "timeout", "1", "firmware.timeout: must be a number, not str"),
    ("firmware", "timeout", 601, "firmware.timeout: must be between 0.5 and 600"),
    ("firmware", "timeout", 0.499, "firmware.timeout: must be between 0.5 and 600"),
    ("firmware", "retries", 1.5, "firmware.retries: must be an integer, not float"),
    ("firmware", "retries", 21, "firmware.retries: must be between 0 and 20"),
    ("firmware", "retries", -1, "firmware.retries: must be between 0 and 20"),
    ("firmware", "retryInterval", "1", "firmware.retryInterval: must be a number, not str"),
    ("firmware", "retryInterval", 86401, "firmware.retryInterval: must be between 0 and 86400"),
    ("firmware", "retryInterval", -0.001, "firmware.retryInterval: must be between 0 and 86400"),
    ("firmware", "confirmTimeout", "1", "firmware.confirmTimeout: must be a number, not str"),
    ("firmware", "confirmTimeout", 86401, "firmware.confirmTimeout: must be between 1 and 86400"),
    ("firmware", "confirmTimeout", 0.999, "firmware.confirmTimeout: must be between 1 and 86400"),
    ("watchdog", "timeout", "1", "watchdog.timeout: must be a number, not str"),
    ("centralSystem", "url", 5, "centralSystem.url: must be a string, not int"),
    ("centralSystem", "chargePointId", 5, "centralSystem.chargePointId: must be a string, not int"),
    ("centralSystem", "authorizationKey", 5, "centralSystem.authorizationKey: must be a string, not int"),
    ("centralSystem", "securityProfile", 1.5, "centralSystem.securityProfile: must be an integer, not float"),
    ("centralSystem", "securityProfile", 3, "centralSystem.securityProfile: must be between 0 and 2"),
    ("centralSystem", "securityProfile", -1, "centralSystem.securityProfile: must be between 0 and 2"),
    ("centralSystem", "secureUrl", 5, "centralSystem.secureUrl: must be a string, not int"),
    ("centralSystem", "caFile", 5, "centralSystem.caFile: must be a string, not int"),
    ("centralSystem", "connectTimeout", "1", "centralSystem.connectTimeout: must be a number, not str"),
    ("centralSystem", "connectTimeout", 301, "centralSystem.connectTimeout: must be between 0.1 and 300"),
    ("centralSystem", "connectTimeout", 0.099, "centralSystem.connectTimeout: must be between 0.1 and 300"),
    ("centralSystem", "maxFrameSize", 1.5, "centralSystem.maxFrameSize: must be an integer, not float"),
    ("centralSystem", "maxFrameSize", 65537, "centralSystem.maxFrameSize: must be between 512 and 65536"),
    ("centralSystem", "maxFrameSize", 511, "centralSystem.maxFrameSize: must be between 512 and 65536"),
    ("centralSystem", "additionalRootCertificateCheck", 0, "centralSystem.additionalRootCertificateCheck: must be a boolean, not int"),
    ("centralSystem", "securityEvents", 0, "centralSystem.securityEvents: must be a boolean, not int"),
    ("mqtt", "enabled", 0, "mqtt.enabled: must be a boolean, not int"),
    ("mqtt", "host", 5, "mqtt.host: must be a string, not int"),
    ("mqtt", "port", 1.5, "mqtt.port: must be an integer, not float"),
    ("mqtt", "port", 65536, "mqtt.port: must be between 1 and 65535"),
    ("mqtt", "port", 0, "mqtt.port: must be between 1 and 65535"),
    ("mqtt", "tls", 0, "mqtt.tls: must be a boolean, not int"),
    ("mqtt", "caFile", 5, "mqtt.caFile: must be a string, not int"),
    ("mqtt", "clientId", 5, "mqtt.clientId: must be a string, not int"),
    ("mqtt", "user", 5, "mqtt.user: must be a string, not int"),
    ("mqtt", "password", 5, "mqtt.password: must be a string, not int"),
    ("mqtt", "topicPrefix", 5, "mqtt.topicPrefix: must be a string, not int"),
    ("mqtt", "keepalive", 1.5, "mqtt.keepalive: must be an integer, not float"),
    ("mqtt", "keepalive", 65536, "mqtt.keepalive: must be between 1 and 65535"),
    ("mqtt", "keepalive", 0, "mqtt.keepalive: must be between 1 and 65535"),
    ("mqtt", "timeout", "1", "mqtt.timeout: must be a number, not str"),
    ("mqtt", "timeout", 61, "mqtt.timeout: must be between 0.1 and 60"),
    ("mqtt", "timeout", 0.099, "mqtt.timeout: must be between 0.1 and 60"),
    ("mqtt", "reconnectMinimum", "1", "mqtt.reconnectMinimum: must be a number, not str"),
    ("mqtt", "reconnectMinimum", 3601, "mqtt.reconnectMinimum: must be between 0.05 and 3600"),
    ("mqtt", "reconnectMinimum", 0.049, "mqtt.reconnectMinimum: must be between 0.05 and 3600"),
    ("mqtt", "reconnectRandomRange", "1", "mqtt.reconnectRandomRange: must be a number, not str"),
    ("mqtt", "reconnectRandomRange", 3601, "mqtt.reconnectRandomRange: must be between 0 and 3600"),
    ("mqtt", "reconnectRandomRange", -0.001, "mqtt.reconnectRandomRange: must be between 0 and 3600"),
    ("mqtt", "reconnectRepeatTimes", 1.5, "mqtt.reconnectRepeatTimes: must be an integer, not float"),
    ("mqtt", "reconnectRepeatTimes", 17, "mqtt.reconnectRepeatTimes: must be between 0 and 16"),
    ("mqtt", "reconnectRepeatTimes", -1, "mqtt.reconnectRepeatTimes: must be between 0 and 16"),
    ("mqtt", "discovery", 0, "mqtt.discovery: must be a boolean, not int"),
    ("mqtt", "discoveryPrefix", 5, "mqtt.discoveryPrefix: must be a string, not int"),
    ("energy", "enabled", 0, "energy.enabled: must be a boolean, not int"),
    ("energy", "localTimeout", "1", "energy.localTimeout: must be a number, not str"),
    ("energy", "localTimeout", 86401, "energy.localTimeout: must be between 0 and 86400"),
    ("energy", "localTimeout", -0.001, "energy.localTimeout: must be between 0 and 86400"),
    ("energy", "safeCurrent", "1", "energy.safeCurrent: must be a number, not str"),
    ("energy", "safeCurrent", 81, "energy.safeCurrent: must be between 0 and 80"),
    ("energy", "safeCurrent", -0.001, "energy.safeCurrent: must be between 0 and 80"),
    ("energy", "resumeHysteresis", "1", "energy.resumeHysteresis: must be a number, not str"),
    ("energy", "resumeHysteresis", 21, "energy.resumeHysteresis: must be between 0 and 20"),
    ("energy", "resumeHysteresis", -0.001, "energy.resumeHysteresis: must be between 0 and 20"),
    ("energy", "resumeDelay", "1", "energy.resumeDelay: must be a number, not str"),
    ("energy", "resumeDelay", 3601, "energy.resumeDelay: must be between 0 and 3600"),
    ("energy", "resumeDelay", -0.001, "energy.resumeDelay: must be between 0 and 3600"),
    ("energy", "grid", 0, "energy.grid: must be a boolean, not int"),
    ("energy", "mainsFuse", "1", "energy.mainsFuse: must be a number, not str"),
    ("energy", "mainsFuse", 1001, "energy.mainsFuse: must be between 0 and 1000"),
    ("energy", "mainsFuse", -0.001, "energy.mainsFuse: must be between 0 and 1000"),
    ("energy", "gridModel", 5, "energy.gridModel: must be a string, not int"),
    ("energy", "gridModel", "nope", "energy.gridModel: must be one of SDM630, SDM120"),
    ("energy", "gridBus", 5, "energy.gridBus: must be a string, not int"),
    ("energy", "gridBus", "nope", "energy.gridBus: must be one of own, meter"),
    ("energy", "gridDevice", 5, "energy.gridDevice: must be a string, not int"),
    ("energy", "gridUart", 1.5, "energy.gridUart: must be an integer, not float"),
    ("energy", "gridUart", 3, "energy.gridUart: must be between 0 and 2"),
    ("energy", "gridUart", -1, "energy.gridUart: must be between 0 and 2"),
    ("energy", "gridTx", 1.5, "energy.gridTx: must be an integer, not float"),
    ("energy", "gridTx", 49, "energy.gridTx: must be between 0 and 48"),
    ("energy", "gridTx", -1, "energy.gridTx: must be between 0 and 48"),
    ("energy", "gridRx", 1.5, "energy.gridRx: must be an integer, not float"),
    ("energy", "gridRx", 49, "energy.gridRx: must be between 0 and 48"),
    ("energy", "gridRx", -1, "energy.gridRx: must be between 0 and 48"),
    ("energy", "gridBaud", 1.5, "energy.gridBaud: must be an integer, not float"),
    ("energy", "gridBaud", 115201, "energy.gridBaud: must be between 1200 and 115200"),
    ("energy", "gridBaud", 1199, "energy.gridBaud: must be between 1200 and 115200"),
    ("energy", "gridAddress", 1.5, "energy.gridAddress: must be an integer, not float"),
    ("energy", "gridAddress", 248, "energy.gridAddress: must be between 1 and 247"),
    ("energy", "gridAddress", 0, "energy.gridAddress: must be between 1 and 247"),
    ("energy", "gridTimeout", "1", "energy.gridTimeout: must be a number, not str"),
    ("energy", "gridTimeout", 6, "energy.gridTimeout: must be between 0.05 and 5"),
    ("energy", "gridTimeout", 0.049, "energy.gridTimeout: must be between 0.05 and 5"),
    ("energy", "gridInterval", "1", "energy.gridInterval: must be a number, not str"),
    ("energy", "gridInterval", 2, "energy.gridInterval: must be between 0.1 and 1"),
    ("energy", "gridInterval", 0.099, "energy.gridInterval: must be between 0.1 and 1"),
    ("energy", "gridLostAfter", "1", "energy.gridLostAfter: must be a number, not str"),
    ("energy", "gridLostAfter", 61, "energy.gridLostAfter: must be between 0.2 and 60"),
    ("energy", "gridLostAfter", 0.199, "energy.gridLostAfter: must be between 0.2 and 60"),
    ("energy", "gridSafeCurrent", "1", "energy.gridSafeCurrent: must be a number, not str"),
    ("energy", "gridSafeCurrent", 81, "energy.gridSafeCurrent: must be between 0 and 80"),
    ("energy", "gridSafeCurrent", -0.001, "energy.gridSafeCurrent: must be between 0 and 80"),
    ("energy", "rampStep", "1", "energy.rampStep: must be a number, not str"),
    ("energy", "rampStep", 81, "energy.rampStep: must be between 0.1 and 80"),
    ("energy", "rampStep", 0.099, "energy.rampStep: must be between 0.1 and 80"),
    ("energy", "mode", 5, "energy.mode: must be a string, not int"),
    ("energy", "mode", "nope", "energy.mode: must be one of fast, solar, min+solar"),
    ("energy", "solarImport", "1", "energy.solarImport: must be a number, not str"),
    ("energy", "solarImport", 50001, "energy.solarImport: must be between 0 and 50000"),
    ("energy", "solarImport", -0.001, "energy.solarImport: must be between 0 and 50000"),
    ("energy", "solarStartDelay", "1", "energy.solarStartDelay: must be a number, not str"),
    ("energy", "solarStartDelay", 3601, "energy.solarStartDelay: must be between 0 and 3600"),
    ("energy", "solarStartDelay", -0.001, "energy.solarStartDelay: must be between 0 and 3600"),
    ("energy", "solarStopDelay", "1", "energy.solarStopDelay: must be a number, not str"),
    ("energy", "solarStopDelay", 3601, "energy.solarStopDelay: must be between 0 and 3600"),
    ("energy", "solarStopDelay", -0.001, "energy.solarStopDelay: must be between 0 and 3600"),
    ("energy", "phaseSwitch", 0, "energy.phaseSwitch: must be a boolean, not int"),
    ("energy", "phaseDelay", "1", "energy.phaseDelay: must be a number, not str"),
    ("energy", "phaseDelay", 301, "energy.phaseDelay: must be between 0 and 300"),
    ("energy", "phaseDelay", -0.001, "energy.phaseDelay: must be between 0 and 300"),
    ("energy", "phaseStopTimeout", "1", "energy.phaseStopTimeout: must be a number, not str"),
    ("energy", "phaseStopTimeout", 301, "energy.phaseStopTimeout: must be between 0.1 and 300"),
    ("energy", "phaseStopTimeout", 0.099, "energy.phaseStopTimeout: must be between 0.1 and 300"),
    ("ntp", "server", 5, "ntp.server: must be a string, not int"),
    ("ntp", "timeout", "1", "ntp.timeout: must be a number, not str"),
    ("ntp", "timeout", 121, "ntp.timeout: must be between 1 and 120"),
    ("ntp", "timeout", 0.999, "ntp.timeout: must be between 1 and 120"),
    ("ocpp", "heartbeatInterval", "1", "ocpp.heartbeatInterval: must be a number, not str"),
    ("ocpp", "heartbeatInterval", 86401, "ocpp.heartbeatInterval: must be between 1 and 86400"),
    ("ocpp", "heartbeatInterval", 0.999, "ocpp.heartbeatInterval: must be between 1 and 86400"),
    ("ocpp", "messageTimeout", "1", "ocpp.messageTimeout: must be a number, not str"),
    ("ocpp", "messageTimeout", 601, "ocpp.messageTimeout: must be between 0.1 and 600"),
    ("ocpp", "messageTimeout", 0.099, "ocpp.messageTimeout: must be between 0.1 and 600"),
    ("ocpp", "bootRetryInterval", "1", "ocpp.bootRetryInterval: must be a number, not str"),
    ("ocpp", "bootRetryInterval", 86401, "ocpp.bootRetryInterval: must be between 1 and 86400"),
    ("ocpp", "bootRetryInterval", 0.999, "ocpp.bootRetryInterval: must be between 1 and 86400"),
    ("ocpp", "webSocketPingInterval", "1", "ocpp.webSocketPingInterval: must be a number, not str"),
    ("ocpp", "webSocketPingInterval", 86401, "ocpp.webSocketPingInterval: must be between 0 and 86400"),
    ("ocpp", "webSocketPingInterval", -0.001, "ocpp.webSocketPingInterval: must be between 0 and 86400"),
    ("ocpp", "meterValueSampleInterval", 1.5, "ocpp.meterValueSampleInterval: must be an integer, not float"),
    ("ocpp", "meterValueSampleInterval", 86401, "ocpp.meterValueSampleInterval: must be between 0 and 86400"),
    ("ocpp", "meterValueSampleInterval", -1, "ocpp.meterValueSampleInterval: must be between 0 and 86400"),
    ("ocpp", "featureProfiles", {}, "ocpp.featureProfiles: must be an array, not dict"),
    ("meter", "model", 5, "meter.model: must be a string, not int"),
    ("meter", "model", "nope", "meter.model: must be one of , SDM120, SDM630"),
    ("meter", "uart", 1.5, "meter.uart: must be an integer, not float"),
    ("meter", "uart", 3, "meter.uart: must be between 0 and 2"),
    ("meter", "uart", -1, "meter.uart: must be between 0 and 2"),
    ("meter", "tx", 1.5, "meter.tx: must be an integer, not float"),
    ("meter", "tx", 49, "meter.tx: must be between 0 and 48"),
    ("meter", "tx", -1, "meter.tx: must be between 0 and 48"),
    ("meter", "rx", 1.5, "meter.rx: must be an integer, not float"),
    ("meter", "rx", 49, "meter.rx: must be between 0 and 48"),
    ("meter", "rx", -1, "meter.rx: must be between 0 and 48"),
    ("meter", "baud", 1.5, "meter.baud: must be an integer, not float"),
    ("meter", "baud", 115201, "meter.baud: must be between 1200 and 115200"),
    ("meter", "baud", 1199, "meter.baud: must be between 1200 and 115200"),
    ("meter", "device", 5, "meter.device: must be a string, not int"),
    ("meter", "address", 1.5, "meter.address: must be an integer, not float"),
    ("meter", "address", 248, "meter.address: must be between 1 and 247"),
    ("meter", "address", 0, "meter.address: must be between 1 and 247"),
    ("meter", "timeout", "1", "meter.timeout: must be a number, not str"),
    ("meter", "timeout", 6, "meter.timeout: must be between 0.05 and 5"),
    ("meter", "timeout", 0.049, "meter.timeout: must be between 0.05 and 5"),
    ("simulator", "port", 1.5, "simulator.port: must be an integer, not float"),
    ("simulator", "port", 65536, "simulator.port: must be between 0 and 65535"),
    ("simulator", "port", -1, "simulator.port: must be between 0 and 65535"),
    ("diagnostics", "caFile", 5, "diagnostics.caFile: must be a string, not int"),
    ("diagnostics", "timeout", "1", "diagnostics.timeout: must be a number, not str"),
    ("diagnostics", "timeout", 301, "diagnostics.timeout: must be between 0.1 and 300"),
    ("diagnostics", "timeout", 0.099, "diagnostics.timeout: must be between 0.1 and 300"),
    ("modem", "enabled", 0, "modem.enabled: must be a boolean, not int"),
    ("modem", "uart", 1.5, "modem.uart: must be an integer, not float"),
    ("modem", "uart", 3, "modem.uart: must be between 0 and 2"),
    ("modem", "uart", -1, "modem.uart: must be between 0 and 2"),
    ("modem", "tx", 1.5, "modem.tx: must be an integer, not float"),
    ("modem", "tx", 49, "modem.tx: must be between 0 and 48"),
    ("modem", "tx", -1, "modem.tx: must be between 0 and 48"),
    ("modem", "rx", 1.5, "modem.rx: must be an integer, not float"),
    ("modem", "rx", 49, "modem.rx: must be between 0 and 48"),
    ("modem", "rx", -1, "modem.rx: must be between 0 and 48"),
    ("modem", "baud", 1.5, "modem.baud: must be an integer, not float"),
    ("modem", "baud", 921601, "modem.baud: must be between 1200 and 921600"),
    ("modem", "baud", 1199, "modem.baud: must be between 1200 and 921600"),
    ("modem", "device", 5, "modem.device: must be a string, not int"),
    ("modem", "timeout", "1", "modem.timeout: must be a number, not str"),
    ("modem", "timeout", 31, "modem.timeout: must be between 0.05 and 30"),
    ("modem", "timeout", 0.049, "modem.timeout: must be between 0.05 and 30"),
    ("modem", "retries", 1.5, "modem.retries: must be an integer, not float"),
    ("modem", "retries", 6, "modem.retries: must be between 0 and 5"),
    ("modem", "retries", -1, "modem.retries: must be between 0 and 5"),
    ("modem", "totalTimeout", "1", "modem.totalTimeout: must be a number, not str"),
    ("modem", "totalTimeout", 61, "modem.totalTimeout: must be between 0.1 and 60"),
    ("modem", "totalTimeout", 0.099, "modem.totalTimeout: must be between 0.1 and 60"),
    ("log", "level", 5, "log.level: must be a string, not int"),
    ("log", "level", "nope", "log.level: must be one of debug, info, warning, error"),
    ("log", "heapInterval", "1", "log.heapInterval: must be a number, not str"),
    ("log", "heapInterval", 86401, "log.heapInterval: must be between 0 and 86400"),
    ("log", "heapInterval", -0.001, "log.heapInterval: must be between 0 and 86400"),
    ("log", "flashLevel", 5, "log.flashLevel: must be a string, not int"),
    ("log", "flashLevel", "nope", "log.flashLevel: must be one of debug, info, warning, error, off"),
    ("log", "flashBytes", 1.5, "log.flashBytes: must be an integer, not float"),
    ("log", "flashBytes", 262145, "log.flashBytes: must be between 1024 and 262144"),
    ("log", "flashBytes", 1023, "log.flashBytes: must be between 1024 and 262144"),
    ("log", "flashFiles", 1.5, "log.flashFiles: must be an integer, not float"),
    ("log", "flashFiles", 9, "log.flashFiles: must be between 2 and 8"),
    ("log", "flashFiles", 1, "log.flashFiles: must be between 2 and 8"),
    ("storage", "dir", 5, "storage.dir: must be a string, not int"),
    ("storage", "journalBytes", 1.5, "storage.journalBytes: must be an integer, not float"),
    ("storage", "journalBytes", 1048577, "storage.journalBytes: must be between 4096 and 1048576"),
    ("storage", "journalBytes", 4095, "storage.journalBytes: must be between 4096 and 1048576"),
    ("storage", "maxTransactions", 1.5, "storage.maxTransactions: must be an integer, not float"),
    ("storage", "maxTransactions", 1001, "storage.maxTransactions: must be between 1 and 1000"),
    ("storage", "maxTransactions", 0, "storage.maxTransactions: must be between 1 and 1000"),
    ("connectors", "count", 1.5, "connectors.count: must be an integer, not float"),
    ("connectors", "count", 9, "connectors.count: must be between 1 and 8"),
    ("connectors", "count", 0, "connectors.count: must be between 1 and 8"),
    ("connectors", "maxCurrent", "1", "connectors.maxCurrent: must be a number, not str"),
    ("connectors", "maxCurrent", 81, "connectors.maxCurrent: must be between 6 and 80"),
    ("connectors", "maxCurrent", 5.999, "connectors.maxCurrent: must be between 6 and 80"),
    ("connectors", "voltage", "1", "connectors.voltage: must be a number, not str"),
    ("connectors", "voltage", 481, "connectors.voltage: must be between 100 and 480"),
    ("connectors", "voltage", 99.999, "connectors.voltage: must be between 100 and 480"),
    ("connectors", "phases", 1.5, "connectors.phases: must be an integer, not float"),
    ("connectors", "phases", 4, "connectors.phases: must be between 1 and 3"),
    ("connectors", "phases", 0, "connectors.phases: must be between 1 and 3"),
    ("wifi", "ssid", 5, "wifi.ssid: must be a string, not int"),
    ("wifi", "password", 5, "wifi.password: must be a string, not int"),
    ("wifi", "timeout", "1", "wifi.timeout: must be a number, not str"),
    ("wifi", "timeout", 301, "wifi.timeout: must be between 1 and 300"),
    ("wifi", "timeout", 0.999, "wifi.timeout: must be between 1 and 300"),
    ("wifi", "stableTime", "1", "wifi.stableTime: must be a number, not str"),
    ("wifi", "stableTime", 61, "wifi.stableTime: must be between 0 and 60"),
    ("wifi", "stableTime", -0.001, "wifi.stableTime: must be between 0 and 60"),
    ("evse", "pilotOut", {}, "evse.pilotOut: must be an array, not dict"),
    ("evse", "pilotIn", {}, "evse.pilotIn: must be an array, not dict"),
    ("evse", "pilotInvert", 0, "evse.pilotInvert: must be a boolean, not int"),
    ("evse", "adcPlus12", 1.5, "evse.adcPlus12: must be an integer, not float"),
    ("evse", "adcPlus12", 65536, "evse.adcPlus12: must be between 0 and 65535"),
    ("evse", "adcPlus12", -1, "evse.adcPlus12: must be between 0 and 65535"),
    ("evse", "adcMinus12", 1.5, "evse.adcMinus12: must be an integer, not float"),
    ("evse", "adcMinus12", 65536, "evse.adcMinus12: must be between 0 and 65535"),
    ("evse", "adcMinus12", -1, "evse.adcMinus12: must be between 0 and 65535"),
    ("evse", "pilotInterval", "1", "evse.pilotInterval: must be a number, not str"),
    ("evse", "pilotInterval", 2, "evse.pilotInterval: must be between 0.005 and 1"),
    ("evse", "pilotInterval", 0.004, "evse.pilotInterval: must be between 0.005 and 1"),
    ("evse", "debounce", 1.5, "evse.debounce: must be an integer, not float"),
    ("evse", "debounce", 21, "evse.debounce: must be between 1 and 20"),
    ("evse", "debounce", 0, "evse.debounce: must be between 1 and 20"),
    ("evse", "hysteresis", "1", "evse.hysteresis: must be a number, not str"),
    ("evse", "hysteresis", 2, "evse.hysteresis: must be between 0 and 1"),
    ("evse", "hysteresis", -0.001, "evse.hysteresis: must be between 0 and 1"),
    ("evse", "relay", {}, "evse.relay: must be an array, not dict"),
    ("evse", "relayActive", 1.5, "evse.relayActive: must be an integer, not float"),
    ("evse", "relayActive", 2, "evse.relayActive: must be between 0 and 1"),
    ("evse", "relayActive", -1, "evse.relayActive: must be between 0 and 1"),
    ("evse", "lockMode", 5, "evse.lockMode: must be a string, not int"),
    ("evse", "lockMode", "nope", "evse.lockMode: must be one of level, pulse"),
    ("evse", "lockPin", {}, "evse.lockPin: must be an array, not dict"),
    ("evse", "phasePin", {}, "evse.phasePin: must be an array, not dict"),
    ("evse", "unlockPin", {}, "evse.unlockPin: must be an array, not dict"),
    ("evse", "lockActive", 1.5, "evse.lockActive: must be an integer, not float"),
    ("evse", "lockActive", 2, "evse.lockActive: must be between 0 and 1"),
    ("evse", "lockActive", -1, "evse.lockActive: must be between 0 and 1"),
    ("evse", "lockPulse", "1", "evse.lockPulse: must be a number, not str"),
    ("evse", "lockPulse", 6, "evse.lockPulse: must be between 0.01 and 5"),
    ("evse", "lockPulse", 0.009000000000000001, "evse.lockPulse: must be between 0.01 and 5"),
    ("evse", "lockFeedback", {}, "evse.lockFeedback: must be an array, not dict"),
    ("evse", "lockFeedbackActive", 1.5, "evse.lockFeedbackActive: must be an integer, not float"),
    ("evse", "lockFeedbackActive", 2, "evse.lockFeedbackActive: must be between 0 and 1"),
    ("evse", "lockFeedbackActive", -1, "evse.lockFeedbackActive: must be between 0 and 1"),
    ("evse", "lockTimeout", "1", "evse.lockTimeout: must be a number, not str"),
    ("evse", "lockTimeout", 11, "evse.lockTimeout: must be between 0.05 and 10"),
    ("evse", "lockTimeout", 0.049, "evse.lockTimeout: must be between 0.05 and 10"),
    ("evse", "faults", {}, "evse.faults: must be an array, not dict"),
    ("evse", "tamperPin", 1.5, "evse.tamperPin: must be an integer, not float"),
    ("evse", "tamperPin", 49, "evse.tamperPin: must be between -1 and 48"),
    ("evse", "tamperPin", -2, "evse.tamperPin: must be between -1 and 48"),
    ("evse", "tamperActive", 1.5, "evse.tamperActive: must be an integer, not float"),
    ("evse", "tamperActive", 2, "evse.tamperActive: must be between 0 and 1"),
    ("evse", "tamperActive", -1, "evse.tamperActive: must be between 0 and 1"),
    ("evse", "cardReader", [], "evse.cardReader: must be an object, not list"),
    ("web", "enabled", 0, "web.enabled: must be a boolean, not int"),
    ("web", "port", 1.5, "web.port: must be an integer, not float"),
    ("web", "port", 65536, "web.port: must be between 1 and 65535"),
    ("web", "port", 0, "web.port: must be between 1 and 65535"),
    ("web", "host", 5, "web.host: must be a string, not int"),
    ("web", "password", 5, "web.password: must be a string, not int"),
    ("web", "setupMode", 0, "web.setupMode: must be a boolean, not int"),
    ("web", "apPassword", 5, "web.apPassword: must be a string, not int"),
    ("web", "setupButton", 1.5, "web.setupButton: must be an integer, not float"),
    ("web", "setupButton", 49, "web.setupButton: must be between -1 and 48"),
    ("web", "setupButton", -2, "web.setupButton: must be between -1 and 48"),
    ("web", "setupWithoutWifi", 0, "web.setupWithoutWifi: must be a boolean, not int"),
    ("reconnect", "waitMinimum", "1", "reconnect.waitMinimum: must be a number, not str"),
    ("reconnect", "waitMinimum", 3601, "reconnect.waitMinimum: must be between 0.05 and 3600"),
    ("reconnect", "waitMinimum", 0.049, "reconnect.waitMinimum: must be between 0.05 and 3600"),
    ("reconnect", "randomRange", "1", "reconnect.randomRange: must be a number, not str"),
    ("reconnect", "randomRange", 3601, "reconnect.randomRange: must be between 0 and 3600"),
    ("reconnect", "randomRange", -0.001, "reconnect.randomRange: must be between 0 and 3600"),
    ("reconnect", "repeatTimes", 1.5, "reconnect.repeatTimes: must be an integer, not float"),
    ("reconnect", "repeatTimes", 17, "reconnect.repeatTimes: must be between 0 and 16"),
    ("reconnect", "repeatTimes", -1, "reconnect.repeatTimes: must be between 0 and 16"),
    ("centralSystem", "url", "http://h/x", "centralSystem.url: must start with ws:// or wss://"),
    ("centralSystem", "url", "ws://", "centralSystem.url: has no host"),
    ("centralSystem", "url", "wss:///x", "centralSystem.url: has no host"),
    ("centralSystem", "chargePointId", "", "centralSystem.chargePointId: must be 1 to 48 characters"),
    ("centralSystem", "chargePointId", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "centralSystem.chargePointId: must be 1 to 48 characters"),
    ("centralSystem", "chargePointId", "a:b", "centralSystem.chargePointId: must be printable ASCII without ':'"),
    ("centralSystem", "chargePointId", "\u00e9", "centralSystem.chargePointId: must be printable ASCII without ':'"),
    ("centralSystem", "authorizationKey", "short", "centralSystem.authorizationKey: must be 16 to 20 printable ASCII characters or 32 to 40 hex digits"),
    (
        "centralSystem",
        "authorizationKey",
        "000000000000000000000000000000000",
        "centralSystem.authorizationKey: must be 16 to 20 printable ASCII characters or 32 to 40 hex digits",
    ),
    ("centralSystem", "secureUrl", "ws://h", "centralSystem.secureUrl: must start with wss://"),
    # What the link's parse_url (link/handshake.py) cannot connect to: every attempt would fail
    # ("URL has no host", "invalid syntax for integer") on a charger the check let boot, and
    # the setup form would have saved it and left setup mode.
    ("centralSystem", "url", "ws://:9000/ocpp", "centralSystem.url: has no host"),
    ("centralSystem", "url", "ws://h:/ocpp", "centralSystem.url: has a port that is not 1 to 65535"),
    ("centralSystem", "url", "ws://h:90x0/ocpp", "centralSystem.url: has a port that is not 1 to 65535"),
    ("centralSystem", "url", "ws://h:65536/ocpp", "centralSystem.url: has a port that is not 1 to 65535"),
    ("centralSystem", "secureUrl", "wss://h:0/ocpp", "centralSystem.secureUrl: has a port that is not 1 to 65535"),
    ("centralSystem", "secureUrl", "wss://", "centralSystem.secureUrl: has no host"),
    ("watchdog", "timeout", 0.5, "watchdog.timeout: must be 0 (off) or between 1 and 3600"),
    ("watchdog", "timeout", 3601, "watchdog.timeout: must be 0 (off) or between 1 and 3600"),
    ("ocpp", "featureProfiles", ["Reservation"], "ocpp.featureProfiles: must include Core (always on)"),
    ("ocpp", "featureProfiles", ["Core", "Core"], "ocpp.featureProfiles: must list each profile once"),
    (
        "ocpp",
        "featureProfiles",
        ["Core", "Bogus"],
        "ocpp.featureProfiles: must list only Core, FirmwareManagement, LocalAuthListManagement, Reservation, RemoteTrigger, SmartCharging",
    ),
    ("mqtt", "topicPrefix", "a+b", "mqtt.topicPrefix: must be at most 64 characters without +, # or a leading or trailing /"),
    ("mqtt", "topicPrefix", "a#", "mqtt.topicPrefix: must be at most 64 characters without +, # or a leading or trailing /"),
    ("mqtt", "topicPrefix", "/a", "mqtt.topicPrefix: must be at most 64 characters without +, # or a leading or trailing /"),
    ("mqtt", "discoveryPrefix", "a/", "mqtt.discoveryPrefix: must be at most 64 characters without +, # or a leading or trailing /"),
    (
        "mqtt",
        "topicPrefix",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "mqtt.topicPrefix: must be at most 64 characters without +, # or a leading or trailing /",
    ),
    ("web", "apPassword", "1234567", "web.apPassword: must be empty (generated) or 8 to 63 printable ASCII characters (WPA2)"),
    (
        "web",
        "apPassword",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "web.apPassword: must be empty (generated) or 8 to 63 printable ASCII characters (WPA2)",
    ),
    # IEEE 802.11i: a WPA2 passphrase is 8 to 63 printable ASCII characters (as wifi.password); the ESP32's
    # driver keeps 63 bytes of a longer one: 32 x U+00E9 (64 bytes) would give an access point no one can join.
    ("web", "apPassword", "\u00e9" * 32, "web.apPassword: must be empty (generated) or 8 to 63 printable ASCII characters (WPA2)"),
    ("web", "apPassword", "pass\tword", "web.apPassword: must be empty (generated) or 8 to 63 printable ASCII characters (WPA2)"),
    ("evse", "pilotOut", [49], "evse.pilotOut: must list GPIO numbers (0 to 48, or -1 for none)"),
    ("evse", "pilotOut", [True], "evse.pilotOut: must list GPIO numbers (0 to 48, or -1 for none)"),
    ("evse", "faults", [1], "evse.faults: each entry must be an object with pin and code"),
    ("evse", "faults", [{"pin": 1, "code": "NoError"}], "evse.faults: code must be a ChargePointErrorCode other than NoError"),
    ("evse", "faults", [{"pin": 1, "code": "WeakSignal", "x": 1}], "evse.faults: unknown key x in an entry (known: pin, code, active, connector)"),
    ("evse", "faults", [{"code": "WeakSignal"}], "evse.faults: pin must be a GPIO number (0 to 48)"),
    ("evse", "faults", [{"pin": 1, "code": "OverVoltage", "active": 2}], "evse.faults: active must be 0 or 1 (the level that means the fault)"),
    ("evse", "faults", [{"pin": 1, "code": "OverVoltage", "connector": 9}], "evse.faults: connector must be 0 (all) to 8"),
    (
        "evse",
        "cardReader",
        {"type": "mfrc522", "ss": 5},
        "evse.cardReader: unknown key ss (known: type, spi, sck, mosi, miso, cs, rst, baudrate, connector, debounce)",
    ),
    ("evse", "cardReader", {}, "evse.cardReader: type is required"),
    ("evse", "cardReader", {"type": "pn532"}, "evse.cardReader: type must be one of mfrc522"),
    ("evse", "cardReader", {"type": "mfrc522", "cs": 18}, "evse.cardReader: GPIO 18 is used twice (sck, mosi, miso, cs, rst must differ)"),
)

# (overrides of BASE, every problem, sorted)
DOCS = (
    ({"mqtt": {"enabled": True}}, ["mqtt.host: required when mqtt.enabled is true"]),
    ({"mqtt": {"tls": True}}, ["mqtt.caFile: required when mqtt.tls is true (the broker's CA certificate in DER)"]),
    ({"mqtt": {"tls": True, "caFile": "/nonexistent.der"}}, ["mqtt.caFile: cannot be read ([Errno 2] ENOENT)"]),
    ({"mqtt": {"discovery": True, "discoveryPrefix": ""}}, ["mqtt.discoveryPrefix: must not be empty when mqtt.discovery is true"]),
    ({"web": {"enabled": True}}, ["web.password: required when web.enabled is true"]),
    # MQTT 3.1.1 1.5.3: a UTF-8 string must not include U+0000 (the broker
    # closes the connection: every session failed); 3.1.2.9: no password
    # without a user name (umqtt sent none: the broker never saw it).
    (
        {"mqtt": {"clientId": "cp\x00", "user": "u\x00", "topicPrefix": "o\x00", "discoveryPrefix": "h\x00"}},
        [
            "mqtt.clientId: must not contain U+0000 (MQTT 3.1.1 1.5.3)",
            "mqtt.discoveryPrefix: must not contain U+0000 (MQTT 3.1.1 1.5.3)",
            "mqtt.topicPrefix: must not contain U+0000 (MQTT 3.1.1 1.5.3)",
            "mqtt.user: must not contain U+0000 (MQTT 3.1.1 1.5.3)",
        ],
    ),
    ({"mqtt": {"password": "secret"}}, ["mqtt.password: requires mqtt.user (MQTT 3.1.1 3.1.2.9: no password without a user name)"]),
    (
        {"centralSystem": {"url": "wss://h/x", "securityProfile": 1}},
        ["centralSystem.authorizationKey: required by security profile 1", "centralSystem.url: wss:// is security profile 2, not 1"],
    ),
    (
        {"centralSystem": {"securityProfile": 2}},
        [
            "centralSystem.authorizationKey: required by security profile 2",
            "centralSystem.caFile: required by security profile 2 (CA certificate, DER)",
            "centralSystem.secureUrl: required by security profile 2 (the wss:// url)",
        ],
    ),
    ({"centralSystem": {"caFile": "/nonexistent.der"}}, ["centralSystem.caFile: cannot be read ([Errno 2] ENOENT)"]),
    (
        {"centralSystem": {"url": "wss://h/x"}},
        ["centralSystem.authorizationKey: required by security profile 2", "centralSystem.caFile: required by security profile 2 (CA certificate, DER)"],
    ),
    ({"energy": {"enabled": True, "localTimeout": 60}}, ["energy.localTimeout: the local limit comes over MQTT: needs mqtt.enabled"]),
    ({"energy": {"enabled": True, "mainsFuse": 25}}, ["energy.mainsFuse: load management needs the grid meter (energy.grid)"]),
    ({"energy": {"enabled": True, "mode": "solar"}}, ["energy.mode: solar needs the grid meter (energy.grid)"]),
    ({"energy": {"enabled": True, "grid": True, "gridBus": "meter"}}, ['energy.gridBus: "meter" needs the energy meters\' bus (meter.model)']),
    ({"energy": {"enabled": True, "fuse": 25}}, ["energy.fuse: unknown key"]),
    # A lost grid meter gives each connector gridSafeCurrent (energy/grid.py): more than the fuse in all would
    # overload it for as long as the meter is lost.
    (
        {"energy": {"enabled": True, "grid": True, "mainsFuse": 10, "gridSafeCurrent": 6}, "connectors": {"count": 2}},
        ["energy.gridSafeCurrent: 6 A on each of 2 connectors is more than energy.mainsFuse (10 A)"],
    ),
    ({"energy": {"enabled": True, "grid": True, "mainsFuse": 16, "gridSafeCurrent": 20}}, ["energy.gridSafeCurrent: 20 A on each of 1 connectors is more than energy.mainsFuse (16 A)"]),
    ({"energy": {"enabled": True, "grid": True, "gridBaud": 1200}}, ["energy.gridTimeout: 0.3 s is shorter than an SDM630's reply takes at 1200 baud: at least 0.46 s"]),
    ({"energy": {"enabled": True, "grid": True, "gridBaud": 1200, "gridTimeout": 0.5}}, []),
    ({"energy": "x"}, ["energy: must be a JSON object"]),
    (
        {
            "energy": {"enabled": True, "grid": True, "gridBus": "meter", "gridAddress": 2},
            "meter": {"model": "SDM630", "address": 1},
            "connectors": {"count": 2},
        },
        ["energy.gridAddress: taken by a connector's meter on the same bus"],
    ),
    (
        {"evse": {"pilotOut": [1], "pilotIn": [2], "relay": [3]}, "connectors": {"count": 2}},
        [
            "evse.pilotIn: needs one GPIO per connector (connectors.count is 2)",
            "evse.pilotOut: needs one GPIO per connector (connectors.count is 2)",
            "evse.relay: needs one GPIO per connector (connectors.count is 2)",
        ],
    ),
    (
        {"evse": {"pilotOut": [1], "pilotIn": [2], "relay": [3], "lockPin": [4, 5]}},
        ["evse.lockPin: must be empty or have one entry per connector (1; -1 = none)"],
    ),
    (
        {"meter": {"model": "SDM120", "address": 247}, "connectors": {"count": 2}},
        ["meter.address: connector 2's meter would be at Modbus address 248 (address + n - 1 must be at most 247)"],
    ),
    # An SDM630's longest reply (49 bytes) takes 0.41 s at 1200 baud: the
    # default timeout of 0.3 s would read nothing, ever.
    ({"meter": {"model": "SDM630", "baud": 1200}}, ["meter.timeout: 0.3 s is shorter than an SDM630's reply takes at 1200 baud: at least 0.46 s"]),
    ({"meter": {"model": "SDM120", "baud": 1200}}, ["meter.timeout: 0.3 s is shorter than an SDM120's reply takes at 1200 baud: at least 0.33 s"]),
    ({"meter": {"model": "SDM630", "baud": 1200, "timeout": 0.5}}, []),
    ({"meter": {"model": "SDM630", "baud": 2400}}, []),
    (
        {"evse": {"pilotOut": [1], "pilotIn": [2], "relay": [3], "phasePin": [4, 5]}},
        ["evse.phasePin: must be empty or have one entry per connector (1; -1 = none)"],
    ),
    (
        {"evse": {"pilotOut": [1], "pilotIn": [2], "relay": [3], "lockPin": [4], "lockMode": "pulse"}},
        ["evse.unlockPin: lockMode pulse needs one for connector 1"],
    ),
    (
        {"evse": {"pilotOut": [1], "pilotIn": [2], "relay": [3], "adcPlus12": 1000, "adcMinus12": 500}},
        ["evse.adcPlus12, evse.adcMinus12: must differ by at least 1000 (calibrate them)"],
    ),
    (
        {"evse": {"pilotOut": [1], "pilotIn": [2], "relay": [3], "faults": [{"pin": 4, "code": "GroundFailure", "connector": 3}]}, "connectors": {"count": 2}},
        [
            "evse.faults: connector 3 does not exist (connectors.count is 2)",
            "evse.pilotIn: needs one GPIO per connector (connectors.count is 2)",
            "evse.pilotOut: needs one GPIO per connector (connectors.count is 2)",
            "evse.relay: needs one GPIO per connector (connectors.count is 2)",
        ],
    ),
    ({"evse": {"cardReader": {"type": "mfrc522", "connector": 2}}}, ["evse.cardReader: connector 2 does not exist (connectors.count is 1)"]),
    (
        {"evse": {"pilotOut": [1], "pilotIn": [2], "relay": [3], "lockPin": [3]}},
        ["evse: GPIO 3 drives an output and has another use too (each output needs a GPIO of its own)"],
    ),
    (
        {"evse": {"pilotOut": [1], "pilotIn": [2], "relay": [5], "faults": [{"pin": 1, "code": "GroundFailure"}], "cardReader": {"type": "mfrc522"}}},
        [
            "evse: GPIO 1 drives an output and has another use too (each output needs a GPIO of its own)",
            "evse: GPIO 5 drives an output and has another use too (each output needs a GPIO of its own)",
        ],
    ),
    (
        {"mystery": {}, "ocpp": {"bogus": 1}},
        [
            "mystery: unknown section (known: centralSystem, chargePoint, connectors, diagnostics, energy, evse, firmware, log, meter, modem, mqtt, ntp, ocpp, reconnect, simulator, storage, watchdog, web, wifi)",
            "ocpp.bogus: unknown key",
        ],
    ),
    ({"ocpp": "x"}, ["ocpp: must be a JSON object"]),
    ({"chargePoint": {"colour": "red", "imsi": 5}}, ["chargePoint.colour: unknown key", "chargePoint.imsi: must be a string, not int"]),
)

# (config.json's text, load()'s message with PATH for the file)
TEXTS = (
    (
        '{\n  "centralSystem": {\n    "url": "ws://x/ocpp"\n    "chargePointId": "CP1"\n  }\n}',
        "PATH: not valid JSON: line 4, column 5: expected ',' or '}' after the value of \"url\", found '\"'",
    ),
    (
        '{"chargePoint": ',
        "PATH: not valid JSON: line 1, column 17: expected a value (object, array, string in double quotes, number, true, false or null), found the end of the file",
    ),
    ('{\n "a": 1,\n}', "PATH: not valid JSON: line 3, column 1: expected a key in double quotes (no comma before '}'), found '}'"),
    ("{'log': {}}", 'PATH: not valid JSON: line 1, column 2: expected a key in double quotes, found "\'"'),
    ('{"log": {"level": "info"}} x', "PATH: not valid JSON: line 1, column 28: expected nothing after the closing bracket of the JSON value, found 'x'"),
    (
        '{"log": {"level": "in\tfo"}}',
        "PATH: not valid JSON: line 1, column 22: expected the closing '\"' of the string (a line break or tab inside it must be written \\n or \\t), found character U+0009",
    ),
    (
        "\ufeff{}",
        "PATH: not valid JSON: line 1, column 1: expected a value (object, array, string in double quotes, number, true, false or null), found a byte-order mark (save the file as UTF-8 without BOM)",
    ),
    ("  \n", "PATH: is empty (it must hold a JSON object; config.json in the repository is an example)"),
    ('{"a": [1, 2,]}', "PATH: not valid JSON: line 1, column 13: expected a value (no comma before ']'), found ']'"),
    ('{"a": [1 2]}', "PATH: not valid JSON: line 1, column 10: expected ',' or ']' in the array, found '2'"),
    ('{"a": 01}', "PATH: not valid JSON: line 1, column 8: a number must not start with 0 and another digit"),
    ('{"a": 1.}', "PATH: not valid JSON: line 1, column 9: expected a digit, found '}'"),
    ('{"a": "\\x"}', "PATH: not valid JSON: line 1, column 8: expected an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX), found '\\'"),
    ('{"a": "\\u12g4"}', "PATH: not valid JSON: line 1, column 8: expected 4 hex digits after \\u, found '\\'"),
    ('{"a": "abc', "PATH: not valid JSON: line 1, column 7: this string has no closing '\"'"),
    # A character beyond U+FFFF escaped as a surrogate pair (Python's json.dump writes "\U0001F4F6 Home" so):
    # MicroPython's json decodes each half alone (6 bytes of CESU-8, not the 4 of UTF-8), so a wifi.ssid
    # written so would name no network there is. Said where, as any other JSON it cannot read.
    (
        '{"wifi": {"ssid": "\\ud83d\\udcf6 Home"}}',
        "PATH: not valid JSON: line 1, column 20: a \\uD800 to \\uDFFF escape (half of a surrogate pair) cannot be read here: write the character itself (UTF-8)",
    ),
    ('{"éé": x}', "PATH: not valid JSON: line 1, column 8: expected a value (object, array, string in double quotes, number, true, false or null), found 'x'"),
    (
        "{\"a\": 'y'}",
        'PATH: not valid JSON: line 1, column 7: expected a value (object, array, string in double quotes, number, true, false or null), found "\'"',
    ),
    ('{"a": 1}}', "PATH: not valid JSON: line 1, column 9: expected nothing after the closing bracket of the JSON value, found '}'"),
    (
        '{"ocpp": {"heartbeatInterval": "60", "bogus": 1}, "centralSystem": {"chargePointId": "CP1", "url": "http://x"}, "chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"}}',
        "PATH has 3 problem(s):\n  ocpp.heartbeatInterval: must be a number, not str\n  ocpp.bogus: unknown key\n  centralSystem.url: must start with ws:// or wss://",
    ),
)

DEFAULTS = "{'centralSystem': {'additionalRootCertificateCheck': False, 'authorizationKey': '', 'caFile': '', 'chargePointId': 'CP1', 'connectTimeout': 10, 'maxFrameSize': 8192, 'secureUrl': '', 'securityEvents': False, 'securityProfile': 0, 'url': 'ws://h/ocpp'}, 'connectors': {'count': 1, 'maxCurrent': 32, 'phases': 3, 'voltage': 230}, 'diagnostics': {'caFile': '', 'timeout': 30}, 'evse': {'adcMinus12': 5000, 'adcPlus12': 57600, 'cardReader': None, 'debounce': 3, 'faults': (), 'hysteresis': 0.25, 'lockActive': 1, 'lockFeedback': (), 'lockFeedbackActive': 1, 'lockMode': 'level', 'lockPin': (), 'lockPulse': 0.3, 'lockTimeout': 1, 'phasePin': (), 'pilotIn': (), 'pilotInterval': 0.02, 'pilotInvert': False, 'pilotOut': (), 'relay': (), 'relayActive': 1, 'tamperActive': 0, 'tamperPin': -1, 'unlockPin': ()}, 'firmware': {'caFile': '', 'confirmTimeout': 300, 'retries': 3, 'retryInterval': 60, 'timeout': 30}, 'log': {'flashBytes': 32768, 'flashFiles': 2, 'flashLevel': 'info', 'heapInterval': 0, 'level': 'info'}, 'meter': {'address': 1, 'baud': 9600, 'device': '', 'model': '', 'rx': 5, 'timeout': 0.3, 'tx': 4, 'uart': 1}, 'modem': {'baud': 115200, 'device': '', 'enabled': False, 'retries': 2, 'rx': 16, 'timeout': 1, 'totalTimeout': 6, 'tx': 17, 'uart': 2}, 'mqtt': {'caFile': '', 'clientId': '', 'discovery': False, 'discoveryPrefix': 'homeassistant', 'enabled': False, 'host': '', 'keepalive': 60, 'password': '', 'port': 1883, 'reconnectMinimum': 2, 'reconnectRandomRange': 3, 'reconnectRepeatTimes': 5, 'timeout': 5, 'tls': False, 'topicPrefix': 'ocpp', 'user': ''}, 'ntp': {'server': 'pool.ntp.org', 'timeout': 10}, 'ocpp': {'bootRetryInterval': 60, 'featureProfiles': ['Core', 'FirmwareManagement', 'LocalAuthListManagement', 'Reservation', 'RemoteTrigger', 'SmartCharging'], 'heartbeatInterval': 300, 'messageTimeout': 30, 'meterValueSampleInterval': 0, 'webSocketPingInterval': 60}, 'reconnect': {'randomRange': 30, 'repeatTimes': 5, 'waitMinimum': 5}, 'simulator': {'port': 0}, 'storage': {'dir': '', 'journalBytes': 32768, 'maxTransactions': 50}, 'watchdog': {'timeout': 60}, 'web': {'apPassword': '', 'enabled': False, 'host': '0.0.0.0', 'password': '', 'port': 80, 'setupButton': -1, 'setupMode': False, 'setupWithoutWifi': True}, 'wifi': {'password': '', 'ssid': '', 'stableTime': 3, 'timeout': 20}}"


def test_each_rule_names_the_key_and_the_rule():
    for section, key, value, want in CASES:
        eq(settings.validate(doc({section: {key: value}}))[2], [want], "%s.%s = %r" % (section, key, value))


def test_rules_across_keys():
    for over, want in DOCS:
        eq(sorted(settings.validate(doc(over))[2]), want, repr(over))


def test_json_errors_say_where():
    path = "/tmp/uocpp-unit-config.json"
    for text, want in TEXTS:
        with open(path, "w") as f:
            f.write(text)
        try:
            settings.load(path)
            got = None
        except settings.ConfigError as e:
            got = str(e).replace(path, "PATH")
        eq(got, want, repr(text))


def test_defaults():
    out, ident, problems = settings.validate(doc({}))
    eq(problems, [], "the base document is fine")
    eq(canon(out), DEFAULTS, "every default, with its type")
    eq(ident, {"chargePointVendor": "V", "chargePointModel": "M"}, "identity")
    eq(settings.validate({})[0]["firmware"], {"caFile": "", "timeout": 30, "retries": 3, "retryInterval": 60, "confirmTimeout": 300}, "the defaults alone")


def test_secrets():
    s = settings.validate(doc({"centralSystem": {"authorizationKey": "0123456789abcdef"}, "wifi": {"password": "wifi-pass"}}))[0]
    eq(sorted(settings.secrets(s)), ["0123456789abcdef", "wifi-pass"], "secrets")


def test_wifi_ssid_and_password_keep_to_ieee_802_11():
    # IEEE 802.11: an SSID is 0 to 32 bytes (here UTF-8; "" = none yet,
    # setup mode); a WPA2 passphrase is 8 to 63 printable ASCII characters
    # or 64 hex digits (the PSK itself), an open network has none. Beyond
    # that the ESP32's driver cuts the SSID to 32 bytes or refuses the
    # password: a board that never joins, every attempt failing with a
    # log line about the radio, instead of a message naming the key.
    ssid = "wifi.ssid: must be at most 32 bytes (UTF-8)"
    password = "wifi.password: must be empty (an open network), 8 to 63 printable ASCII characters or 64 hex digits (WPA2)"
    for key, value, want in (
        ("ssid", "x" * 33, [ssid]),
        ("ssid", "\u00e9" * 17, [ssid]),  # 17 characters, 34 bytes
        ("ssid", "x" * 32, []),
        ("ssid", "\u00e9" * 16, []),
        ("ssid", "", []),
        ("password", "1234567", [password]),
        ("password", "x" * 64, [password]),  # 64 characters: hex digits only
        ("password", "0" * 65, [password]),
        ("password", "p\u00e4ssword", [password]),
        ("password", "pass\tword", [password]),
        ("password", "", []),
        ("password", "12345678", []),
        ("password", "~" * 63, []),
        ("password", "0123456789abcdefABCDEF" * 2 + "0" * 20, []),
    ):
        eq(settings.validate(doc({"wifi": {key: value}}))[2], want, "wifi.%s = %r" % (key, value))


def test_json_nested_too_deep_is_named_not_a_crash():
    # The strict reader recursed once per [ or {: config.json nested a few
    # thousand deep ended in RuntimeError (maximum recursion depth), a
    # traceback and a reboot loop instead of the ConfigError (halt, exit 78)
    # naming the problem.
    path = "/tmp/uocpp-unit-config.json"
    with open(path, "w") as f:
        f.write('{"a": ' + "[" * 3000 + "]" * 3000 + "}")
    try:
        settings.load(path)
        got = None
    except settings.ConfigError as e:
        got = str(e).replace(path, "PATH")
    eq(got is not None and got.startswith("PATH: not valid JSON: ") and "deep" in got, True, repr(got))


def test_an_esp32_board_without_pilot_pins_is_a_config_problem():
    # evse.pilotOut [] is "no EVSE pins": the unix simulator needs none, an
    # ESP32 board cannot run without them (platform/esp32_evse.py raises at
    # every start: "the application failed: resetting in 5 s", a reset loop
    # for ever). The check must name the key, so the board halts (exit 78 on
    # the twin), as it does for meter.model "". (The twin itself fills an
    # empty pilotOut with its layout: shown here with the ESP32 port's
    # esp32 module stood in.)
    import sys

    over = {"meter": {"model": "SDM120"}}
    eq(settings.validate(doc(over))[2], [], "the unix port: no pins is the simulator")
    sys.modules["esp32"] = sys
    try:
        got = settings.validate(doc(over))[2]
    finally:
        del sys.modules["esp32"]
    eq([p for p in got if p.startswith("evse.pilotOut: ")] != [], True, repr(got))
