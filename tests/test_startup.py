"""Issue 24: the code that builds the app and starts its tasks (uocpp/startup.py) runs once per boot and
leaves the heap once the tasks run; a soft reset's new App loads it again. The identity's setters
(model/identity_set.py) leave with the build; the values stay. Whether its code is really freed
(nothing keeps one of its functions) shows in the live heap idle: tests/test_heap_budget.py."""

from harness.firmware import run_micropython
from harness.net import free_port

CODE = """
import asyncio, sys, uocpp
from uocpp.config import settings
doc = {"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"},
    "centralSystem": {"url": "ws://127.0.0.1:%d/ocpp", "chargePointId": "CP"}, "log": {"level": "error"}}
s, ident, problems = settings.validate(doc)
from uocpp.model import identity
for k, v in ident.items():
    identity.SETTERS[k](v)
from uocpp.app import App

def loaded():
    return "uocpp.startup" in sys.modules or hasattr(uocpp, "startup")

def setters():
    return "uocpp.model.identity_set" in sys.modules

async def main(n):
    app = App(s)
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
