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

    def __init__(self, tmp_path, *args, config=None, base=None, name="config.json"):
        cfg = merge(base or FAST, {"log": {"level": "info"}, "ocpp": {"heartbeatInterval": 1}} if base is None else {})
        cfg = merge(cfg, config or {})
        if "url" not in (config or {}).get("centralSystem", {}):
            cfg["centralSystem"]["url"] = "ws://127.0.0.1:9/ocpp"  # run_local points it at its own central system
        self.config = tmp_path / name
        self.config.write_text(json.dumps(cfg, indent=1))
        env = dict(os.environ, OCPP_FLASH_DIR=str(tmp_path / "flash"), PYTHONUNBUFFERED="1")
        argv = [sys.executable, RUN_LOCAL, "--config", str(self.config), *args]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
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

    def type(self, line):
        """A line typed on make run's terminal (a central-system command)."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

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
    assert not any(re.search(r"did not stop|Traceback", line) for line in run.lines), run.lines[-20:]  # ended at once, no grace period
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
    files = [REPO / "README.md", REPO / "CHANGELOG.md", REPO / "boot.py", REPO / "main.py"] + sorted((REPO / "docs").glob("*.md"))
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


# -- 7. issue 26: the rough edges of the first hour -------------------------------------


def evse(port, *commands):
    """Lines to the EVSE simulator's protocol (what tools/evse.py sends); each must answer ok."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        f = sock.makefile("rw")
        for command in commands:
            f.write(command + "\n")
            f.flush()
            reply = f.readline().strip()
            assert reply.startswith("ok"), (command, reply)


def demo_config(sim_port, **ocpp):
    """The repository's config.json (the walkthrough's) with its simulator on sim_port."""
    cfg = json.loads((REPO / "config.json").read_text())
    cfg["simulator"]["port"] = sim_port
    cfg["ocpp"].update(ocpp)
    return cfg


def test_demo_config_seeds_a_sample_interval_so_the_walkthrough_shows_meter_values(run_local):
    """Issue 26: config.json's ocpp.meterValueSampleInterval seeds MeterValueSampleInterval: a charge started as the
    walkthrough does shows periodic MeterValues at the bundled central system within a minute (2 s here)."""
    assert json.loads((REPO / "config.json").read_text())["ocpp"]["meterValueSampleInterval"] <= 30
    sim = free_port()
    run = run_local("--port", str(free_port()), base=demo_config(sim, meterValueSampleInterval=2))
    run.wait_line(r"boot: registration Accepted", 20)
    run.wait_line(r"evse: simulator listening")
    evse(sim, "power 1 7400", "plug 1", "card 1 ALICE", "charge 1")
    run.wait_line(r"^CS CP001 → StartTransaction connector 1 idTag ALICE", 20)
    run.wait_line(r"^CS CP001 → MeterValues connector 1 transaction 1001 Sample\.Periodic: Energy", 60)


