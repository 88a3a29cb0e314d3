"""Everything the tests and the benchmarks share: the firmware and twin
launchers, the EVSE simulator driver, the real peers (central system
wrappers, raw server, HTTP/MQTT/Modbus servers, PKI), the billing ledger and
the randomized scenario engine. bench/ and tools/ import from here, never
from tests/."""
