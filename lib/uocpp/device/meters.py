# Energy meters on an RS-485 bus, one per connector (Eastron SDM, device/
# sdm.py): connector n's meter answers at Modbus address `address + n - 1`.
# The metering service reads them one at a time (a shared bus).
from uocpp.device.sdm import SdmMeter


class BusMeters:
    def __init__(self, port, cfg, count):
        # cfg: config.json's meter section.
        self._meters = [None] + [SdmMeter(port, cfg["address"] + n, cfg["model"], int(cfg["timeout"] * 1000)) for n in range(count)]

    def measurands(self):
        return self._meters[1].measurands()

    async def read(self, n):
        return await self._meters[n].read()

    def share(self, address, model, timeout_ms):
        # Another meter on this bus (the grid meter, energy/grid.py): its
        # requests take turns with the connectors' meters.
        first = self._meters[1]
        return SdmMeter(first.port, address, model, timeout_ms, 1, first._lock)
