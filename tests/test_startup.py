"""Issue 24: the code that builds the app and starts its tasks (uocpp/startup.py) runs once per boot and
leaves the heap once the tasks run; a soft reset's new App loads it again. The identity's setters
(model/identity_set.py) leave with the build; the values stay. Whether its code is really freed
(nothing keeps one of its functions) shows in the live heap idle: tests/test_heap_budget.py."""

import re

from harness.firmware import run_micropython
from harness.net import free_port

CODE = """
import asyncio, sys, uocpp
from uocpp.config import settings
doc = {"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"},
    "centralSystem": {"url": "ws://127.0.0.1:%d/ocpp", "chargePointId": "CP"}, "log": {"level": "error"}}
from uocpp.model import identity
for k, v in settings.validate(doc)[1].items():
    identity.SETTERS[k](v)
from uocpp.app import App

def loaded():
    return "uocpp.startup" in sys.modules or hasattr(uocpp, "startup")

def setters():
    return "uocpp.model.identity_set" in sys.modules

async def main(n):
    # The settings anew for each app, as main reads config.json again for a
    # soft reset's app: the running app keeps only what its parts read.
    app = App(settings.validate(doc)[0])
    print("built", n, "loaded", loaded(), "setters", setters())
    t = asyncio.create_task(app.run())
    await asyncio.sleep_ms(300)
    print("running", n, "loaded", loaded(), "tasks", len(app.supervisor._tasks) // 5 >= 8)
    from uocpp.model import identity
    print("payload", identity.boot_notification_payload()["chargePointVendor"], "setters", setters())
    app.stop("shutdown")
    await t

for n in (1, 2):  # the second app: as after a soft reset
    asyncio.run(main(n))
    asyncio.new_event_loop()
"""


def test_startup_code_leaves_once_the_tasks_run_and_comes_back_for_a_new_app():
    out = run_micropython(CODE % free_port())
    assert out.stdout.count("payload V setters False") == 2, out.stdout + out.stderr
    for n in (1, 2):
        assert "built %d loaded True setters False" % n in out.stdout, out.stdout + out.stderr
        assert "running %d loaded False tasks True" % n in out.stdout, out.stdout + out.stderr


THRESHOLD = """
import asyncio, gc, sys
from uocpp.config import settings
doc = {"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"},
    "centralSystem": {"url": "ws://127.0.0.1:%d/ocpp", "chargePointId": "CP"}, "log": {"level": "error"}}
from uocpp.model import identity
for k, v in settings.validate(doc)[1].items():
    identity.SETTERS[k](v)
from uocpp.app import App

class Gc:
    # gc as the app's start sees it: the heap it has left free is this
    # test's, the threshold it sets is printed.
    free = 0
    def collect(self):
        gc.collect()
    def mem_free(self):
        return self.free
    def threshold(self, n):
        print("free", self.free, "threshold", n)
        self.set.set()

async def main(free):
    sys.modules["gc"] = g = Gc()
    g.free, g.set = free, asyncio.Event()
    app = App(settings.validate(doc)[0])
    t = asyncio.create_task(app.run())
    await asyncio.wait_for(g.set.wait(), 10)
    del sys.modules["gc"]
    app.stop("shutdown")
    await t

for free in (4000, 40000, 1000000):
    asyncio.run(main(free))
    asyncio.new_event_loop()
"""


def test_a_tight_heap_is_collected_more_often_once_the_app_runs():
    """Issue 24 (app.py _start): once its tasks run, the app has the heap collected after a quarter of what it has
    left free, 2 to 16 KB: a roomy heap every 16 KB, as main.py has it through the boot; a tight one every few KB,
    so that a session's long-lived objects do not land among its garbage all over a small free part."""
    out = run_micropython(THRESHOLD % free_port())
    found = dict(re.findall(r"free (\d+) threshold (\d+)", out.stdout))
    assert found == {"4000": "2048", "40000": "10000", "1000000": "16384"}, out.stdout + out.stderr
