"""The installer's local web page (issue 18, lib/uocpp/extras/web/): the setup
form in setup mode and the status page in normal mode, on the real firmware
(unix port), over plain HTTP (http.client) and in headless Chromium
(Selenium). Every refused request leaves config.json byte for byte as it was."""

import json
import socket
import time

import pytest

from harness.net import free_port
from harness.web_client import Browser, csrf_token, multipart, post_form, request, status_json

AP_PASSWORD = "setup-secret-42"
PAGE_PASSWORD = "status-secret-17"
AUTH_KEY = "0123456789abcdefXY"  # 18 printable characters (SEC-04)
FAKE_DER = b"\x30\x82\x01\x0a" + bytes(range(256)) + b"\x00" * 10  # starts like DER: a SEQUENCE


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.quit()


def setup_mode(firmware, cs_port, **web):
    """The firmware in setup mode (web.setupMode: the unix port's trigger); -> (fw, page port)."""
    port = free_port()
    cfg = {
        "web": dict({"setupMode": True, "port": port, "host": "127.0.0.1", "apPassword": AP_PASSWORD}, **web),
        "centralSystem": {"authorizationKey": AUTH_KEY, "securityProfile": 1},
    }
    fw = firmware(cs_port, cfg)
    fw.wait_log(r"setup page on http://127\.0\.0\.1:%d/" % port)
    return fw, port


def good_fields(cs_port, **over):
    f = {"ssid": "", "wifiPassword": "", "url": "ws://127.0.0.1:%d/ocpp" % cs_port, "chargePointId": "CP001", "authorizationKey": "", "securityProfile": "0"}
    f.update(over)
    return f


def test_setup_page_needs_the_ap_password_and_shows_no_secret(firmware, cs):
    """WEB-01, WEB-02: setup mode serves the form, only with the AP password; no OCPP link; no secret in the page or the log."""
    fw, port = setup_mode(firmware, cs.port)
    code, headers, body = request(port)
    assert code == 401 and headers["www-authenticate"].startswith("Basic ") and b"<form" not in body
    code, headers, body = request(port, password="wrong")
    assert code == 401 and b"<form" not in body
    code, _, body = request(port, path="/status.json", password="wrong")
    assert code in (401, 404) and b"registration" not in body
    code, headers, body = request(port, password=AP_PASSWORD)
    assert code == 200 and headers["content-type"].startswith("text/html")
    page = body.decode()
    assert '<form method="post"' in page and 'name="authorizationKey" value=""' in page
    assert AUTH_KEY not in page and AP_PASSWORD not in page
    fw.wait_log(r"401 for GET /: wrong password")
    assert "setup mode: the OCPP link stays off" in fw.log
    assert AP_PASSWORD not in fw.log and AUTH_KEY not in fw.log
    assert cs.received() == [] and fw.proc.poll() is None


def test_setup_page_generates_an_ap_password_and_logs_it_once(firmware, cs):
    """WEB-02: no web.apPassword: one is generated (WPA2: at least 8 characters), printed once, and opens the page."""
    fw, port = setup_mode(firmware, cs.port, apPassword="")
    password = fw.wait_log(r"access point and page password (\S+) \(generated").group(1)
    assert len(password) >= 8
    assert request(port, password=password)[0] == 200
    assert fw.log.count(password) == 1
    # On the console only: nothing on flash (a log there would outlive setup mode) has it.
    stored = b"".join(p.read_bytes() for p in fw.flash.rglob("*") if p.is_file())
    assert password.encode() not in stored


