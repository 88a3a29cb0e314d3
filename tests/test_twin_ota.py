"""OTA image updates on the ESP32 twin: UpdateFirmware with an image file
(tools/make_update.py image) goes through the firmware's real OTA code
(device/ota.py Image, ImageWriter) into the esp32.Partition stand-in's
ota_1 file; the board resets, the twin's bootloader boots it on trial, and
rolls back an image that never confirmed itself, as ESP-IDF's does."""

import json
import os
import sys

import pytest
from ocpp.v16 import call

from harness.firmware import REPO
from tests.test_firmware_update import broken, iso, statuses, wait_status

sys.path.insert(0, str(REPO / "tools"))

import make_update  # noqa: E402

NEW = "9.9.9-img"


@pytest.fixture
def image(tmp_path):
    """An update file holding an ESP32 app image (magic 0xE9; 300 KB of its own bytes)."""
    raw = tmp_path / "micropython.bin"
    body = bytes([0xE9]) + os.urandom(300 * 1024 - 1)
    raw.write_bytes(body)
    return body, make_update.build("image", NEW, image=str(raw))


def otadata(fw):
    return json.loads((fw.root / "partitions" / "otadata.json").read_text())


def start(cs, firmware, workdir, confirm=15):
    fw = firmware(cs.port, {"firmware": {"confirmTimeout": confirm, "retryInterval": 0}}, workdir=workdir, twin=True)
    return fw


def test_an_image_is_written_to_the_next_partition_and_confirmed_on_its_trial_boot(cs, firmware, files, image, tmp_path):
    body, update_file = image
    files.files["fw.bin"] = update_file
    fw = start(cs, firmware, tmp_path / "fw")
    fw.wait_log("registration Accepted", timeout=20)
    cs.call("CP001", call.UpdateFirmware(location=files.url("fw.bin"), retrieve_date=iso()))
    fw.wait_log(r"twin: machine.reset\(\): resetting the board", timeout=30)
    fw.wait_log(r"twin: bootloader: ota_1 on trial")
    fw.wait_log(r"twin: boot 2 from ota_1 \(reset cause 2\)")
    written = (fw.root / "partitions" / "ota_1.bin").read_bytes()
    assert written[: len(body)] == body  # the image, byte for byte, through ImageWriter's erase + writeblocks
    wait_status(cs, "Installed", timeout=30)
    assert otadata(fw)["running"] == "ota_1" and otadata(fw)["state"] == "valid"  # mark_app_valid_cancel_rollback()
    assert statuses(cs) == ["Downloading", "Downloaded", "Installing", "Installed"]


def test_an_image_cut_off_on_its_trial_boot_is_rolled_back_by_the_bootloader(cs, firmware, files, image, tmp_path):
    _body, update_file = image
    files.files["fw.bin"] = update_file
    cs.boot_plan = [("Accepted", 60), ("Pending", 60), ("Accepted", 60)]
    work = tmp_path / "fw"
    fw = start(cs, firmware, work)
    fw.wait_log("registration Accepted", timeout=20)
    cs.call("CP001", call.UpdateFirmware(location=files.url("fw.bin"), retrieve_date=iso()))
    fw.wait_log(r"twin: boot 2 from ota_1", timeout=30)
    fw.wait_log("registration Pending", timeout=20)
    assert otadata(fw)["state"] == "pending"
    fw.kill()  # a power cut on the trial boot, before it was Accepted
    fw = start(cs, firmware, work)
    fw.wait_log(r"twin: bootloader: ota_1 did not confirm itself: rolling back to ota_0")
    fw.wait_log(r"twin: boot 1 from ota_0")
    wait_status(cs, "InstallationFailed", timeout=30)
    data = otadata(fw)
    assert data["running"] == "ota_0" and data["state"] == "valid" and data["rolledBack"] == "ota_1"


def test_a_bundle_that_crashes_on_its_trial_boot_resets_the_board(cs, firmware, files, bundle, tmp_path):
    """FW-06 on the ESP32 code path: the loader's crash handler resets the board (machine.reset(), not the
    unix port's exit), the board boots again, and the loader goes back to the built-in application."""
    files.files["fw.bin"] = broken(bundle)
    fw = start(cs, firmware, tmp_path / "fw")
    fw.wait_log("registration Accepted", timeout=20)
    cs.call("CP001", call.UpdateFirmware(location=files.url("fw.bin"), retrieve_date=iso()))
    fw.wait_log("the new version crashed on its trial boot", timeout=40)
    fw.wait_log(r"twin: machine.reset\(\): resetting the board", count=2, timeout=20)
    fw.wait_log("was never confirmed: back to the built-in application", timeout=20)
    wait_status(cs, "InstallationFailed", timeout=30)
    assert statuses(cs) == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
