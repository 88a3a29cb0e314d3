# Freezing the firmware library into a MicroPython build (ports/esp32):
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/uocpp/manifest.py
# boot.py, main.py and config.json stay on the board's filesystem. The
# MQTT mirror's umqtt.simple comes with the port's own manifest (included
# below: ports/esp32/boards/manifest.py requires it from micropython-lib).
include("$(PORT_DIR)/boards/manifest.py")
package("uocpp", base_path="lib")
# The loader that puts an installed update first on sys.path (README,
# Updating in the field); frozen too, so an image always brings it.
module("uocpp_loader.py", base_path="lib")
module("uocpp_slots.py", base_path="lib")
# The installer's web page (lib/uocpp/extras/web/) runs on microdot, which
# make fetches from PyPI into lib/microdot/ (`make lib/microdot/microdot.py`,
# done by make mpy/deploy/test): frozen, it costs flash, not heap, and is
# still imported only when the page or setup mode is on.
package("microdot", base_path="lib")
# Never imported: it spells out the dotted name of every module of uocpp
# (and asyncio's) and the name of every configuration key, so that those
# names are in flash: importing a module interns nothing in the heap, and
# the key store holds no copies of the keys' names (tools/frozen_names.py
# regenerates it; the tests check it).
module("uocpp_names.py", base_path="frozen")