def test_bad_form_values_show_the_settings_errors_and_change_nothing(firmware, cs):
    """WEB-03: bad values -> settings.py's error texts on the page; config.json unchanged; still in setup mode."""
    fw, port = setup_mode(firmware, cs.port)
    before = fw.config_path.read_bytes()
    fields = good_fields(cs.port, url="http://example.com/ocpp", chargePointId="bad:id", securityProfile="7", authorizationKey="short")
    fields.update(ssid="s" * 33, wifiPassword="seven77")  # IEEE 802.11: SSID at most 32 bytes; WPA2 passphrase 8 to 63
    code, _, body = post_form(port, AP_PASSWORD, fields)
    page = body.decode()
    assert code == 200 and "Not saved" in page
    for text in (
        "centralSystem.url: must start with ws:// or wss://",
        "centralSystem.chargePointId: must be printable ASCII without ':'",
        "centralSystem.securityProfile: must be between 0 and 2",
        "centralSystem.authorizationKey: must be 16 to 20 printable ASCII characters or 32 to 40 hex digits",
        "wifi.ssid: must be at most 32 bytes (UTF-8)",
        "wifi.password: must be empty (an open network), 8 to 63 printable ASCII characters or 64 hex digits (WPA2)",
    ):
        assert text in page, text
    assert "short" not in page and "seven77" not in page  # a refused key or password is not echoed either
    # Profile 2 without its CA: the cross-key rule's text, next to the CA field.
    code, _, body = post_form(port, AP_PASSWORD, good_fields(cs.port, url="wss://127.0.0.1:1/ocpp", securityProfile="2"))
    assert "centralSystem.caFile: required by security profile 2 (CA certificate, DER)" in body.decode()
    fw.wait_log(r"setup form not saved: 1 problem")
    assert fw.config_path.read_bytes() == before
    assert fw.proc.poll() is None and not (fw.flash / "ca.der").exists()


