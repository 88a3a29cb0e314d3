# The ESP32 image path of UpdateFirmware (device/ota.py, services/
# firmware_update.py) against a stand-in for esp32.Partition that records
# the blocks written, the boot selection and the rollback calls: the same
# state machine the unix port runs for bundles, with the platform's image
# writer in place of the staging file. FW-05 (nothing switches before the
# length and SHA-256 are checked), FW-06 (not confirmed in time: back to the
# old partition), FW-09 (the new version once confirmed).
import asyncio
import binascii
import hashlib
import json
import os

from check import TempDir, eq, raises

from uocpp import clock, log
from uocpp.device import ota
from uocpp.model.state import State
from uocpp.services import firmware_update as fu

log.set_level("error")


class Partition:
    # esp32.Partition's API as the image path uses it. Class state: the
    # board's two OTA slots, what was written, what boots next.
    RUNNING = 1
    TYPE_APP = 0
    boot_label = "ota_0"
    running_label = "ota_0"
    blocks = {}
    confirmed = 0
    size = 3 * 4096
    refuse = False  # set_boot raises, as ESP-IDF does for an image it will not boot

    def __init__(self, which=None, label=None):
        self.label = label or (Partition.running_label if which == Partition.RUNNING else None)

    @classmethod
    def reset(cls):
        cls.boot_label = cls.running_label = "ota_0"
        cls.blocks = {}
        cls.confirmed = 0
        cls.refuse = False

    def info(self):
        return (0, 0, 0x10000, Partition.size, self.label, False)

    def get_next_update(self):
        return Partition(label="ota_1" if self.label == "ota_0" else "ota_0")

    def ioctl(self, op, block):
        eq(op, 6, "ioctl: block erase")
        Partition.blocks[(self.label, block)] = bytearray(b"\xff" * 4096)

    def writeblocks(self, block, buf, offset):
        # Flash bits only go from 1 to 0: a write needs an erased block.
        data = Partition.blocks[(self.label, block)]
        if offset + len(buf) > 4096 or any(b != 0xFF for b in data[offset : offset + len(buf)]):
            raise AssertionError("write into a block that was not erased: %d at %d" % (block, offset))
        data[offset : offset + len(buf)] = buf

    def set_boot(self):
        if Partition.refuse:
            raise OSError(-5379, "ESP_ERR_OTA_VALIDATE_FAILED")
        Partition.boot_label = self.label

    @classmethod
    def find(cls, kind, label=None):
        return [Partition(label=label)]

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        cls.confirmed += 1


class Outbox:
    def __init__(self):
        self.sent = []
        self.got = asyncio.Event()  # set by every submit: tests wait on it, not on a time

    def submit(self, msg):
        self.sent.append(msg.build()["status"])
        self.got.set()
        msg._finish({}, None)
        if msg.answered:
            msg.answered({})
        return msg


class Transactions:
    running = {}


def update_file(payload, kind="image", version="2.0.0"):
    sha = binascii.hexlify(hashlib.sha256(payload).digest())
    return b"UOCPP-UPDATE 1 %s %s %d %s\n" % (kind.encode(), version.encode(), len(payload), sha) + payload


