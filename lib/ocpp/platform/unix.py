# Unix-port stand-ins for the hardware, so the same firmware runs on a PC.
import os
import sys

from micropython import const

from ocpp import log

# Exit codes a supervisor (tools/run_local.py, tests) can act on.
EXIT_HARD_RESET = const(75)  # Reset Hard: restart me
EXIT_CONFIG = const(78)  # bad config.json: do not restart, fix the file


def config_path():
    return os.getenv("OCPP_CONFIG") or "config.json"


def flash_dir(settings):
    # Where persisted files live: $OCPP_FLASH_DIR, else storage.dir from
    # config.json, else ./flash. Created when missing.
    path = os.getenv("OCPP_FLASH_DIR") or settings["storage"]["dir"] or "flash"
    try:
        os.mkdir(path)
    except OSError:
        pass
    return path


async def connect_network(settings):
    # A PC is already on the network.
    return True


def set_rtc(unix):
    # The clock module keeps the offset; a PC's clock is not ours to set.
    pass


async def sync_clock(settings):
    # The host keeps a PC's clock (and tests never leave 127.0.0.1).
    log.info("clock", "kept by the host")
    return True


def reset():
    log.info("platform", "hard reset: exiting with status %d", EXIT_HARD_RESET)
    sys.exit(EXIT_HARD_RESET)


def halt(message):
    # The safe state for a fatal configuration problem: say what is wrong and
    # stop, with a status that tells a supervisor not to restart us.
    log.error("platform", "halted: %s", message)
    sys.exit(EXIT_CONFIG)
