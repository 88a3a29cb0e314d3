# uOCPP: OCPP 1.6J charge-point firmware for MicroPython.
# Layers, bottom to top: link/ (WebSocket, security, back-off) -> rpc
# (OCPP-J frames) -> services/ (boot notification, heartbeat, status) ->
# ops/ (one module per central-system action); model/, store/ and config/
# beside them. platform/ is the only code that touches hardware.
# The one place the version is written: BootNotification's firmwareVersion
# defaults to it (config/provision.py), tools/package_json.py copies it into
# package.json, CHANGELOG.md describes each.
__version__ = "0.2.0"
