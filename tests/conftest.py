import sys

import pytest

from harness.firmware import FAST, REPO, Firmware, merge
from harness.net import free_port, tracked  # noqa: F401 (tests import free_port from here)

sys.path.insert(0, str(REPO / "tools"))

from central_system import CentralSystemThread  # noqa: E402


@pytest.fixture
def cs():
    """A real `ocpp` central system on 127.0.0.1, in a thread; answers Accepted by default."""
    server = CentralSystemThread(boot_plan=[("Accepted", 60)]).start()
    yield server
    server.stop()


@pytest.fixture
def firmware(tmp_path):
    """Factory: firmware(port, **config overrides) starts the firmware on the unix
    port; twin=True starts it on the ESP32 twin instead (tools/twin)."""
    with tracked(lambda fw: fw.stop()) as track:

        def start(port, config=None, env=None, raw_config=None, workdir=None, twin=False, fail_imports=()):
            # fail_imports: modules whose import can be made to fail (Firmware.fail_imports).
            cfg = merge(FAST, {"centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % port}})
            cfg = merge(cfg, config or {})
            workdir = workdir or tmp_path / ("fw%d" % len(track.started))
            cls = Firmware
            if twin:
                from harness.twin.firmware import TwinFirmware as cls
            fw = cls(workdir, cfg, env=env, raw_config=raw_config)
            if fail_imports:
                fw.fail_imports(*fail_imports)
            return track(fw.start())

        yield start


@pytest.fixture
def raw():
    """A scriptable raw WebSocket server on 127.0.0.1 (harness/raw_server.py); a minimal CS by default."""
    from harness.raw_server import RawServer

    server = RawServer().start()
    yield server
    server.stop()
    assert server.errors == [], server.errors


# The charging tests that run on both EVSEs take this parameter: the unix
# simulator (platform/evse_sim.py) and the ESP32 twin (harness/twin/),
# driven by the same line protocol.
BOTH = pytest.mark.parametrize("charger", ["sim", "twin"], indirect=True)


@pytest.fixture
def charger(request, cs, firmware):
    """Factory: charger(config overrides) -> a registered Charger (harness/charger.py).
    On the unix simulator, or on the ESP32 twin for a test marked @BOTH (param "twin")."""
    from harness.charger import Charger

    twin = getattr(request, "param", "sim") == "twin"

    def start(config=None, **kw):
        port = free_port()
        cfg = merge({"simulator": {"port": port}, "log": {"level": "info"}}, config or {})
        fw = firmware(cs.port, cfg, twin=twin, **kw)
        fw.wait_log("registration Accepted", timeout=20 if twin else 10)
        if not twin:
            fw.wait_log("simulator listening")
        return Charger(cs, fw, port, twin=twin)

    return start


@pytest.fixture
def broker(tmp_path):
    """A real mosquitto per call: broker(port=None, users=None) -> Broker, stopped at teardown."""
    from harness.mqtt_broker import Broker

    with tracked(lambda b: b.stop()) as track:

        def start(port=None, users=None):
            workdir = str(tmp_path / ("broker%d" % len(track.started)))
            return track(Broker(workdir, port or free_port(), users).start())

        yield start


# A bundle of the firmware's next version (tools/make_update.py), the version
# the update tests install and check for.
UPDATE_VERSION = "9.9.9-fw"


@pytest.fixture(scope="module")
def bundle():
    """A real, full bundle of lib/ compiled for this unix port, built once per module."""
    import make_update

    from bench.common import port_arch

    return make_update.build("bundle", UPDATE_VERSION, port_arch())


@pytest.fixture
def files():
    """A real HTTP file server on 127.0.0.1 (harness/http_server.py), stopped at teardown."""
    from harness.http_server import FileServer

    srv = FileServer().start()
    yield srv
    srv.stop()


def pytest_collection_modifyitems(items):
    """The long tests (marked slow) go first, so that the workers share them
    at the start and the short ones fill in around them, instead of one long
    test starting last and running alone at the end of the suite."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
