# The firmware of a ROMFS deployment (make deploy-romfs, docs/deploying.md):
# MicroPython with ROMFS (MICROPY_VFS_ROM=1 and a partition labelled romfs)
# and with the charger's names in flash:
#   make romfs        # the image, and build/uocpp_romfs_names.mpy
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/uocpp/manifest_romfs.py ...
# uocpp_romfs_names.mpy has no code: its table lists every name of the
# image's modules, of boot.py and main.py, and the names importing each
# module interns (tools/romfs_names.py --firmware). Frozen, they are in the
# firmware's own pool, so the charger's modules, loaded from the image,
# intern nothing in the heap. The image can be replaced without a new
# firmware (mpremote romfs deploy): an image of a later library interns
# in the heap only the names it adds.
include("$(PORT_DIR)/boards/manifest.py")
freeze_mpy("build", "uocpp_romfs_names.mpy")
