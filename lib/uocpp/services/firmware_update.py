# UpdateFirmware (FW-01..FW-09): download at retrieveDate, check, install,
# reboot, confirm. Loaded only when an UpdateFirmware arrives or, at boot,
# when <flash>/app/state.json says an update is under way (app.py).
#
#   pending   the request, on flash from the moment it is accepted: a reboot
#             or a power cut at any point before the switch starts it again
#             (download from zero, retries left as they were)
#   download  at retrieveDate, once no transaction runs, over HTTP(S) or
#             FTP(S) (link/transfer.py picks the client); the file streams
#             through SHA-256 into the inactive slot's staging file (a
#             bundle) or the next OTA partition (an image); its length and
#             hash are checked before anything switches (device/ota.py)
#   install   once no transaction runs: unpack into the inactive slot, then
#             the switch, one atomic write of state.json (trial), then reboot
#   confirm   the trial boot's BootNotification Accepted within
#             firmware.confirmTimeout: the new one is kept, Installed. Else
#             (or when the trial crashed: uocpp_loader) back to the old one,
#             which reports InstallationFailed.
# Each step's FirmwareStatusNotification goes through the outbox; the final
# one waits on flash (state.json "outcome") until the central system
# answered it, across reboots.
# SignedUpdateFirmware (issue 25, ops/signed_update_firmware.py) runs the same
# steps and reports them as SignedFirmwareStatusNotification with its
# requestId (state.json "rid"); after the download the signature over the
# whole file is checked with the signing certificate, which must chain to an
# installed ManufacturerRootCertificate (services/firmware_signature.py):
# a certificate that no longer chains or a bad signature end it as
# InvalidSignature, SignatureVerified goes on.
# A plain UpdateFirmware's file must carry its own signature (ota.py's
# UOCPP-SIG line) once a ManufacturerRootCertificate is installed.
import asyncio
import os

from micropython import const

from uocpp import clock, errors, log, unload
from uocpp import outbox as ob
from uocpp.device import ota
from uocpp.link import transfer
from uocpp.store import json_file

IDLE = "Idle"
DOWNLOADING = "Downloading"
DOWNLOADED = "Downloaded"
DOWNLOAD_FAILED = "DownloadFailed"
INSTALLING = "Installing"
INSTALLED = "Installed"
INSTALLATION_FAILED = "InstallationFailed"
DOWNLOAD_SCHEDULED = "DownloadScheduled"
INSTALL_SCHEDULED = "InstallScheduled"
INSTALL_REBOOTING = "InstallRebooting"
SIGNATURE_VERIFIED = "SignatureVerified"
_ACTION = "FirmwareStatusNotification"
_SIGNED = "SignedFirmwareStatusNotification"
_AGAIN_S = const(60)  # an outcome not answered (timeout, CALLERROR) goes again after this,
_AGAIN_MAX_S = const(3600)  # then after twice as long each time, up to this;
_REFUSALS = const(5)  # and a central system that refused it so often is not asked again


def get(slot, outbox, registration, transactions, stop, keys):
    # The service in the app's "firmware" slot (app.py), built and its task
    # started on first use: by UpdateFirmware (ops/update_firmware.py) or at
    # boot when an update is under way (app.py). The app cancels the task
    # when it stops (a soft reset builds a new app, slot and service).
    if slot[0] is None:
        from uocpp import platform
        from uocpp.config import provision

        s = provision.settings
        svc = slot[0] = FirmwareUpdate(
            _section(platform.config_path()), s["centralSystem"]["caFile"], platform.flash_dir(s), outbox, registration, transactions, stop,
            platform.ota() if hasattr(platform, "ota") else None, keys.get("MessageTimeout") * 2,
        )
        svc.task = asyncio.create_task(svc.run())
    return slot[0]


def trigger(slot, outbox, signed=False):
    # TriggerMessage FirmwareStatusNotification: what the update does now,
    # Idle when none runs (then this module is all that loads). signed:
    # ExtendedTriggerMessage's, whose Idle is a SignedFirmwareStatusNotification
    # without requestId (whitepaper 5.5, 5.19).
    if slot[0] is not None and not (signed and slot[0].status == IDLE):
        slot[0].trigger()
    else:
        outbox.submit(ob.Message(_SIGNED if signed else _ACTION, lambda: {"status": IDLE}, key=_ACTION, triggered=True))


