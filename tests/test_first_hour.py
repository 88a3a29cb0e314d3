"""The first hour of a new user (issue 13): `make run` stops cleanly, the host
tools fail with one clear line, config.json errors say where, the output is
readable, the README's requirement IDs resolve, and the project carries a
licence, one version and a changelog."""

import asyncio
import gc
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from harness.net import free_port
from harness.firmware import EXIT_CONFIG, FAST, REPO, merge

sys.path.insert(0, str(REPO / "tools"))

from central_system import PLAN_KINDS, CentralSystemThread, PlanError, parse_plan  # noqa: E402

RUN_LOCAL = str(REPO / "tools" / "run_local.py")
CENTRAL_SYSTEM = str(REPO / "tools" / "central_system.py")
VERSION = re.search(r'__version__ = "([^"]+)"', (REPO / "lib/uocpp/__init__.py").read_text()).group(1)
FIRMWARE_LINE = re.compile(r"^\d+\.\d{3} [DIWE] [\w.]+: ")


# -- helpers: processes seen through /proc ------------------------------------


def proc_stat(pid):
    """(state, ppid, start time) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[1]), int(fields[19])


def descendants(pid):
    """Every live process below pid, found by scanning /proc for parents."""
    found, frontier = set(), {pid}
    while frontier:
        children = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = proc_stat(int(entry))
                if st and st[1] in frontier and int(entry) not in found:
                    children.add(int(entry))
        found |= children
        frontier = children
    return found


def running(pid, started):
    st = proc_stat(pid)
    return st is not None and st[2] == started and st[0] not in ("Z", "X")


class RunLocal:
    """tools/run_local.py as a process (what `make run` starts), its output read line by line."""

    def __init__(self, tmp_path, *args, config=None):
        cfg = merge(FAST, {"log": {"level": "info"}, "ocpp": {"heartbeatInterval": 1}})
        cfg = merge(cfg, config or {})
        cfg["centralSystem"]["url"] = "ws://127.0.0.1:9/ocpp"  # run_local points it at its own central system
        self.config = tmp_path / "config.json"
        self.config.write_text(json.dumps(cfg, indent=1))
        env = dict(os.environ, OCPP_FLASH_DIR=str(tmp_path / "flash"), PYTHONUNBUFFERED="1")
        argv = [sys.executable, RUN_LOCAL, "--config", str(self.config), *args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pattern, timeout=20, count=1):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [line for line in self.lines if rx.search(line)]
                if len(hits) >= count:
                    return hits[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._thread.is_alive()):
                    raise AssertionError("no line matching %r; output:\n%s" % (pattern, "\n".join(self.lines[-30:])))
                self._cond.wait(min(left, 0.5))

    def wait_exit(self, timeout=20):
        code = self.proc.wait(timeout)
        self._thread.join(5)
        return code

    def kill(self):
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(5)


@pytest.fixture
def run_local(tmp_path):
    started = []

    def start(*args, **kwargs):
        started.append(RunLocal(tmp_path, *args, **kwargs))
        return started[-1]

    yield start
    for r in started:
        if r.proc.poll() is None:
            r.kill()


# -- 1. clean shutdown ------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_make_run_stops_both_processes_on_signal(run_local, sig):
    """SIGTERM, SIGINT and SIGHUP to the supervisor stop the firmware too: no process of the run is left."""
    run = run_local("--port", str(free_port()))
    run.wait_line(r"boot: registration Accepted")
    procs = {run.proc.pid: proc_stat(run.proc.pid)[2]}
    for pid in descendants(run.proc.pid):  # the micropython wrapper and whatever it started
        st = proc_stat(pid)
        if st:
            procs[pid] = st[2]
    assert len(procs) >= 2, "the firmware process was not found below the supervisor"
    run.proc.send_signal(sig)
    assert run.wait_exit(20) == 0
    run.wait_line(r"^run: stopped$", 1)
    run.wait_line(r"main: interrupted, bye", 1)  # the firmware stopped cleanly, not killed
    deadline = time.monotonic() + 5
    while any(running(pid, t) for pid, t in procs.items()) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid, t in procs.items() if running(pid, t)]
    assert not left, "processes of the run still running: %r" % left


def test_make_run_output_is_one_readable_line_per_message(run_local):
    """One line per OCPP message from the central system (action, the fields that matter); no line merges two sources."""
    run = run_local("--port", str(free_port()), "--boot", "Pending:1,Accepted:1")
    run.wait_line(r"^CS CP001 → Heartbeat$", count=2)
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait_exit(20) == 0
    lines = run.lines
    for line in lines:
        assert line.startswith("CS ") or line.startswith("run: ") or FIRMWARE_LINE.match(line), "unexpected line: %r" % line
        # a second source's start inside a line would mean two lines merged
        assert not re.search(r".(CS CP001 [→←]|\d+\.\d{3} [DIWE] [\w.]+: |run: )", line), "merged line: %r" % line
        assert "[2," not in line and '"BootNotification"' not in line, "raw frame: %r" % line
    assert "CS CP001 → BootNotification TestVendor/TestModel firmware %s" % VERSION in lines
    assert "CS CP001 ← Pending interval 1" in lines
    assert "CS CP001 ← Accepted interval 1" in lines
    assert "CS CP001 → StatusNotification connector 1 Available" in lines
    assert any(re.match(r"^CS CP001 ← time \d{4}-\d\d-\d\dT", line) for line in lines)
    # the firmware was pointed at the bundled central system, and said so
    assert any(line.startswith("run: ") and "centralSystem.url ws://127.0.0.1:" in line for line in lines)


# -- 2. errors instead of tracebacks ----------------------------------------------


def one_line(res):
    text = (res.stdout + res.stderr).strip()
    assert "Traceback" not in text, text
    assert len(text.splitlines()) == 1, text
    return text


def test_port_in_use_is_one_line_and_non_zero(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for tool in (RUN_LOCAL, CENTRAL_SYSTEM):
            res = subprocess.run([sys.executable, tool, "--port", str(port)], capture_output=True, text=True, timeout=30, cwd=tmp_path)
            assert res.returncode == 1, res
            line = one_line(res)
            assert "cannot listen on 127.0.0.1:%d" % port in line and "already in use" in line


@pytest.mark.parametrize(
    "plan,names",
    [
        ("Pending:abc", "step 1 of 1 ('Pending:abc'): the interval must be a whole number"),
        ("Accepted:10,Acepted:5", "step 2 of 2 ('Acepted:5'): unknown kind 'Acepted'"),
        ("Pending:-1", "step 1 of 1 ('Pending:-1')"),
        ("drop:3", "drop takes no interval"),
        ("Accepted:10,", "step 2 of 2 ('') is empty"),
    ],
)
def test_bad_boot_plan_is_one_line_naming_the_step(plan, names):
    for tool in (RUN_LOCAL, CENTRAL_SYSTEM):
        res = subprocess.run([sys.executable, tool, "--port", "0", "--boot", plan], capture_output=True, text=True, timeout=30)
        assert res.returncode == 2, res
        line = one_line(res)
        assert line.startswith(os.path.basename(tool) + ": --boot " + plan + ": ")
        assert names in line


def test_boot_plan_syntax():
    assert parse_plan("Pending:3,Accepted:10") == [("Pending", 3), ("Accepted", 10)]
    assert parse_plan("accepted, drop,ERROR,Rejected:0") == [("Accepted", 0), ("drop", 0), ("error", 0), ("Rejected", 0)]
    for bad in ("", "Accepted:1.5", "Accepted:10:5", "Maybe"):
        with pytest.raises(PlanError):
            parse_plan(bad)


def test_help_documents_the_boot_plan():
    for tool in (RUN_LOCAL, CENTRAL_SYSTEM):
        text = subprocess.run([sys.executable, tool, "--help"], capture_output=True, text=True, timeout=30).stdout
        for kind in PLAN_KINDS:
            assert kind in text
        assert "When the plan runs out, its last step answers" in text
        assert "--port" in text


def test_make_run_takes_cs_port():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    res = subprocess.run(["make", "--no-print-directory", "-n", "run", "CS_PORT=9123"], cwd=REPO, capture_output=True, text=True, env=env, timeout=30)
    assert "tools/run_local.py" in res.stdout and "--port 9123" in res.stdout, res.stdout + res.stderr


# -- 3. config.json errors ---------------------------------------------------------


def halt_line(firmware, raw):
    fw = firmware(1, raw_config=raw)
    assert fw.wait_exit(10) == EXIT_CONFIG
    assert "Traceback" not in fw.log
    return fw, fw.wait_log(r"halted: (.*)").group(1)


@pytest.mark.parametrize(
    "raw,where,expected",
    [
        ('{\n  "centralSystem": {\n    "url": "ws://x/ocpp"\n    "chargePointId": "CP1"\n  }\n}', "line 4, column 5", "expected ',' or '}' after the value of \"url\", found '\"'"),
        ('{"chargePoint": ', "line 1, column 17", "expected a value"),
        ('{\n "a": 1,\n}', "line 3, column 1", "expected a key in double quotes (no comma before '}'), found '}'"),
        ("{'log': {}}", "line 1, column 2", "expected a key in double quotes"),
        ('{"log": {"level": "info"}} x', "line 1, column 28", "expected nothing after the closing bracket"),
        ('{"log": {"level": "in\tfo"}}', "line 1, column 22", "found character U+0009"),
        ('\ufeff{}', "line 1, column 1", "byte-order mark"),
    ],
)
def test_config_not_json_says_where_and_what_was_expected(firmware, raw, where, expected):
    fw, line = halt_line(firmware, raw)
    assert line.startswith("%s: not valid JSON: %s: " % (fw.config_path, where)), line
    assert expected in line


@pytest.mark.parametrize("raw", ["", "  \n\n"])
def test_config_empty_says_so_and_names_the_file(firmware, raw):
    fw, line = halt_line(firmware, raw)
    assert line.startswith("%s: is empty" % fw.config_path)


def test_config_problems_in_the_order_of_the_file(firmware):
    raw = """{
  "log": {"level": "loud"},
  "mystery": {},
  "chargePoint": {"chargePointModel": 42, "colour": "red"},
  "centralSystem": {"url": "ws://127.0.0.1:9/ocpp", "chargePointId": "CP1"},
  "ocpp": {"bogus": 1, "heartbeatInterval": 0}
}"""
    fw = firmware(1, raw_config=raw)
    assert fw.wait_exit(10) == EXIT_CONFIG
    log = fw.log
    assert "%s has 7 problem(s):" % fw.config_path in log
    listed = [line.strip().split(":")[0] for line in log.splitlines() if line.startswith("  ")]
    assert listed == ["log.level", "mystery", "chargePoint.chargePointVendor", "chargePoint.chargePointModel", "chargePoint.colour", "ocpp.bogus", "ocpp.heartbeatInterval"]


def test_firmware_version_defaults_to_the_library_version(cs, firmware):
    fw = firmware(cs.port)
    boot = cs.wait_received("BootNotification")[0]
    assert boot.payload["firmwareVersion"] == VERSION
    fw.wait_log("registration Accepted")


# -- 4. no asyncio noise from the test servers ---------------------------------------


def test_test_servers_leave_no_pending_task(firmware, caplog):
    """Stopping the raw server and the central system with a firmware connected destroys no pending task."""
    from harness.raw_server import RawServer

    async def stalled(conn):
        # a script that waits on something other than the socket when the server stops
        await conn.handshake()
        await asyncio.sleep(3600)

    caplog.set_level(logging.WARNING, logger="asyncio")
    raw = RawServer(scripts=[stalled]).start()
    cs = CentralSystemThread(boot_plan=[("Accepted", 60)]).start()
    try:
        firmware(raw.port)
        fw_cs = firmware(cs.port)
        raw.wait_upgraded()
        fw_cs.wait_log("registration Accepted")
    finally:
        raw.stop()
        cs.stop()
    del raw, cs
    gc.collect()
    noise = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert noise == []


# -- 5. requirement IDs resolve inside the repository ---------------------------------

ID = re.compile(r"\b(?:J|BN|HB|TM|CFG|KEY|RST|ERR|SEC|BO|TX|FW|DIAG|WEB|HA|MQ)-\d+\b")


def test_every_requirement_id_used_is_in_docs_requirements():
    doc = (REPO / "docs" / "requirements.md").read_text()
    listed = {}
    for line in doc.splitlines():
        m = re.match(r"^\| (%s) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$" % ID.pattern, line)
        if m:
            assert m.group(1) not in listed, "listed twice: " + m.group(1)
            listed[m.group(1)] = m.groups()[1:]
            assert all(field.strip() for field in m.groups()[1:]), line
    files = [REPO / "README.md", REPO / "CHANGELOG.md", REPO / "boot.py", REPO / "main.py"]
    for top in ("tests", "harness", "lib", "tools", "bench"):
        files += sorted((REPO / top).rglob("*.py"))
    missing = {}
    for path in files:
        for rid in ID.findall(path.read_text(errors="replace")):
            if rid not in listed:
                missing.setdefault(rid, str(path.relative_to(REPO)))
    assert not missing, "requirement IDs not in docs/requirements.md: %r" % missing
    assert "docs/requirements.md" in (REPO / "README.md").read_text()


# -- 6. project hygiene ---------------------------------------------------------------


def test_licence_version_and_changelog():
    licence = (REPO / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Copyright (c) 2026 the uOCPP authors" in licence
    assert json.loads((REPO / "package.json").read_text())["version"] == VERSION, "run: python tools/package_json.py"
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(r"^## %s\b" % re.escape(VERSION), changelog, re.M)
    assert re.search(r"^## 0\.1\.0\b", changelog, re.M)
    # the version is written in one place only
    others = [p for p in ("config.json", "manifest.py", "main.py", "boot.py") if '"%s"' % VERSION in (REPO / p).read_text()]
    assert others == []
