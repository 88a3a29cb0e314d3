"""Charging-session benchmarks (issue 12): live-heap growth over many
sessions, the heap held by transaction messages queued offline (they must
live on flash), and flash wear (issue 24): the bytes written per hour of
charging, per message once the journal is full (offline for long), and
per 1,000 ChangeConfiguration calls that change nothing.

    .venv/bin/python bench/charging.py [--quick] [--write-readme]

Runs the .mpy build of the firmware on the unix port against the bundled
central system, driving the EVSE simulator; reads the firmware's heap
report (`log.heapInterval`: live heap after gc.collect(), and the bytes
written to flash since boot, as counted where the firmware writes: JSON
files, the journal, the flash log). Prints one table; --write-readme also
puts it into docs/performance.md's marked block.
"""

import argparse
import json
import re
import sys
import tempfile
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

from bench import common  # noqa: E402
from harness.net import free_port  # noqa: E402
import evse as evse_client  # noqa: E402

REPORT = re.compile(r"diag: heap alloc=(\d+) free=\d+ flash=(\d+)")


def last_report(fw, after=0, timeout=10):
    """(live heap, flash bytes) of the first heap report after `after` reports; -> (values, count)."""
    fw.wait_log(REPORT.pattern, count=after + 1, timeout=timeout)
    hits = [REPORT.search(line) for _, line in fw.lines]
    hits = [h for h in hits if h]
    return (int(hits[-1].group(1)), int(hits[-1].group(2))), len(hits)


def settle(fw, n=2):
    """Two fresh heap reports after now: the second one is taken at rest."""
    _, count = last_report(fw)
    return last_report(fw, count + n - 1)[0]


def firmware(work, cs, build, port, keys=None, config=None):
    flash = Path(work) / "flash"
    flash.mkdir(parents=True, exist_ok=True)
    if keys:
        (flash / "keys.json").write_text(json.dumps(keys))
    cfg = common.merge({"simulator": {"port": port}, "log": {"level": "info", "heapInterval": 0.3}}, config or {})
    fw = common.make_firmware(work, cs, build, config=cfg)
    fw.start()
    deadline = time.monotonic() + 10
    while True:  # the simulator port answers once the firmware runs
        try:
            evse_client.send(["state"], port=port, timeout=2)
            return fw
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def session(port, tag="BENCH"):
    evse_client.send(["plug 1", "card 1 %s" % tag, "charge 1", "unplug 1"], port=port)