def test_the_bundled_central_system_takes_change_configuration_and_trigger_message_from_its_terminal(run_local):
    """Issue 26: `change KEY VALUE` and `trigger MESSAGE [N]` typed on make run's terminal reach the charge point
    (each CALL and its answer on a CS line); a mistyped command gets one line saying how to write it."""
    sim = free_port()
    run = run_local("--port", str(free_port()), base=demo_config(sim, meterValueSampleInterval=0))
    run.wait_line(r"^CS type help for the commands")
    run.wait_line(r"boot: registration Accepted", 20)
    run.wait_line(r"evse: simulator listening")
    evse(sim, "power 1 7400", "plug 1", "card 1 ALICE", "charge 1")
    run.wait_line(r"^CS CP001 ← Accepted transaction 1001", 20)
    run.type("change MeterValueSampleInterval 1")
    run.wait_line(r"^CS CP001 ← ChangeConfiguration key=MeterValueSampleInterval value=1$")
    run.wait_line(r"^CS CP001 → status=Accepted$")
    run.wait_line(r"^CS CP001 → MeterValues connector 1 transaction 1001 Sample\.Periodic: Energy", 30)
    run.type("trigger StatusNotification 1")
    run.wait_line(r"^CS CP001 ← TriggerMessage requestedMessage=StatusNotification connectorId=1$")
    run.wait_line(r"^CS CP001 → StatusNotification connector 1 Charging$")
    run.type("trigger Nonsense")
    run.wait_line(r"^CS trigger: unknown message 'Nonsense'; one of BootNotification, ")
    run.type("help")
    run.wait_line(r"^CS   change KEY VALUE ")
    help_text = subprocess.run([sys.executable, RUN_LOCAL, "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "change KEY VALUE" in help_text and "trigger MESSAGE [N]" in help_text
    help_text = subprocess.run([sys.executable, CENTRAL_SYSTEM, "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "change KEY VALUE" in help_text and "trigger MESSAGE [N]" in help_text


def test_a_second_make_run_on_the_same_flash_says_so_in_one_line(run_local):
    """Issue 26: a second `make run` in the same clone (the same ./flash) finds the first's lock: one line naming the
    flash directory and the first's pid, exit status 1, no traceback, and the first goes on undisturbed."""
    first = run_local("--port", str(free_port()), config={"simulator": {"port": free_port()}})
    first.wait_line(r"boot: registration Accepted")
    second = run_local("--port", str(free_port()), config={"simulator": {"port": free_port()}}, name="second.json")
    assert second.wait_exit(20) == 1
    assert len(second.lines) == 1, second.lines
    assert "is in use by another `make run` (pid %d)" % first.proc.pid in second.lines[0]
    assert second.lines[0].startswith("run: ") and "flash" in second.lines[0]
    assert first.proc.poll() is None
    first.wait_line(r"^CS CP001 → Heartbeat$", count=len([x for x in first.lines if x == "CS CP001 → Heartbeat"]) + 1)


@pytest.mark.parametrize(
    "url,problem",
    [
        ("127.0.0.1:9000/ocpp", "centralSystem.url: must start with ws:// or wss://"),
        ("http://127.0.0.1:9000/ocpp", "centralSystem.url: must start with ws:// or wss://"),
    ],
)
def test_make_run_checks_the_users_config_before_it_makes_a_copy(run_local, url, problem):
    """Issue 26: a url without ws:// (or with http://) is an error of the user's config.json, as on a board: not
    rewritten into a valid one. Type and unknown-key problems name the user's file, not a copy in flash/; exit 78."""
    run = run_local("--port", str(free_port()), config={"centralSystem": {"url": url}, "ocpp": {"bogus": 1, "heartbeatInterval": "60"}})
    assert run.wait_exit(20) == EXIT_CONFIG
    assert run.lines[0] == "run: %s has 3 problem(s):" % run.config, run.lines
    assert "  " + problem in run.lines
    assert "  ocpp.bogus: unknown key" in run.lines
    assert "  ocpp.heartbeatInterval: must be a number, not str" in run.lines
    assert "Traceback" not in "\n".join(run.lines) and "run_local.config.json" not in "\n".join(run.lines)
    assert not (run.config.parent / "flash" / "run_local.config.json").exists()


def test_ctrl_c_ends_make_run_with_status_0(tmp_path):
    """Issue 26: Ctrl-C on the terminal of `make run` (SIGINT to the terminal's foreground) stops both and make exits
    0, as the docs say (it was 130: make died of the SIGINT)."""
    import pty
    import select

    cfg = merge(FAST, {"log": {"level": "info"}, "simulator": {"port": free_port()}, "centralSystem": {"url": "ws://127.0.0.1:9/ocpp"}})
    config = tmp_path / "config.json"
    config.write_text(json.dumps(cfg))
    pid, fd = pty.fork()
    if pid == 0:  # the child: make on the pty as its controlling terminal, as in a shell
        os.environ["OCPP_FLASH_DIR"] = str(tmp_path / "flash")
        os.chdir(str(REPO))
        os.execvp("make", ["make", "--no-print-directory", "run", "CS_PORT=%d" % free_port(), "CONFIG=%s" % config])
    out = b""

    def read_until(pattern, timeout):
        nonlocal out
        deadline = time.monotonic() + timeout
        while not re.search(pattern, out):
            left = deadline - time.monotonic()
            assert left > 0, out.decode(errors="replace")[-3000:]
            if select.select([fd], [], [], min(left, 0.5))[0]:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                assert data, out.decode(errors="replace")[-3000:]
                out += data

    try:
        read_until(rb"registration Accepted", 30)
        os.write(fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT to its foreground process group
        read_until(rb"run: stopped", 20)
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline, "make did not exit"
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    pass
    except BaseException:
        os.kill(pid, signal.SIGKILL)  # make; run_local and the firmware die with the pty
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode(errors="replace")[-2000:]
    # Ended as a power cut would end it (tools/run_local.py says why not by
    # SIGINT): no traceback, no wait for a grace period.
    assert b"Traceback" not in out and b"did not stop" not in out, out.decode(errors="replace")[-2000:]


def make(*args, timeout=60):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_make_help_lists_every_user_facing_target_one_line_each():
    """Issue 26: `make` alone and `make help` print one line per user-facing target."""
    res = make("help")
    assert res.returncode == 0 and make().stdout == res.stdout
    lines = res.stdout.splitlines()
    targets = [line.split()[1] for line in lines]
    for target in ("run", "twin", "firmware", "test", "lint", "soak", "bench", "mpy", "deploy", "romfs", "deploy-romfs", "update-bundle", "update-image", "clean"):
        assert target in targets, res.stdout
    assert all(line.startswith("make ") for line in lines)


def test_make_deploy_without_a_board_says_no_board_found(tmp_path):
    """Issue 26: no device at PORT: one clear line before anything is compiled, not mpremote's "may be in use"."""
    res = make("deploy", "PORT=/dev/ttyUSB-none", "BUILD=%s" % tmp_path)
    assert res.returncode != 0
    assert "deploy: no board found on PORT=/dev/ttyUSB-none" in res.stdout
    assert "in use" not in res.stdout + res.stderr and not (tmp_path / "esp32").exists()


@pytest.mark.parametrize("version", ["abc", "1.2", "v1.2.3", "01.2.3", "1.2.3-"])
def test_make_update_bundle_refuses_a_version_of_another_format(tmp_path, version):
    """Issue 26: VERSION must be MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]; anything else is refused before a build."""
    res = make("-o", ".venv/.installed", "update-bundle", "VERSION=%s" % version, "BUILD=%s" % tmp_path)  # the venv as it is
    assert res.returncode != 0
    assert "the version must be MAJOR.MINOR.PATCH" in res.stdout + res.stderr
    assert not list(tmp_path.glob("update-*"))


def test_update_versions_of_the_documented_format_are_taken():
    import make_update

    for version in ("1.2.3", "0.2.0", "1.2.3-rc1", "1.2.3+site4", "9.9.9-fw"):
        assert make_update.version_problem(version) is None, version


def test_after_ctrl_c_mid_charge_the_simulated_meter_keeps_its_register_and_the_power_loss_stop_bills_it(charger, cs, firmware, tmp_path):
    """Issue 26: the simulated meter keeps its energy register across a restart, as a real meter does: Ctrl-C in the
    middle of a charge, and the next boot's PowerLoss stop bills the energy charged (it restarted at 0 and billed
    nothing when sampling was off)."""
    from harness.firmware import interrupt

    work = tmp_path / "fw"
    ch = charger(workdir=work)
    ch.evse("meter 1 5000", "power 1 72000", "plug 1", "card 1 ALICE", "charge 1")
    tid = ch.transaction_id()
    assert ch.wait_call("StartTransaction")[0]["meterStart"] == 5000
    deadline = time.monotonic() + 10
    while ch.state(1)["energyWh"] < 5030:  # 20 Wh a second
        assert time.monotonic() < deadline, ch.state(1)
        time.sleep(0.1)
    interrupt(ch.fw.proc)  # Ctrl-C under make run: the firmware ends as at a power cut
    assert ch.fw.proc.returncode is not None
    again = firmware(cs.port, {"simulator": {"port": ch.port}, "log": {"level": "info"}}, workdir=work)
    again.wait_log("simulator listening")
    stop = ch.wait_call("StopTransaction", timeout=10)[0]
    assert stop["reason"] == "PowerLoss" and stop["transactionId"] == tid
    assert stop["meterStop"] >= 5030, stop
    assert ch.state(1)["energyWh"] >= stop["meterStop"]  # the register went on from where it was


def test_log_lines_name_a_transaction_by_the_central_systems_id_and_a_fault_is_logged(charger):
    """Issue 26: once StartTransaction.conf brought the id (1001), every log line about the transaction says 1001;
    one line ties it to the local number. A fault from the EVSE (tools/evse.py fault) is logged by the firmware."""
    ch = charger()
    ch.evse("power 1 7000", "plug 1", "card 1 ALICE", "charge 1")
    tid = ch.transaction_id()
    ch.fw.wait_log(r"connector 1: transaction local 1 started by ALICE at 0 Wh")
    ch.fw.wait_log(r"session: transaction local 1 is %d at the central system" % tid)
    ch.evse("fault 1 GroundFailure")
    ch.fw.wait_log(r"W session: connector 1: fault GroundFailure: relay open")
    ch.fw.wait_log(r"session: transaction %d stopped \(Other\) at \d+ Wh" % tid)
    ch.evse("clear 1")
    ch.fw.wait_log(r"I session: connector 1: fault cleared")
    about = [line for line in ch.fw.log.splitlines() if "transaction" in line and "session:" in line]
    assert all(str(tid) in line for line in about if "local 1" not in line), about
    assert not [line for line in about if re.search(r"transaction 1\b", line)], about


def lib_without_microdot(tmp_path):
    lib = tmp_path / "lib_without_microdot"
    lib.mkdir()
    for entry in (REPO / "lib").iterdir():
        if entry.name != "microdot":
            (lib / entry.name).symlink_to(entry)
    return {"MICROPYPATH": ".frozen:%s" % lib}


def test_setup_mode_without_microdot_halts_with_one_clear_line(firmware, tmp_path):
    """Issue 26: setup mode needs microdot; without lib/microdot the firmware says so in one line and halts (78), no
    ImportError traceback."""
    fw = firmware(9, {"web": {"setupMode": True, "port": free_port(), "host": "127.0.0.1", "apPassword": "setup-secret-42"}}, env=lib_without_microdot(tmp_path))
    assert fw.wait_exit(10) == EXIT_CONFIG
    fw.wait_log(r"halted: setup mode: the web page needs microdot, which is not installed \(lib/microdot/\)")
    assert "Traceback" not in fw.log


def test_status_page_without_microdot_is_off_and_the_charger_runs_on(cs, firmware, tmp_path):
    """Issue 26: web.enabled without microdot: one error line, and the charger registers without its page."""
    fw = firmware(cs.port, {"web": {"enabled": True, "port": free_port(), "host": "127.0.0.1", "password": "status-secret-17"}}, env=lib_without_microdot(tmp_path))
    fw.wait_log(r"E web: status page off: the web page needs microdot, which is not installed")
    fw.wait_log("registration Accepted")
    assert "Traceback" not in fw.log


def test_a_second_firmware_on_the_same_simulator_port_halts_with_one_line(firmware, cs, tmp_path):
    """Issue 26: a firmware whose simulator.port another one holds (a second run with its own flash directory)
    says so in one line and exits 78, not an EADDRINUSE traceback and a run without its simulator."""
    port = free_port()
    first = firmware(cs.port, {"simulator": {"port": port}}, workdir=tmp_path / "one")
    first.wait_log("simulator listening on 127.0.0.1:%d" % port)
    second = firmware(cs.port, {"simulator": {"port": port}}, workdir=tmp_path / "two")
    assert second.wait_exit(10) == EXIT_CONFIG
    second.wait_log(r"halted: simulator.port %d: cannot listen \(.*\): another firmware \(make run\) is using it" % port)
    assert "Traceback" not in second.log
    assert first.proc.poll() is None
