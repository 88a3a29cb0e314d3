# Runs first on the device: load the charge point's identity from config.json
# into the BootNotification setters. Never touches the network. A bad
# config.json is reported by main.py, which then halts in a safe state.
from uocpp.config import provision

provision.load()