def test_oversized_bodies_get_413_and_change_nothing(firmware, cs):
    """WEB-04: a request over 16 KB, a CA over 8 KB, a plain form over 4 KB -> 413; config.json unchanged, no CA stored."""
    fw, port = setup_mode(firmware, cs.port)
    before = fw.config_path.read_bytes()
    code, _, _ = post_form(port, AP_PASSWORD, good_fields(cs.port, ssid="x" * 17000))
    assert code == 413
    code, _, body = post_form(port, AP_PASSWORD, good_fields(cs.port), [("ca", "ca.der", b"\x30" + b"\x01" * 9000)])
    assert code == 413 and b"CA certificate is over 8192 B" in body
    token = csrf_token(port, AP_PASSWORD)
    code, _, _ = request(port, "POST", "/?csrf=" + token, AP_PASSWORD, b"url=" + b"a" * 5000, {"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 413
    # Header after header, no password: cut off at the request's budget (20 KB), never served.
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(b"GET / HTTP/1.0\r\n" + b"".join(b"X-Filler-%05d: %s\r\n" % (i, b"y" * 80) for i in range(400)))
            answer = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
    assert b"<form" not in answer and not answer.startswith(b"HTTP/1.0 200")
    fw.wait_log(r"request over 20480 B|request dropped")
    assert fw.config_path.read_bytes() == before
    assert sorted(p.name for p in fw.flash.iterdir() if p.name.startswith("ca")) == []
    assert request(port, password=AP_PASSWORD)[0] == 200 and fw.proc.poll() is None


def test_idle_connections_make_a_request_wait_not_fail(firmware, cs):
    """A browser opens connections ahead of use and leaves them idle. With both client slots held by such
    connections, up to four more requests wait for a slot and are answered once one frees, instead of a reset;
    a connection beyond them is refused at once, and said so in the log."""
    fw, port = setup_mode(firmware, cs.port)
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(7)]
    idle, waiting, beyond = socks[:2], socks[2:6], socks[6]
    for s in waiting + [beyond]:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    fw.wait_log(r"busy: connection refused \(2 at once\)")
    try:
        assert beyond.recv(100) == b""
    except ConnectionResetError:
        pass  # refused with its request unread: a reset, as it should be
    for s in idle:
        s.close()
    for s in waiting:
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.0 401"), answer[:80]
        s.close()
    beyond.close()
    assert fw.log.count("busy: connection refused") == 1 and fw.proc.poll() is None


def test_ca_upload_is_stored_under_its_fixed_name_whatever_the_client_calls_it(firmware, cs, tmp_path):
    """WEB-04, WEB-03: a CA named ../../evil.der is stored as flash/ca.der only; the form saved; exit 75 to restart."""
    fw, port = setup_mode(firmware, cs.port)
    files = [("ca", "../../../evil.der", FAKE_DER)]
    code, _, body = post_form(port, AP_PASSWORD, good_fields(cs.port, chargePointId="CP042"), files)
    assert code == 200 and b'id="saved"' in body
    assert fw.wait_exit(10) == 75
    assert (fw.flash / "ca.der").read_bytes() == FAKE_DER
    assert not list(tmp_path.parent.rglob("evil.der")) and not list(fw.flash.glob("*.tmp"))
    saved = json.loads(fw.config_path.read_text())
    cs_cfg = saved["centralSystem"]
    assert cs_cfg["caFile"] == str(fw.flash / "ca.der") and cs_cfg["chargePointId"] == "CP042"
    assert cs_cfg["authorizationKey"] == AUTH_KEY  # left empty in the form: kept
    assert saved["web"]["setupMode"] is False and saved["chargePoint"]["chargePointVendor"] == "TestVendor"
    assert "evil" not in fw.log and AUTH_KEY not in fw.log
    # A second CA goes to the other name: the old one stays whole until the
    # config.json that points to the new one is written, then goes.
    saved["web"]["setupMode"] = True
    again = firmware(cs.port, None, raw_config=json.dumps(saved), workdir=fw.workdir)
    again.wait_log(r"setup page on http://127\.0\.0\.1:%d/" % port)
    other = FAKE_DER[:-1] + b"\x01"
    code, _, body = post_form(port, AP_PASSWORD, good_fields(cs.port, chargePointId="CP042"), [("ca", "new.der", other)])
    assert code == 200 and again.wait_exit(10) == 75
    assert json.loads(fw.config_path.read_text())["centralSystem"]["caFile"] == str(fw.flash / "ca2.der")
    assert (fw.flash / "ca2.der").read_bytes() == other and not (fw.flash / "ca.der").exists()


def test_a_failed_save_keeps_the_ca_a_relative_cafile_points_to(firmware, cs, tmp_path):
    """The stored caFile relative to the working directory (docs/security.md: "ca.der") names the same file
    as the upload's flash/ca.der: a new CA must go to ca2.der, so that a save that cannot be written leaves
    the old config.json and the CA it points to whole."""
    workdir = tmp_path / "fwca"
    (workdir / "flash").mkdir(parents=True)
    (workdir / "flash" / "ca.der").write_bytes(FAKE_DER)
    port = free_port()
    cfg = {
        "web": {"setupMode": True, "port": port, "host": "127.0.0.1", "apPassword": AP_PASSWORD},
        "centralSystem": {"authorizationKey": AUTH_KEY, "securityProfile": 1, "caFile": "flash/ca.der"},
    }
    fw = firmware(cs.port, cfg, workdir=workdir)
    fw.wait_log(r"setup page on http://127\.0\.0\.1:%d/" % port)
    before = fw.config_path.read_bytes()
    (workdir / "config.json.tmp").mkdir()  # config.json cannot be written
    other = FAKE_DER[:-1] + b"\x01"
    code, _, body = post_form(port, AP_PASSWORD, good_fields(cs.port), [("ca", "new.der", other)])
    assert code == 200 and b"cannot be written" in body
    assert fw.config_path.read_bytes() == before
    assert (fw.flash / "ca.der").read_bytes() == FAKE_DER
    assert fw.proc.poll() is None


def test_an_upload_cut_short_is_refused_at_once_without_spinning(firmware, cs):
    """A client that closes mid-upload (a dropped Wi-Fi, a double-clicked Save): the form is refused at once and
    logged, nothing is kept, and the server does not ask the closed stream again and again until its 10 s."""
    import os

    from harness.web_client import basic

    def cpu_s(pid):
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    fw, port = setup_mode(firmware, cs.port)
    before = fw.config_path.read_bytes()
    token = csrf_token(port, AP_PASSWORD)
    body, ctype = multipart(good_fields(cs.port), [("ca", "x.der", FAKE_DER * 20)])  # over 4 KB: streamed
    head = "POST /?csrf=%s HTTP/1.0\r\nAuthorization: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
        token, basic(AP_PASSWORD), ctype, len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + body[:-600])
        sock.shutdown(socket.SHUT_WR)
        t0 = cpu_s(fw.proc.pid)
        fw.wait_log(r"setup form not saved: the request ended before its body did", timeout=3)
    assert cpu_s(fw.proc.pid) - t0 < 0.3
    assert fw.config_path.read_bytes() == before and not [p for p in fw.flash.iterdir() if p.name.startswith("ca")]
    assert request(port, password=AP_PASSWORD)[0] == 200 and fw.proc.poll() is None


