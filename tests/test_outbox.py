"""The outbox's durable lane end to end: messages on flash from before a
reboot go out after the next Accepted BootNotification, in order, with the
unique id they were stored with, and only once. (Transaction messages are
its users; StatusNotification stands in here, as the bundled central system
answers it.)"""

from harness.firmware import run_micropython

STORE = """
import json
from uocpp.store.journal import Journal
j = Journal(%r, 32768)
for n in (1, 2, 3):
    j.append(json.dumps(["stored-%%d" %% n, "StatusNotification",
        {"connectorId": 0, "errorCode": "NoError", "status": "Available", "info": "stored %%d" %% n, "timestamp": "2026-12-02T00:00:0%%dZ" %% n}, None]))
print("stored", len(j))
"""


def calls(cs):
    return [f for f in cs.received() if f.kind == 2]


def test_stored_messages_survive_a_reboot_and_go_out_once_in_order(cs, firmware, tmp_path):
    """J-15, J-17, BN-04: stored messages wait for Accepted, leave in order with their stored ids, and are removed once answered."""
    work = tmp_path / "fw"
    (work / "flash").mkdir(parents=True)
    res = run_micropython(STORE % str(work / "flash" / "outbox.journal"))
    assert "stored 3" in res.stdout, res.stdout + res.stderr
    fw = firmware(cs.port, workdir=work)
    cs.wait_for(lambda fs: len([f for f in calls(cs) if str(f.msg[1]).startswith("stored-")]) == 3, 10, "the stored messages")
    order = [(f.action, f.msg[1]) for f in calls(cs)]
    assert order[0][0] == "BootNotification"
    stored = [uid for action, uid in order if str(uid).startswith("stored-")]
    assert stored == ["stored-1", "stored-2", "stored-3"]
    # durable before volatile: the stored ones come right after the BootNotification
    assert [uid for _, uid in order[1:4]] == stored
    # One CALL in flight: the next one goes out only once stored-3's reply is in.
    cs.wait_for(lambda fs: len(calls(cs)) >= 5, 10, "a CALL after the stored ones")
    fw.stop()
    again = firmware(cs.port, workdir=work)
    cs.wait_received("BootNotification", count=2)
    cs.wait_received("StatusNotification", count=4)  # the live ones of the second run
    again.stop()
    ids = [f.msg[1] for f in calls(cs)]
    assert sorted(i for i in ids if str(i).startswith("stored-")) == ["stored-1", "stored-2", "stored-3"]