def sessions_growth(build, count):
    with tempfile.TemporaryDirectory() as d:
        cs = common.start_cs()
        port = free_port()
        fw = firmware(d, cs, build, port, keys={"AuthorizeRemoteTxRequests": "false"})
        try:
            warm = max(10, count // 10)
            for _ in range(warm):
                session(port)
            before = settle(fw)[0]
            for _ in range(count):
                session(port)
            deadline = time.monotonic() + 30
            while len(common.received(cs, "CP001", "StopTransaction")) < warm + count and time.monotonic() < deadline:
                time.sleep(0.1)
            after = settle(fw)[0]
            stops = len(common.received(cs, "CP001", "StopTransaction"))
        finally:
            fw.stop()
            cs.stop()
    return before, after, stops


def offline_queue(build, messages):
    """Live heap before and after `messages` transaction messages were queued offline."""
    with tempfile.TemporaryDirectory() as d:
        cs = common.start_cs()
        port = free_port()
        keys = {"AllowOfflineTxForUnknownId": "true"}
        fw = firmware(d, cs, build, port, keys=keys, config={"storage": {"maxTransactions": 1000, "journalBytes": 1048576}})
        try:
            fw.wait_log("registration Accepted")
            cs.stop()
            fw.wait_log("link: disconnected")
            session(port, "OFFLINE")  # the journal's code is loaded with the first message
            before = settle(fw)[0]
            for _ in range(messages // 2 - 1):  # a StartTransaction and a StopTransaction each
                session(port, "OFFLINE")
            after = settle(fw)[0]
            journal = Path(d) / "flash" / "outbox.journal"
            size = journal.stat().st_size if journal.exists() else 0
        finally:
            fw.stop()
    return before, after, size


def flash_per_hour(build, samples):
    """Flash bytes per sampled MeterValues and per session (start + stop), -> per hour at 60 s,
    and the heap report's own log lines per sample (counted in the first figure)."""
    with tempfile.TemporaryDirectory() as d:
        cs = common.start_cs()
        port = free_port()
        fw = firmware(d, cs, build, port, keys={"MeterValueSampleInterval": "1"})
        try:
            idle = settle(fw)[1]
            evse_client.send(["power 1 11000", "plug 1", "card 1 WEAR", "charge 1"], port=port)
            started = settle(fw, 1)[1]
            mv0 = len(common.received(cs, "CP001", "MeterValues"))
            t0 = started
            deadline = time.monotonic() + samples * 2 + 10
            while len(common.received(cs, "CP001", "MeterValues")) < mv0 + samples and time.monotonic() < deadline:
                time.sleep(0.1)
            sampled = settle(fw, 1)[1]
            n = len(common.received(cs, "CP001", "MeterValues")) - mv0
            evse_client.send(["unplug 1"], port=port)
            stopped = settle(fw)[1]
        finally:
            fw.stop()
            cs.stop()
        ours = report_lines_bytes(Path(d) / "flash", t0, sampled)
    per_sample = (sampled - t0) / max(1, n)
    per_session = (started - idle) + (stopped - sampled)
    return per_sample, per_session, 60 * per_sample + per_session, ours / max(1, n)


def report_lines_bytes(flash, low, high):
    """Bytes the heap report's own lines put into the flash log while the
    firmware's count went from `low` to `high`: each line carries the count
    from just before it was written, so those with low <= count < high."""
    total = 0
    for ring in sorted((Path(flash) / "log").glob("*.txt")):
        for line in ring.read_bytes().splitlines(keepends=True):
            m = REPORT.search(line.decode(errors="replace"))
            if m and low <= int(m.group(2)) < high:
                total += len(line)
    return total


PREFILL = """
from uocpp.outbox import Outbox
lane = Outbox(None, None, None, None, None, %(path)r, %(size)d)
sv = {"value": "0", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
n = 0
while lane.stored_count("MeterValues") == n:  # until the first one is dropped: full
    n += 1
    sv["value"] = str(n)
    lane.store("MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": "2026-12-01T00:00:00Z", "sampledValue": [sv]}]}, 0)
print("stored", n)
"""


def last_seq(path):
    from harness.ledger import scan_journal

    records = scan_journal(path)[0]
    return records[-1][0] if records else 0


def journal_full(build, samples, journal_bytes=8192):
    """Flash bytes per MeterValues sampled offline with the journal full
    (each one drops the oldest stored), at journalBytes `journal_bytes`;
    -> (bytes per message, of which the heap report's lines, messages)."""
    import subprocess

    with tempfile.TemporaryDirectory() as d:
        flash = Path(d) / "flash"
        flash.mkdir()
        journal = flash / "outbox.journal"
        env = dict(build.env, MICROPYPATH=".frozen:%s" % (HERE.parent / "lib"))
        out = subprocess.run(
            [build.micropython, "-c", PREFILL % {"path": str(journal), "size": journal_bytes}], env=env, capture_output=True, text=True, timeout=120
        )
        if "stored" not in out.stdout:
            raise RuntimeError("prefilling the journal failed: " + out.stdout + out.stderr)
        # Offline from boot (nothing listens at the central system's port):
        # online, the prefilled messages would go out first.
        cs = types.SimpleNamespace(port=free_port())
        port = free_port()
        keys = {"MeterValueSampleInterval": "1", "AllowOfflineTxForUnknownId": "true"}
        config = {"storage": {"journalBytes": journal_bytes}, "reconnect": {"waitMinimum": 3600, "randomRange": 0}}
        fw = firmware(d, cs, build, port, keys=keys, config=config)
        try:
            fw.wait_log("backing off")
            evse_client.send(["power 1 11000", "plug 1", "card 1 OFFLINE", "charge 1"], port=port)
            fw.wait_log("journal full", timeout=15)
            begin = settle(fw, 1)[1]
            seq0 = last_seq(journal)
            deadline = time.monotonic() + samples * 2 + 10
            while last_seq(journal) < seq0 + samples and time.monotonic() < deadline:
                time.sleep(0.2)
            end = settle(fw, 1)[1]
            n = last_seq(journal) - seq0
            ours = report_lines_bytes(flash, begin, end)
        finally:
            fw.stop()
    n = max(1, n)
    return (end - begin) / n, ours / n, n


def unchanged_configuration(build, calls):
    """Flash bytes written by `calls` ChangeConfiguration requests that set
    a key to the value in force, not counting the heap report's own lines;
    -> (bytes, log lines about keys, the answers given)."""
    from ocpp.v16 import call

    with tempfile.TemporaryDirectory() as d:
        cs = common.start_cs()
        port = free_port()
        fw = firmware(d, cs, build, port)
        try:
            fw.wait_log("registration Accepted")
            cs.call("CP001", call.ChangeConfiguration(key="MeterValueSampleInterval", value="30"))
            fw.wait_log("keys: MeterValueSampleInterval changed")
            begin = settle(fw, 1)[1]
            lines = len(fw.lines)
            answers = {}
            for _ in range(calls):
                status = cs.call("CP001", call.ChangeConfiguration(key="MeterValueSampleInterval", value="30")).status
                answers[status] = answers.get(status, 0) + 1
            end = settle(fw, 1)[1]
            said = len([1 for _, line in fw.lines[lines:] if " keys: " in line])
            written = end - begin - report_lines_bytes(Path(d) / "flash", begin, end)
        finally:
            fw.stop()
            cs.stop()
    return written, said, answers


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check that every measurement runs")
    ap.add_argument("--write-readme", action="store_true", help="also replace docs/performance.md's marked charging block with the table")
    args = ap.parse_args()
    quick = args.quick
    with tempfile.TemporaryDirectory() as d:
        build = common.mpy_build(Path(d) / "mpy")
        sessions = 20 if quick else 1000
        before, after, stops = sessions_growth(build, sessions)
        messages = 20 if quick else 1000
        q_before, q_after, q_size = offline_queue(build, messages)
        per_sample, per_session, per_hour, per_sample_report = flash_per_hour(build, 3 if quick else 20)
        full, full_report, full_n = journal_full(build, 3 if quick else 30)
        calls = 50 if quick else 1000
        unchanged, unchanged_lines, answers = unchanged_configuration(build, calls)
    rows = [
        (
            "Live heap growth over %d charging sessions (.mpy)" % sessions,
            "%+d B (%d -> %d; %d StopTransactions answered)" % (after - before, before, after, stops),
            "0 B",
        ),
        (
            "Heap held by %d transaction messages queued offline" % messages,
            "%+d B (journal on flash: %s B)" % (q_after - q_before, format(q_size, ",")),
            "<= 2 KB",
        ),
        (
            "Flash written per sampled MeterValues / per session (start + stop)",
            "%.0f B (of which the heap report's own log lines %.0f B) / %.0f B" % (per_sample, per_sample_report, per_session),
            "",
        ),
        ("Flash written per hour of charging, MeterValueSampleInterval 60", "%.1f KB/h" % (per_hour / 1024), "<= 32 KB/h"),
        (
            "Flash written per MeterValues stored offline with the journal full (journalBytes 8192; each drops the oldest; %d messages)" % full_n,
            "%.0f B (of which the heap report's own log lines %.0f B)" % (full, full_report),
            "O(record), not O(journal)",
        ),
        (
            "Flash written by %s ChangeConfiguration calls setting the value in force (heap report's lines not counted)" % format(calls, ","),
            "%s B; %d log lines; answers %s" % (format(unchanged, ","), unchanged_lines, ", ".join("%s %d" % kv for kv in sorted(answers.items()))),
            "0 B",
        ),
    ]
    lines = ["| Charging measure | Figure | Goal |", "| --- | --- | --- |"]
    lines += ["| %s | %s | %s |" % r for r in rows]
    text = "\n".join(lines)
    if quick:
        text += "\n\n(quick run: tiny sizes)"
    print(text)
    if args.write_readme:
        common.write_blocks({"charging": text})


if __name__ == "__main__":
    main()