def test_a_small_multipart_body_without_its_closing_boundary_is_refused_not_spun_on(firmware, cs):
    """WEB-04: a body under 4 KB is read whole before the form is parsed; one that ends (at its Content-Length)
    before the closing boundary, as a client that cut or miscounted it sends, made microdot's multipart reader
    ask the spent body again and again without ever yielding: the loop froze for good (no 10 s bound can fire
    in a loop that never yields). Now: refused at once, nothing kept, the page answers on."""
    fw, port = setup_mode(firmware, cs.port)
    before = fw.config_path.read_bytes()
    token = csrf_token(port, AP_PASSWORD)
    body, ctype = multipart(good_fields(cs.port), [("ca", "x.der", FAKE_DER)])
    for cut in (body[: body.index(FAKE_DER) + 100], b"garbage"):
        code, _, answer = request(port, "POST", "/?csrf=" + token, AP_PASSWORD, cut, {"Content-Type": ctype})
        assert code == 400 and b"incomplete body" in answer, (code, answer)
    assert request(port, password=AP_PASSWORD)[0] == 200 and fw.proc.poll() is None
    assert fw.config_path.read_bytes() == before and not [p for p in fw.flash.iterdir() if p.name.startswith("ca")]
    # A whole body whose closing boundary has no CRLF after it (RFC 2046 allows that) is saved.
    code, _, answer = request(port, "POST", "/?csrf=" + token, AP_PASSWORD, body[:-2], {"Content-Type": ctype})
    assert code == 200 and b'id="saved"' in answer, (code, answer)
    assert fw.wait_exit(10) == 75


def test_a_form_that_fails_after_its_ca_upload_leaves_no_temp_file(firmware, cs):
    """A multipart form whose part after the CA upload breaks (a field that is not UTF-8) failed the request with
    ca.der.tmp left on flash (up to 8 KB, until the next upload): nothing of a refused form stays on flash."""
    fw, port = setup_mode(firmware, cs.port)
    before = fw.config_path.read_bytes()
    token = csrf_token(port, AP_PASSWORD)
    body, ctype = multipart(good_fields(cs.port), [("ca", "x.der", FAKE_DER)])
    boundary = ctype.rsplit("=", 1)[1]
    end = ("--%s--\r\n" % boundary).encode()
    bad = ("--%s\r\nContent-Disposition: form-data; name=\"ssid\"\r\n\r\n" % boundary).encode() + b"\xff\xfe\r\n"
    body = body[: -len(end)] + bad + end
    code, _, answer = request(port, "POST", "/?csrf=" + token, AP_PASSWORD, body, {"Content-Type": ctype})
    assert code != 200, (code, answer)
    assert request(port, password=AP_PASSWORD)[0] == 200 and fw.proc.poll() is None
    assert fw.config_path.read_bytes() == before and not [p.name for p in fw.flash.iterdir() if p.name.startswith("ca")]


def test_a_ca_upload_cut_off_is_refused_with_a_clear_message(firmware, cs):
    """A DER certificate cut short (a download that stopped, a copy that failed) starts with 0x30 all the same
    and was saved: every TLS connection then failed on a CA that cannot be parsed. X.690 8.1.3: the outer
    SEQUENCE's length must be the file's; a CA whose length is not is refused, saying so, and nothing is kept."""
    fw, port = setup_mode(firmware, cs.port)
    before = fw.config_path.read_bytes()
    for data in (FAKE_DER[:200], FAKE_DER + b"\x00"):
        code, _, body = post_form(port, AP_PASSWORD, good_fields(cs.port), [("ca", "x.der", data)])
        assert code == 200 and b"cut off" in body and b'id="saved"' not in body, (code, body)
    assert fw.config_path.read_bytes() == before and not [p.name for p in fw.flash.iterdir() if p.name.startswith("ca")]
    assert fw.proc.poll() is None