def _section(path):
    # config.json's firmware section, read again: main.py leaves it out of
    # the boot settings (an idle charger holds none of it), and the checks
    # at boot already passed. A file broken since boot gives the defaults.
    from uocpp.config import settings as config

    try:
        return config.load(path)[0]["firmware"]
    except config.ConfigError as e:
        log.warning("firmware", "config.json: %s; the firmware section's defaults apply", e)
        return config.validate({})[0]["firmware"]  # the defaults
    finally:
        unload("uocpp.config.settings", "uocpp.config.loading", "uocpp.config.evse", "uocpp.model.keytable")


class FirmwareUpdate:
    def __init__(self, cfg, ca_file, flash, outbox, registration, transactions, stop, image=None, reply_s=30):
        # cfg: config.json's firmware section; image: device/ota.Image where
        # the platform can write firmware images (ESP32), else None.
        self._cfg = cfg
        self._ca = cfg["caFile"] or ca_file or None
        self._flash = flash
        self._dir = json_file.join(flash, "app")
        try:
            os.mkdir(self._dir)
        except OSError:
            pass
        self._path = self._dir + "/state.json"
        self._staging = self._dir + "/staging.bin"
        self._outbox = outbox
        self._registration = registration
        self._transactions = transactions
        self._stop = stop
        self._image = image
        self._reply_s = reply_s
        st = json_file.read_json(self._path, None)
        self.st = st if isinstance(st, dict) else {}
        self.status = IDLE
        self._new = asyncio.Event()
        self._job = None
        self._replaced = False
        self.task = None  # run(), started by get()
        self._reporter = None  # _again(), while an outcome waits for its answer

    def _save(self):
        json_file.write_json_atomic(self._path, self.st)

    # -- the central system's side -------------------------------------------
    def request(self, url, at, retries, interval, signed=None):
        # UpdateFirmware.req accepted: on flash before the reply goes out.
        # signed: SignedUpdateFirmware's {"id", "sig", "cert", "install"}.
        if retries is None:
            retries = self._cfg["retries"]
        if interval is None:
            interval = self._cfg["retryInterval"]
        # Not on flash (full): a CALLERROR, and RAM as before (the loop
        # would carry out a request the central system was told failed).
        before = self.st.get("pending"), self.st.get("rid")
        self.st["pending"] = {"url": url, "at": at, "left": retries, "every": interval, "signed": signed}
        # A switch on flash (trial) reboots into it and reports its outcome
        # with its own requestId: the new request waits for after it
        # (_work takes its requestId then).
        armed = self.st.get("trial")
        if not armed:
            self.st["rid"] = signed["id"] if signed else None
        try:
            self._save()
        except Exception:
            self.st["pending"], self.st["rid"] = before
            raise
        log.info("firmware", "update from %s at %s (%d retries, every %d s)", url, clock.format_iso(at), retries, interval)
        if self._job is not None and not armed:
            self._replaced = True
            self._job.cancel()  # a new request replaces the one under way
        self._new.set()

    def trigger(self):
        # TriggerMessage(FirmwareStatusNotification): what happens now. A
        # signed update's states are not 1.6's (DownloadScheduled, ...): its
        # own SignedFirmwareStatusNotification says them, with its requestId.
        status = self.status
        if status == IDLE:
            self._outbox.submit(ob.Message(_ACTION, lambda: {"status": status}, ob.KEEP, key=_ACTION, triggered=True))
        else:
            self._outbox.submit(self._message(status, ob.KEEP, key=_ACTION, triggered=True))

    def _message(self, status, *args, **kw):
        # FirmwareStatusNotification, or SignedFirmwareStatusNotification
        # with its requestId while a signed update is the last one.
        rid = self.st.get("rid")
        if rid is None:
            return ob.Message(_ACTION, lambda: {"status": status}, *args, **kw)
        return ob.Message(_SIGNED, lambda: {"status": status, "requestId": rid}, *args, **kw)

    def _notify(self, status):
        self.status = status
        log.info("firmware", "status %s", status)
        return self._outbox.submit(self._message(status, ob.KEEP))

    async def _notify_sent(self, status):
        # Before a reboot: the notification leaves first (bounded).
        try:
            await asyncio.wait_for(self._notify(status).wait(), self._reply_s)
        except (errors.CallFailed, asyncio.TimeoutError) as e:
            log.warning("firmware", "%s not delivered (%s): going on", status, e)

    def _report(self, outcome):
        # The result of an update (Installed, InstallationFailed,
        # DownloadFailed), kept on flash until answered: PERSIST keeps it
        # across lost links, and a timeout or a CALLERROR sends it again a
        # while later (_again), so it is never given up before a reply.
        log.info("firmware", "status %s", outcome)
        msg = self._outbox.submit(self._outcome_message(outcome))
        if self._reporter is None or self._reporter.done():
            self._reporter = asyncio.create_task(self._again(msg, outcome))

    def _outcome_message(self, outcome):
        def answered(reply):
            if self.st.get("outcome") == outcome:
                self.st["outcome"] = None
                self._save()

        return self._message(outcome, ob.PERSIST, answered=answered)

    async def _again(self, msg, outcome):
        # 1.6 sets no limit: the waits double (a central system without
        # FirmwareStatusNotification got a CALL and a flash log line every
        # minute for months), and an outcome refused _REFUSALS times (a
        # CALLERROR or a reply that breaks the .conf: the central system
        # answered) is given up, on flash too (else again after each boot).
        wait_s, n = _AGAIN_S, 0
        while True:
            try:
                await msg.wait()
                return
            except errors.CallFailed as e:
                if isinstance(e, (errors.CallErrorReceived, errors.ReplyRefused)):
                    n += 1
                    if n >= _REFUSALS:
                        log.warning("firmware", "%s refused %d times (%s): not sent again", outcome, n, e)
                        if self.st.get("outcome") == outcome:
                            self.st["outcome"] = None
                            self._save()
                        return
                log.warning("firmware", "%s not answered (%s): again in %d s", outcome, e, wait_s)
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, _AGAIN_MAX_S)
            if self.st.get("outcome") != outcome:
                return  # answered meanwhile, or a newer outcome took its place
            msg = self._outbox.submit(self._outcome_message(outcome))

    def close(self):
        # The app stops: this service's tasks end with it.
        for t in (self.task, self._reporter):
            if t is not None:
                t.cancel()

    # -- the task ------------------------------------------------------------
    async def run(self):
        st = self.st
        if st.get("undo") and self._undo(st["undo"]):
            return
        trial = st.get("trial")
        if trial and trial.get("boots") and await self._confirm(trial):
            return  # rebooting into the old one
        if st.get("outcome"):
            self._report(st["outcome"])
        while True:
            if not self.st.get("pending"):
                self._new.clear()
                await self._new.wait()
            self._new.clear()
            self._replaced = False
            self._job = asyncio.create_task(self._work())
            try:
                await self._job
            except asyncio.CancelledError:
                if not self._replaced:
                    self._job.cancel()
                    raise
            except Exception as e:  # never the loop: say why and forget the request
                log.error("firmware", "update failed: %r", e)
                # Its final status all the same (a check with no heap, say):
                # the central system must not wait on Downloaded for ever.
                done = DOWNLOAD_FAILED if self.status in (IDLE, DOWNLOAD_SCHEDULED, DOWNLOADING) else INSTALLATION_FAILED
                self.status = IDLE
                self._clear(done)
            self._job = None

    def _undo(self, trial):
        # The loader returned from an unconfirmed trial. For an image, the
        # bootloader's rollback normally booted the old partition already;
        # if the new one still runs, boot the old one. True: rebooting.
        # The old partition is set to boot before the record of the undo
        # goes: a power cut between the two repeats the undo, never skips it.
        reboot = trial.get("kind") == "image" and self._image and self._image.running() != trial.get("back")
        if reboot:
            log.error("firmware", "still on the unconfirmed image: booting %s", trial.get("back"))
            self._image.boot(trial["back"])
        self.st["undo"] = None
        self._save()
        slot = trial.get("slot")
        if slot and slot != self.st.get("slot"):
            ota.remove_tree(self._dir + "/" + slot)  # the failed bundle: flash back
        if reboot:
            self._stop("hard")
        return bool(reboot)

    def _clear(self, outcome=None):
        # The request is done (or given up): so is its staging file, which
        # goes first (a download that filled the flash: its room back, so
        # that state.json can be written). A final status goes on flash
        # with it, and out until answered (_report).
        self._unstage()
        self.st["pending"] = None
        if outcome:
            self.st["outcome"] = outcome
        self._save()
        if outcome:
            self._report(outcome)

    def _unstage(self):
        try:
            os.remove(self._staging)
        except OSError:
            pass

    async def _confirm(self, trial):
        # The trial boot: keep it once its BootNotification is Accepted.
        # True: not in time, rebooting into the old one.
        image = trial.get("kind") == "image"
        self.status = INSTALLING
        if image and self._image and self._image.running() == trial.get("back"):
            # Killed between the switch and set_boot: still the old image.
            log.error("firmware", "the new image never became the boot partition")
            self._failed()
            return
        try:
            await asyncio.wait_for(self._registration.accepted.wait(), self._cfg["confirmTimeout"])
        except asyncio.TimeoutError:
            log.error("firmware", "%s not Accepted within %s s: back to the previous firmware", trial["version"], self._cfg["confirmTimeout"])
            await self._idle("rollback")  # a session started offline on the trial ends first
            if image and self._image:
                self._image.boot(trial["back"])  # as the bootloader's rollback would
            self._failed()
            self._stop("hard")
            return True
        if image and self._image:
            self._image.confirm()
        st = self.st
        old = st.get("slot")
        before = old, st.get("version"), st.get("trial"), st.get("outcome")
        st["slot"], st["version"], st["trial"], st["outcome"] = trial["slot"], trial["version"], None, INSTALLED
        try:
            self._save()
        except Exception as e:
            # Not on flash (full): not confirmed, as the next boot reads it
            # (it rolls back); RAM says so too, and the service goes on.
            st["slot"], st["version"], st["trial"], st["outcome"] = before
            log.error("firmware", "%s not confirmed: %s", trial["version"], e)
            self.status = IDLE
            return
        log.info("firmware", "%s confirmed: Accepted on its trial boot", trial["version"])
        from uocpp import security_event

        security_event.report("FirmwareUpdated", "to %s" % trial["version"])
        if old and old != trial["slot"]:
            ota.remove_tree(self._dir + "/" + old)  # flash back for the next one
        self.status = IDLE

    def _failed(self):
        self.st["trial"], self.st["outcome"] = None, INSTALLATION_FAILED
        self._save()
        self.status = IDLE

    async def _idle(self, what):
        # Downloads and installs wait for the running transactions (FW-03).
        said = False
        while self._transactions.running:
            if not said:
                log.info("firmware", "waiting for the running transaction(s) to end before the %s", what)
                said = True
            await asyncio.sleep_ms(500)

    async def _work(self):
        p = self.st["pending"]
        signed = p.get("signed")
        self.st["rid"] = signed["id"] if signed else None
        await self._registration.accepted.wait()  # the clock is set, the link up
        if signed and p["at"] > clock.now():
            self._notify(DOWNLOAD_SCHEDULED)
        await self._until(p["at"], "download")
        await self._idle("download")
        while True:
            self._notify(DOWNLOADING)
            try:
                recv = await self._download(p["url"])
                break
            except Exception as e:
                fatal = isinstance(e, ota.UpdateError) and e.fatal
                log.warning("firmware", "download failed: %s %s", type(e).__name__, e)
                if fatal or p["left"] <= 0:
                    self._clear(INSTALLATION_FAILED if fatal else DOWNLOAD_FAILED)
                    self.status = IDLE
                    return
                p["left"] -= 1
                self._unstage()  # the next attempt starts it anew: its room back first
                self._save()
                log.info("firmware", "next download attempt in %d s (%d retries left)", p["every"], p["left"])
                await asyncio.sleep(p["every"])
        self._notify(DOWNLOADED)
        if not await self._verified(p, recv):
            return
        if signed and signed.get("install") and signed["install"] > clock.now():
            self._notify(INSTALL_SCHEDULED)
            await self._until(signed["install"], "install")
        await self._idle("install")
        await self._notify_sent(INSTALLING)
        # Again: a transaction may have started while Installing went out.
        # From here to the reboot nothing awaits, so none can start.
        await self._idle("install")
        try:
            trial = self._install(recv)
        except Exception as e:
            log.error("firmware", "install failed: %s %s", type(e).__name__, e)
            self._clear(INSTALLATION_FAILED)
            self.status = IDLE
            return
        log.info("firmware", "%s installed, rebooting into it", recv.version)
        if signed:
            await self._notify_sent(INSTALL_REBOOTING)
        self._stop("hard")
        return trial

    async def _until(self, at, what):
        said = False  # once: a line a minute filled the flash log (a day ahead: 1,440)
        while True:
            left = at - clock.now()
            if left <= 0:
                return
            if not said:
                log.info("firmware", "%s in %d s", what, left)
                said = True
            await asyncio.sleep(min(left, 60))  # the clock may still be set

    async def _verified(self, p, recv):
        # The signature check before anything switches, in steps that let
        # the other tasks run (a P-256 verification takes a second on a
        # board). True: go on; else the update is over, its final status on
        # its way.
        import binascii

        from uocpp import pki, security_event
        from uocpp.services import firmware_signature as fs

        signed = p.get("signed")
        try:
            if signed:
                leaf = await pki.arun(fs.check_pem(self._flash, signed["cert"]))
                await pki.arun(fs.verify(leaf, recv.whole_digest, binascii.a2b_base64(signed["sig"])))
            else:
                try:
                    trailer = recv.signature()
                except ota.UpdateError as e:
                    raise fs.SignatureError(fs.INVALID_SIGNATURE, str(e))
                known = fs.roots(self._flash)
                if not known:
                    if trailer:
                        log.warning("firmware", "signature not checked: no ManufacturerRootCertificate installed")
                    return True
                if trailer is None:
                    raise fs.SignatureError(fs.INVALID_SIGNATURE, "unsigned, and a ManufacturerRootCertificate is installed")
                leaf = await pki.arun(fs.check_chain(self._flash, trailer[1]))
                await pki.arun(fs.verify(leaf, recv.signed_digest, trailer[0]))
        except (fs.SignatureError, ValueError) as e:
            status = getattr(e, "status", fs.INVALID_SIGNATURE)
            event = "InvalidFirmwareSigningCertificate" if status == fs.INVALID_CERTIFICATE else "InvalidFirmwareSignature"
            security_event.report(event, str(e))
            log.error("firmware", "%s: %s", status, e)
            # InvalidCertificate is a reply status only: the notification's
            # schema has none, and a status refused is sent again for ever.
            self._clear(fs.INVALID_SIGNATURE if signed else INSTALLATION_FAILED)
            self.status = IDLE
            return False
        finally:
            pki.unload()
            unload("uocpp.services.firmware_signature")
        log.info("firmware", "signature verified")
        if signed:
            self._notify(SIGNATURE_VERIFIED)
        return True

    async def _download(self, url):
        log.info("firmware", "downloading %s", url)
        recv = ota.Receiver(self._target)
        try:
            await transfer.download(url, recv, self._ca, self._cfg["timeout"])
        finally:
            recv.close()
        recv.check()
        log.info("firmware", "downloaded %s %s: %d bytes, SHA-256 checked", recv.kind, recv.version, recv.length)
        return recv

    def _target(self, kind, version, length):
        if kind == "bundle":
            return ota.FileTarget(self._staging)
        if self._image is None:
            raise ota.UpdateError("this charger installs application bundles, not firmware images", True)
        return self._image.writer(length)

    def _install(self, recv):
        st = self.st
        trial = {"version": recv.version, "boots": 0, "kind": recv.kind, "slot": None}
        if recv.kind == "bundle":
            slot = "b" if st.get("slot") == "a" else "a"
            log.info("firmware", "unpacking into slot %s", slot)
            n = ota.unpack(self._staging, self._dir + "/" + slot)
            os.remove(self._staging)
            log.info("firmware", "%d files in slot %s; switching", n, slot)
            trial["slot"] = slot
        else:
            trial["back"] = self._image.running()
        # The switch: one atomic write. Before it the old one boots, after it
        # the new one on trial.
        st["trial"], st["pending"] = trial, None
        try:
            self._save()
        except Exception:
            st["trial"] = None  # not on flash: no later write may put it there
            raise
        if recv.kind == "image":
            try:
                recv.target.switch()  # set_boot: checked before, switched last
            except Exception:
                # The bootloader refused the image: no trial will boot, so
                # none may be on record (the next boot would take the old
                # image for the new one).
                st["trial"] = None
                self._save()
                raise
        return trial