def fake_get(data, damage=None):
    # Stands in for link/transfer.download: feeds data to the sink in 1 KB pieces.
    async def get(url, sink, ca_file=None, timeout=30):
        body = bytearray(data)
        if damage == "corrupt":
            body[len(body) // 2] ^= 0xFF
        elif damage == "truncate":
            body = body[: len(body) // 2]
        mv = memoryview(body)
        for i in range(0, len(body), 1024):
            sink(mv[i : i + 1024])
        return len(body)

    return get


CFG = {"caFile": "", "timeout": 5, "retries": 0, "retryInterval": 0, "confirmTimeout": 0.2}


def service(d, image=True):
    reg = State()
    reg.accepted.set()
    stops = []
    svc = fu.FirmwareUpdate(CFG, "", d, Outbox(), reg, Transactions(), stops.append, ota.Image(Partition) if image else None, 1)
    return svc, stops


def state(d):
    with open(d + "/app/state.json") as f:
        return json.load(f)


class FlashFullOnce:
    # json_file.write_json_atomic refuses one write (OSError 28, a full
    # flash): the first for which when(obj) holds; the writes after go
    # through. `refused` says whether it came.
    def __init__(self, when=None):
        self.when = when
        self.refused = False

    def __enter__(self):
        from uocpp.store import json_file

        self._write = write = json_file.write_json_atomic

        def full(path, obj):
            if not self.refused and (self.when is None or self.when(obj)):
                self.refused = True
                raise OSError(28)
            write(path, obj)

        json_file.write_json_atomic = full
        return self

    def __exit__(self, *exc):
        from uocpp.store import json_file

        json_file.write_json_atomic = self._write


def cleanup(d):
    ota.remove_tree(d + "/app")


async def test_good_image_is_written_checked_then_switched():
    Partition.reset()
    payload = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes: 3 blocks, the last padded
    with TempDir("ota") as d:
        svc, stops = service(d)
        fu.transfer.download = fake_get(update_file(payload))
        svc.request("http://h/fw.bin", clock.now(), None, None)
        await svc._work()
        eq(svc._outbox.sent, ["Downloading", "Downloaded", "Installing"], "statuses")
        eq(sorted(Partition.blocks), [("ota_1", 0), ("ota_1", 1), ("ota_1", 2)], "blocks")
        written = b"".join(Partition.blocks[("ota_1", i)] for i in range(3))
        eq(written[: len(payload)], payload, "image bytes")
        eq(written[len(payload) :], b"\xff" * (3 * 4096 - len(payload)), "padding")
        eq(Partition.boot_label, "ota_1", "boot selection")
        eq(stops, ["hard"], "reboot")
        st = state(d)
        eq(st["trial"], {"version": "2.0.0", "boots": 0, "kind": "image", "slot": None, "back": "ota_0"}, "trial")
        eq(st["pending"], None, "pending")
        cleanup(d)


async def test_corrupt_or_short_image_never_switches():
    for damage in ("corrupt", "truncate"):
        Partition.reset()
        with TempDir("ota") as d:
            svc, stops = service(d)
            fu.transfer.download = fake_get(update_file(b"x" * 9000), damage)
            svc.request("http://h/fw.bin", clock.now(), 0, 0)
            await svc._work()
            eq(svc._outbox.sent, ["Downloading", "DownloadFailed"], damage)
            eq(Partition.boot_label, "ota_0", damage + ": boot selection untouched")
            eq(stops, [], damage + ": no reboot")
            eq(state(d)["pending"], None, damage + ": request done")
            eq(state(d).get("trial"), None, damage + ": no trial")
            cleanup(d)


async def test_image_the_bootloader_refuses_leaves_no_trial():
    # The hash was right but set_boot refused the image (another chip's, say):
    # InstallationFailed, no reboot, and no trial on record for the next boot.
    Partition.reset()
    Partition.refuse = True
    with TempDir("ota") as d:
        svc, stops = service(d)
        fu.transfer.download = fake_get(update_file(b"z" * 5000))
        svc.request("http://h/fw.bin", clock.now(), 0, 0)
        await svc._work()
        eq(svc._outbox.sent, ["Downloading", "Downloaded", "Installing", "InstallationFailed"], "statuses")
        eq((Partition.boot_label, stops), ("ota_0", []), "old image, no reboot")
        eq(state(d).get("trial"), None, "no trial")
        cleanup(d)


async def test_image_too_big_or_no_partitions_is_installation_failed():
    Partition.reset()
    with TempDir("ota") as d:
        for image in (True, False):
            svc, stops = service(d, image)
            fu.transfer.download = fake_get(update_file(b"y" * (Partition.size + 1)))
            svc.request("http://h/fw.bin", clock.now(), 3, 0)
            await svc._work()
            eq(svc._outbox.sent, ["Downloading", "InstallationFailed"], "fatal, no retries")
            eq(Partition.boot_label, "ota_0", "untouched")
        cleanup(d)


def _trial(d, back="ota_0"):
    os.mkdir(d + "/app")
    with open(d + "/app/state.json", "w") as f:
        json.dump({"slot": None, "version": None, "trial": {"version": "2.0.0", "boots": 1, "kind": "image", "slot": None, "back": back}}, f)


async def first_status(d):
    # The service's run() until its first status notification.
    svc, stops = service(d)
    task = asyncio.create_task(svc.run())
    await asyncio.wait_for_ms(svc._outbox.got.wait(), 5000)
    task.cancel()
    return svc, stops


async def test_trial_image_accepted_is_confirmed():
    Partition.reset()
    Partition.running_label = Partition.boot_label = "ota_1"
    with TempDir("ota") as d:
        _trial(d)
        svc, stops = await first_status(d)
        eq(Partition.confirmed, 1, "mark_app_valid_cancel_rollback")
        eq(svc._outbox.sent, ["Installed"], "statuses")
        st = state(d)
        eq((st["version"], st["trial"], st["outcome"]), ("2.0.0", None, None), "kept, reported")
        eq(stops, [], "no reboot")
        cleanup(d)


async def test_trial_image_not_accepted_boots_the_old_partition():
    Partition.reset()
    Partition.running_label = Partition.boot_label = "ota_1"
    with TempDir("ota") as d:
        _trial(d)
        svc, stops = service(d)
        svc._registration.accepted.clear()  # Pending for ever
        await svc.run()
        eq(Partition.confirmed, 0, "not confirmed")
        eq(Partition.boot_label, "ota_0", "back to the old partition")
        eq(stops, ["hard"], "reboot")
        st = state(d)
        eq((st["trial"], st["outcome"]), (None, "InstallationFailed"), "reported by the old one")
        cleanup(d)


async def test_killed_before_set_boot_is_installation_failed():
    # The switch was written but set_boot never ran: still the old image.
    Partition.reset()
    with TempDir("ota") as d:
        _trial(d)
        svc, stops = await first_status(d)
        eq(Partition.confirmed, 0, "not confirmed")
        eq(svc._outbox.sent, ["InstallationFailed"], "statuses")
        eq(stops, [], "no reboot")
        cleanup(d)


async def test_unconfirmed_image_still_running_after_the_loader_returned():
    # The loader reverted (the trial crashed) but no bootloader rollback
    # happened: the new image runs; the old partition is set to boot.
    Partition.reset()
    Partition.running_label = Partition.boot_label = "ota_1"
    with TempDir("ota") as d:
        os.mkdir(d + "/app")
        undo = {"version": "2.0.0", "boots": 1, "kind": "image", "slot": None, "back": "ota_0"}
        with open(d + "/app/state.json", "w") as f:
            json.dump({"slot": None, "trial": None, "outcome": "InstallationFailed", "undo": undo}, f)
        svc, stops = service(d)
        await svc.run()
        eq(Partition.boot_label, "ota_0", "old partition")
        eq(stops, ["hard"], "reboot")
        eq(svc._outbox.sent, [], "reported by the old one")
        eq((state(d)["undo"], state(d)["outcome"]), (None, "InstallationFailed"), "state")
        cleanup(d)


async def test_a_check_that_finds_no_heap_still_ends_with_a_final_status():
    # The signature check after Downloaded finds no heap (a P-256
    # verification on a board): the request is given up, and the central
    # system hears how it ended, not Downloaded for ever.
    from uocpp import pki

    Partition.reset()
    arun = pki.arun

    async def starved(steps):
        raise MemoryError

    with TempDir("ota") as d:
        svc, stops = service(d)
        fu.transfer.download = fake_get(update_file(b"z" * 5000))
        pki.arun = starved
        try:
            task = asyncio.create_task(svc.run())
            svc.request("http://h/fw.bin", clock.now(), 0, 0, {"id": 5, "sig": "c2ln", "cert": "x", "install": None})
            for _ in range(50):
                if len(svc._outbox.sent) >= 3:
                    break
                svc._outbox.got.clear()
                try:
                    await asyncio.wait_for_ms(svc._outbox.got.wait(), 100)
                except asyncio.TimeoutError:
                    pass
            task.cancel()
        finally:
            pki.arun = arun
        st = state(d)
        cleanup(d)
    eq(svc._outbox.sent, ["Downloading", "Downloaded", "InstallationFailed"], "statuses")
    eq((Partition.boot_label, stops), ("ota_0", []), "old image, no reboot")
    eq((st["pending"], st.get("trial")), (None, None), "request done, no trial")


def test_header_rules():
    eq(ota.parse_header(b"UOCPP-UPDATE 1 bundle 1.0 5 " + b"0" * 64), ("bundle", "1.0", 5, "0" * 64), "good")
    raises(ota.UpdateError, ota.parse_header, b"<html>")
    raises(ota.UpdateError, ota.parse_header, b"UOCPP-UPDATE 1 tarball 1.0 5 " + b"0" * 64)
    raises(ota.UpdateError, ota.parse_header, b"UOCPP-UPDATE 2 bundle 1.0 5 " + b"0" * 64)
    raises(ota.UpdateError, ota.parse_header, b"UOCPP-UPDATE 1 bundle 1.\xe9 5 " + b"0" * 64)  # firmwareVersion is ASCII
    recv = ota.Receiver(lambda *a: None)
    raises(ota.UpdateError, recv, memoryview(b"z" * 300))  # no header line at all


async def test_a_download_a_day_ahead_logs_its_wait_once():
    # The wait for retrieveDate said "download in N s" at every one of its
    # minute-long sleeps: a retrieveDate a day ahead wrote 1,440 lines to
    # the flash log (log.flashLevel info: a 32 KB ring by default), every
    # earlier line GetDiagnostics would upload overwritten, the flash worn
    # for nothing. Said once when the wait starts.
    start, synced = clock.now(), clock.synced
    lines = []

    class Asyncio:
        @staticmethod
        async def sleep(s):
            clock.set_unix(clock.now() + s)

    real_info, real_asyncio = log.info, fu.asyncio
    log.info = lambda tag, msg, *args: lines.append(msg % args)
    fu.asyncio = Asyncio
    try:
        await fu.FirmwareUpdate._until(None, int(clock.now()) + 86400, "download")
    finally:
        log.info, fu.asyncio = real_info, real_asyncio
        clock.set_unix(start)
        clock.synced = synced
    eq(len(lines), 1, "lines logged over a day's wait: %r" % lines[-1:])


async def test_an_outcome_refused_with_a_callerror_is_given_up_in_the_end():
    # An outcome (Installed, ...) answered with a CALLERROR went again every
    # 60 s for ever, and after every reboot (kept on flash): against a
    # central system without FirmwareStatusNotification, a CALL and a
    # warning line on the flash log every minute for months. 1.6 says
    # nothing of it: the waits grow, and a few refusals end it, on flash too.
    from uocpp import errors

    waits = []

    class Asyncio:
        @staticmethod
        async def sleep(s):
            waits.append(s)

    class Refusing(Outbox):
        def submit(self, msg):
            self.sent.append(msg.build()["status"])
            if len(self.sent) > 100:
                raise AssertionError("still sent after 100 refusals")
            msg._finish(None, errors.CallErrorReceived("NotImplemented", "no such action"))
            return msg

    with TempDir("ota") as d:
        svc, stops = service(d)
        svc._outbox = Refusing()
        svc.st["outcome"] = fu.INSTALLED
        svc._save()
        real = fu.asyncio
        fu.asyncio = Asyncio
        try:
            msg = svc._outbox.submit(svc._outcome_message(fu.INSTALLED))
            await svc._again(msg, fu.INSTALLED)
            st = state(d)
        finally:
            fu.asyncio = real
            cleanup(d)
    eq(len(svc._outbox.sent) <= 10, True, "sent %d times" % len(svc._outbox.sent))
    eq(waits == sorted(waits) and waits[-1] > waits[0], True, "the waits grow: %r" % waits)
    eq(st["outcome"], None, "given up on flash: not sent again after a reboot")


async def test_a_request_the_flash_refuses_is_not_carried_out():
    # A full flash (OSError 28) while UpdateFirmware is stored: the central
    # system gets a CALLERROR (the request is not on flash), so the charger
    # must not download and install it anyway (the service's loop takes any
    # request RAM holds).
    from uocpp.store import json_file

    Partition.reset()
    with TempDir("ota") as d:
        svc, stops = service(d)
        write = json_file.write_json_atomic

        def full(path, obj):
            raise OSError(28)

        json_file.write_json_atomic = full
        try:
            raises(OSError, svc.request, "http://h/fw.bin", clock.now(), None, None)
        finally:
            json_file.write_json_atomic = write
        try:
            eq(svc.st.get("pending"), None, "RAM holds no request the flash does not")
        finally:
            cleanup(d)


def test_a_state_file_of_another_shape_stops_no_boot():
    # <flash>/app/state.json valid JSON of another shape (a bit flipped,
    # edited by hand): the loader runs before anything else, with no
    # watchdog yet, and an exception there stopped every boot (a board at
    # its REPL for good). It falls back to the built-in application, as for
    # a torn file.
    import uocpp_slots

    with TempDir("ota") as d:
        os.mkdir(d + "/app")
        try:
            for text in ("[]", "5", "null", '{"trial": 5}', '{"trial": [1]}'):
                with open(d + "/app/state.json", "w") as f:
                    f.write(text)
                eq(uocpp_slots.decide(d + "/app") in (None, (None, False, False)), True, text)
        finally:
            cleanup(d)


async def test_a_switch_the_flash_refuses_never_boots_later():
    # A full flash (OSError 28) when the switch (the trial) goes to
    # state.json: the install failed (InstallationFailed) and the old one
    # runs, but the trial stayed in RAM, so the next write of state.json
    # (the failure's own outcome) put it on flash and the next boot tried
    # the update the central system was told had failed.
    Partition.reset()
    with TempDir("ota") as d:
        try:
            svc, stops = service(d)
            fu.transfer.download = fake_get(update_file(b"x" * 5000))
            svc.request("http://h/fw.bin", clock.now(), None, None)
            # The switch's write only: room again after.
            with FlashFullOnce(lambda obj: obj.get("trial")) as full:
                await svc._work()  # InstallationFailed, on flash
            eq(full.refused, True, "the switch's write was refused")
            eq((state(d).get("trial"), svc._outbox.sent[-1]), (None, "InstallationFailed"), "no trial on flash")
            eq((Partition.boot_label, stops), ("ota_0", []), "the old one runs")
        finally:
            cleanup(d)


async def test_a_confirmation_the_flash_refuses_leaves_the_service_running():
    # A full flash (OSError 28) when the trial's confirmation goes to
    # state.json: the error went up through run(), the service's only task,
    # so every UpdateFirmware after it was answered and never carried out.
    # Not on flash, the trial is not confirmed (the next boot rolls it
    # back, as the loader reads state.json): RAM says so too, nothing
    # reports Installed, and the service goes on.
    Partition.reset()
    Partition.running_label = Partition.boot_label = "ota_1"
    with TempDir("ota") as d:
        try:
            _trial(d)
            svc, stops = service(d)
            with FlashFullOnce() as full:
                task = asyncio.create_task(svc.run())
                for _ in range(400):  # until the confirmation's write is refused
                    if full.refused:
                        break
                    await asyncio.sleep_ms(5)
                for _ in range(20):  # what that failure does to the task, run
                    await asyncio.sleep_ms(0)
            eq(full.refused, True, "the confirmation's write was refused")
            eq(task.done(), False, "the service's task lives")
            eq((svc.st["trial"] is not None, state(d)["trial"] is not None, svc._outbox.sent), (True, True, []), "not confirmed, not Installed")
            task.cancel()
        finally:
            cleanup(d)


async def test_a_download_that_fills_the_flash_gives_its_room_back():
    # A bundle larger than the free flash: its download fails with OSError
    # 28, and the half-written staging file holds the flash full. The
    # failure's state.json write then failed too (before the staging file
    # went), out of run(): the service's task died with the flash still
    # full, so tx.json could not be written and no transaction start until
    # a reboot. The staging file goes first; the failure is on flash.
    from uocpp.store import json_file

    Partition.reset()
    with TempDir("ota") as d:
        try:
            svc, stops = service(d, image=False)
            staging = d + "/app/staging.bin"

            async def get(url, sink, ca_file=None, timeout=30):
                sink(memoryview(b"UOCPP-UPDATE 1 bundle 2.0.0 9999 " + b"0" * 64 + b"\n" + b"x" * 100))
                raise OSError(28)

            fu.transfer.download = get
            svc.request("http://h/fw.zip", clock.now(), 0, 0)
            write = json_file.write_json_atomic

            def full(path, obj):
                try:
                    os.stat(staging)
                except OSError:
                    return write(path, obj)
                raise OSError(28)  # the staging file holds the last room

            json_file.write_json_atomic = full
            try:
                task = asyncio.create_task(svc.run())
                for _ in range(50):
                    await asyncio.sleep_ms(20)
                    if "DownloadFailed" in svc._outbox.sent or task.done():
                        break
            finally:
                json_file.write_json_atomic = write
            eq(task.done(), False, "the service's task lives")
            raises(OSError, os.stat, staging)
            eq((state(d)["pending"], svc._outbox.sent[-1]), (None, "DownloadFailed"), "the failure on flash, and said")
            task.cancel()
        finally:
            cleanup(d)


TESTS = (
    test_header_rules,
    test_good_image_is_written_checked_then_switched,
    test_corrupt_or_short_image_never_switches,
    test_image_too_big_or_no_partitions_is_installation_failed,
    test_image_the_bootloader_refuses_leaves_no_trial,
    test_trial_image_accepted_is_confirmed,
    test_trial_image_not_accepted_boots_the_old_partition,
    test_killed_before_set_boot_is_installation_failed,
    test_unconfirmed_image_still_running_after_the_loader_returned,
    test_a_check_that_finds_no_heap_still_ends_with_a_final_status,
    test_a_download_a_day_ahead_logs_its_wait_once,
    test_an_outcome_refused_with_a_callerror_is_given_up_in_the_end,
    test_a_request_the_flash_refuses_is_not_carried_out,
    test_a_state_file_of_another_shape_stops_no_boot,
    test_a_switch_the_flash_refuses_never_boots_later,
    test_a_confirmation_the_flash_refuses_leaves_the_service_running,
    test_a_download_that_fills_the_flash_gives_its_room_back,
)
