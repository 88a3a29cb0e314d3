# The platform layer: the only code that touches `machine` and `network`.
# Each port module offers the same functions:
#   config_path(), flash_dir(settings), open_uart(modem_cfg) -> (port, name),
#   wlan() -> station (isconnected, connect, disconnect, ifconfig),
#   sync_clock(settings) (async), set_rtc(unix),
#   watchdog(timeout_ms) -> object with feed(), reset(), halt(message),
#   ota() -> device/ota.Image, ESP32 only: firmware images to the OTA
#   partitions (a PC has none: the unix port installs application bundles)
#   setup_wanted(settings, web), access_point(ssid, password) (setup mode)
import sys

if sys.platform == "esp32":
    from uocpp.platform.esp32 import *  # noqa: F401,F403
else:
    from uocpp.platform.unix import *  # noqa: F401,F403
