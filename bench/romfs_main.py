# Host-only launcher for the ROMFS build of the benchmarks: mounts the image
# named by $OCPP_ROMFS at /rom and, run as the script, the firmware's main
# from it.
# A board maps its ROMFS partition from flash; the unix port has none, so the
# image is read into one heap block, allocated first, before anything else.
import os
import sys
import vfs

_path = os.getenv("OCPP_ROMFS")
_image = bytearray(os.stat(_path)[6])
with open(_path, "rb") as f:
    f.readinto(_image)
vfs.mount(vfs.VfsRom(_image), "/rom")
sys.path.insert(0, "/rom")

if __name__ == "__main__":
    # Run by the ESP32 twin's boot only to mount (harness/twin/board/
    # twin_boot.py), which then runs main itself.
    import main  # noqa: E402,F401 - runs the firmware