def test_setup_form_in_a_browser_saves_reboots_and_registers(firmware, cs, browser):
    """WEB-02, WEB-03: Chromium fills the form: bad values -> errors beside the fields; good ones -> config.json written, exit 75, normal mode registers."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def arrived(*locator):
        # After a click the answer is a new page: wait for it, not for a time.
        return WebDriverWait(d, 10).until(ec.presence_of_element_located(locator))

    fw, port = setup_mode(firmware, cs.port, apPassword="")
    password = fw.wait_log(r"access point and page password (\S+) \(generated").group(1)
    before = fw.config_path.read_bytes()
    d = browser.driver
    browser.auth(password)
    d.get("http://127.0.0.1:%d/" % port)

    def fill(url, cp_id, profile):
        for name, value in (("url", url), ("chargePointId", cp_id)):
            el = d.find_element(By.NAME, name)
            el.clear()
            el.send_keys(value)
        Select(d.find_element(By.NAME, "securityProfile")).select_by_value(profile)

    good_url = "ws://127.0.0.1:%d/ocpp" % cs.port
    fill(good_url, "CP001", "1")
    browser.screenshot("setup.png", readme=True)  # the README's picture: the form filled in
    fill("https://wrong.example/ocpp", "CP001", "0")
    d.find_element(By.ID, "save").click()
    err = arrived(By.XPATH, "//input[@name='url']/parent::label/following-sibling::div[1]")
    assert err.text == "centralSystem.url: must start with ws:// or wss://"
    browser.screenshot("setup-errors.png")
    assert fw.config_path.read_bytes() == before and fw.proc.poll() is None

    fill(good_url, "CP001", "1")
    d.find_element(By.NAME, "authorizationKey").send_keys("abcdefghijklmnop")  # 16 characters
    d.find_element(By.ID, "save").click()
    assert "Saved" in arrived(By.ID, "saved").text
    assert fw.wait_exit(10) == 75
    saved = json.loads(fw.config_path.read_text())
    assert saved["centralSystem"]["securityProfile"] == 1 and saved["centralSystem"]["authorizationKey"] == "abcdefghijklmnop"
    assert saved["web"]["setupMode"] is False
    # The supervisor's part: start it again, as it is now on flash.
    again = firmware(cs.port, raw_config=fw.config_path.read_text(), workdir=fw.workdir)
    again.wait_log("registration Accepted")
    assert cs.received("BootNotification") and "abcdefghijklmnop" not in again.log


def test_status_page_shows_registration_connectors_and_the_running_transaction(charger, browser):
    """WEB-01, WEB-05: the status page in Chromium and /status.json: Accepted, connector status, the transaction's idTag and energy."""
    from selenium.webdriver.common.by import By

    port = free_port()
    ch = charger({"web": {"enabled": True, "port": port, "host": "127.0.0.1", "password": PAGE_PASSWORD}})
    ch.fw.wait_log(r"status page on http://127\.0\.0\.1:%d/" % port)
    code, headers, body = request(port, path="/status.json")
    assert code == 401 and "www-authenticate" in headers and b"Accepted" not in body
    assert request(port, path="/", password="nope")[0] == 401
    ch.wait_status("Available")
    s = status_json(port, PAGE_PASSWORD)
    assert s["registration"] == "Accepted" and s["link"] == "connected"
    assert s["connectors"] == [{"id": 1, "status": "Available", "transaction": None}]
    # Issue 26: the request without credentials above (every browser's
    # first) is a normal 401: not in the log, the flash log or the page's
    # log tail; the wrong password is.
    assert "401 for GET /: wrong password" in "\n".join(s["log"])
    assert not [line for line in s["log"] if "credentials" in line]
    ring = "".join(p.read_text() for p in sorted((ch.fw.flash / "log").glob("*.txt")))
    assert "no credentials" not in ring and "no credentials" not in ch.fw.log

    ch.evse("meter 1 1500", "power 1 11000", "plug 1")
    ch.evse("card 1 ALICE", "charge 1")
    tx = ch.transaction_id()
    ch.wait_status("Charging")
    # The EV stops drawing, so that the register stays at 2734 Wh while the
    # page is read (at 11 kW it gains 3 Wh a second: a loaded machine saw 1236).
    ch.evse("power 1 0", "meter 1 2734")
    deadline = time.monotonic() + 5
    while True:  # the meter is polled: wait for the page to have read 2734 Wh
        t = status_json(port, PAGE_PASSWORD)["connectors"][0]["transaction"]
        if t and t["energyWh"] == 1234 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert t == {"id": tx, "idTag": "ALICE", "energyWh": 1234, "meterWh": 2734}

    d = browser.driver
    browser.auth(PAGE_PASSWORD)
    d.get("http://127.0.0.1:%d/" % port)
    assert d.find_element(By.ID, "registration").text == "Accepted"
    assert d.find_element(By.ID, "link").text == "connected"
    row = d.find_element(By.ID, "connector-1").text
    assert "Charging" in row and "ALICE" in row and "1234 Wh" in row and str(tx) in row
    assert d.find_element(By.CSS_SELECTOR, "meta[http-equiv=refresh]").get_attribute("content") == "5"
    assert PAGE_PASSWORD not in d.page_source and PAGE_PASSWORD not in ch.fw.log

    # Issue 26: on a 400 px phone screen nothing is cut off: no sideways
    # scrolling, the Energy column and the log's lines inside the screen.
    d.set_window_size(400, 900)
    try:
        d.get("http://127.0.0.1:%d/" % port)
        width = d.execute_script("return document.documentElement.clientWidth")
        assert width <= 400
        assert d.execute_script("return document.documentElement.scrollWidth") <= width
        energy = d.find_element(By.CSS_SELECTOR, "#connector-1 td:last-child")
        assert energy.text == "1234 Wh"
        log_lines = d.find_element(By.ID, "log")
        assert "started by ALICE" in log_lines.text
        for el in (energy, log_lines):
            right = d.execute_script("var r = arguments[0].getBoundingClientRect(); return r.right;", el)
            assert right <= width, (el.tag_name, right, width)
            assert d.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", el)
        browser.screenshot("status.png", readme=True)  # docs/img/status.png with UPDATE_SCREENSHOTS=1
    finally:
        d.set_window_size(800, 720)


