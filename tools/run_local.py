"""`make run`: the bundled central system plus the firmware on the unix port.

Both print to this terminal, the central system's lines prefixed `CS`.
Ctrl-C stops both. A Hard reset (the firmware exits with status 75) restarts
the firmware, as a device would reboot.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from central_system import CentralSystem, parse_plan  # noqa: E402

EXIT_HARD_RESET = 75


async def run(args):
    cs = await CentralSystem("127.0.0.1", args.port, parse_plan(args.boot)).start()
    logging.getLogger("central_system").info("listening on ws://127.0.0.1:%d/<charge point id>", cs.port)
    env = dict(os.environ)
    env["MICROPYPATH"] = ".frozen:" + os.path.join(REPO, "lib")
    env["OCPP_CONFIG"] = os.path.abspath(args.config)
    env.setdefault("OCPP_FLASH_DIR", os.path.join(REPO, "flash"))
    micropython = os.path.join(os.path.dirname(sys.executable), "micropython")
    try:
        while True:
            proc = await asyncio.create_subprocess_exec(micropython, os.path.join(REPO, "main.py"), cwd=REPO, env=env)
            try:
                code = await proc.wait()
            except asyncio.CancelledError:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGINT)
                    try:
                        await asyncio.wait_for(proc.wait(), 5)
                    except asyncio.TimeoutError:
                        proc.kill()
                raise
            if code != EXIT_HARD_RESET:
                print("firmware exited with status %d" % code)
                return code
            print("firmware asked for a hard reset: restarting it")
    finally:
        await cs.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=os.path.join(REPO, "config.json"))
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--boot", default="Accepted:10", help="central system's BootNotification answers, e.g. Pending:3,Accepted:10")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="CS %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        sys.exit(asyncio.run(run(args)) or 0)
    except KeyboardInterrupt:
        print("\nstopped")


if __name__ == "__main__":
    main()
