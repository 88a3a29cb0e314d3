# OCPP 1.6J charge-point firmware for MicroPython.
# Layers, bottom to top: transport (WebSocket) -> rpc (OCPP-J frames) ->
# services (boot notification, heartbeat, link) -> ops (one module per
# central-system action). platform/ is the only code that touches hardware.
__version__ = "0.1.0"