def test_status_page_lists_the_last_errors_while_the_central_system_is_unreachable(firmware):
    """WEB-05: nothing listens at centralSystem.url: no registration, link disconnected, the connect failures in the errors ring (at most 5)."""
    port = free_port()
    fw = firmware(free_port(), {"web": {"enabled": True, "port": port, "host": "127.0.0.1", "password": PAGE_PASSWORD}})
    fw.wait_log(r"status page on http://127\.0\.0\.1:%d/" % port)
    fw.wait_log(r"link: connect failed", timeout=5)
    deadline = time.monotonic() + 5
    while True:  # the page samples the firmware's lastError once a second
        s = status_json(port, PAGE_PASSWORD)
        if s["errors"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert s["registration"] == "none yet" and s["link"] == "disconnected"
    assert 1 <= len(s["errors"]) <= 5 and s["errors"][-1]["text"].startswith("connect failed")
    page = request(port, password=PAGE_PASSWORD)[2].decode()
    assert s["errors"][-1]["text"] in page.replace("&quot;", '"').replace("&amp;", "&")
    # The tail of the persistent log (log.flashLevel info): whole lines of the ring's newest file.
    ring = (fw.flash / "log" / "0.txt").read_text().splitlines()
    assert 1 <= len(s["log"]) <= 10 and all(line in ring for line in s["log"]), (s["log"], ring[-12:])
    assert any(" link: connect failed" in line for line in s["log"])
    assert '<pre id="log">' in page and s["log"][0].split(" ", 1)[1].replace("&", "&amp;").replace('"', "&quot;")[:30] in page


class _EvilSite:
    """Another origin (a different port: another site's page as far as the browser is concerned) serving one page
    that auto-submits a form to the charger's setup page: a central system URL of the attacker's, profile 0."""

    def __init__(self, target_port, cs_port):
        import http.server
        import threading

        page = (
            '<!DOCTYPE html><html><body onload="document.forms[0].submit()">'
            '<form method="post" action="http://127.0.0.1:%d/" enctype="multipart/form-data">'
            '<input name="url" value="ws://127.0.0.1:%d/evil"><input name="chargePointId" value="CP666">'
            '<input name="securityProfile" value="0"><input name="ssid" value=""></form>'
            '<p id="evil">evil page</p></body></html>' % (target_port, cs_port)
        ).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_cross_site_post_changes_nothing_and_the_own_form_still_works(firmware, cs, browser):
    """Issue 25 item 5: the installer is logged in (the browser sends Basic auth by itself); a page of another origin
    auto-submits the setup form: 403, config.json byte for byte as it was, still in setup mode. Without the page's
    token, with a wrong one, or from a foreign Origin, a POST changes nothing either; the charger's own form saves."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    fw, port = setup_mode(firmware, cs.port)
    before = fw.config_path.read_bytes()
    d = browser.driver
    browser.auth(AP_PASSWORD)
    evil = _EvilSite(port, cs.port)
    try:
        d.get("http://127.0.0.1:%d/" % evil.port)
        fw.wait_log(r"403 for POST /: (Origin http://127\.0\.0\.1:%d|cross-site|no valid token)" % evil.port)
        WebDriverWait(d, 10).until(lambda drv: "Forbidden" in drv.page_source)
    finally:
        evil.stop()
    assert fw.config_path.read_bytes() == before and fw.proc.poll() is None

    # Plain HTTP: no token, a wrong one, the right one from a foreign Origin: 403 each, nothing changed.
    body, ctype = multipart(good_fields(cs.port, chargePointId="CP666"))
    token = csrf_token(port, AP_PASSWORD)
    for path, extra in (("/", {}), ("/?csrf=" + "0" * len(token), {}), ("/?csrf=" + token, {"Origin": "http://evil.example"})):
        code, _, answer = request(port, "POST", path, AP_PASSWORD, body, dict({"Content-Type": ctype}, **extra))
        assert code == 403 and b"Forbidden" in answer, (path, extra, code)
    assert fw.config_path.read_bytes() == before and fw.proc.poll() is None

    # The charger's own page: its form carries the token and saves.
    d.get("http://127.0.0.1:%d/" % port)
    assert token in d.find_element(By.TAG_NAME, "form").get_attribute("action")
    save_charge_point_id(d, fw, "CP002")
    assert json.loads(fw.config_path.read_text())["centralSystem"]["chargePointId"] == "CP002"


def save_charge_point_id(d, fw, cp_id):
    # The setup page in the browser d: only the charge point id changed, saved; the charger restarts (75).
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    el = d.find_element(By.NAME, "chargePointId")
    el.clear()
    el.send_keys(cp_id)
    d.find_element(By.ID, "save").click()
    WebDriverWait(d, 10).until(ec.presence_of_element_located((By.ID, "saved")))
    assert fw.wait_exit(10) == 75


def test_a_form_saved_unchanged_keeps_the_security_profile_config_json_left_implicit(firmware, cs, browser):
    """WEB-03, SEC-01: config.json without securityProfile runs at the profile its url and authorizationKey imply
    (1 here: a key, ws://). The form must show that profile selected: with none selected a browser sends the first
    option (0), so an installer who only corrects the charge point id would save profile 0, and the charger
    would then connect without its Basic-auth credentials."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    port = free_port()
    fw = firmware(cs.port, {"web": {"setupMode": True, "port": port, "host": "127.0.0.1", "apPassword": AP_PASSWORD},
                            "centralSystem": {"authorizationKey": AUTH_KEY}})
    fw.wait_log(r"setup page on http://127\.0\.0\.1:%d/" % port)
    d = browser.driver
    browser.auth(AP_PASSWORD)
    d.get("http://127.0.0.1:%d/" % port)
    assert Select(d.find_element(By.NAME, "securityProfile")).first_selected_option.get_attribute("value") == "1"
    save_charge_point_id(d, fw, "CP002")
    cs_saved = json.loads(fw.config_path.read_text())["centralSystem"]
    assert cs_saved["chargePointId"] == "CP002" and cs_saved.get("securityProfile", 1) == 1, cs_saved
