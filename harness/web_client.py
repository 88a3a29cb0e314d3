"""Helpers for the web page tests: plain HTTP with Basic auth, multipart
bodies, and one headless Chromium (Debian's chromium + chromium-driver)
driven by Selenium through /usr/bin/chromedriver (no Selenium Manager: the
machine may be offline)."""

import base64
import http.client
import json
import os
import re
import shutil
import tempfile
import uuid

from harness.firmware import REPO

ARTIFACTS = REPO / "tests" / "artifacts"
DOCS_IMG = REPO / "docs" / "img"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=800,720",
)


def basic(password, user="installer"):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def request(port, method="GET", path="/", password=None, body=None, headers=None, timeout=5):
    """-> (status, headers dict (lower-case names), body bytes)."""
    h = dict(headers or {})
    if password is not None:
        h["Authorization"] = basic(password)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def status_json(port, password):
    code, _, body = request(port, path="/status.json", password=password)
    assert code == 200, (code, body)
    return json.loads(body)


def multipart(fields, files=()):
    """fields: {name: str}; files: [(name, filename, bytes)] -> (body, content type)."""
    boundary = uuid.uuid4().hex
    out = []
    for name, value in fields.items():
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary, name, value)).encode())
    for name, filename, data in files:
        out.append(
            (
                "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename)
            ).encode()
            + data
            + b"\r\n"
        )
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def csrf_token(port, password):
    """The token the setup page puts in its form's action (?csrf=...), read as a browser of that page would."""
    code, _, page = request(port, password=password)
    assert code == 200, code
    m = re.search(rb'action="/\?csrf=([0-9a-f]+)"', page)
    assert m, page[:200]
    return m.group(1).decode()


def post_form(port, password, fields, files=(), token=None):
    """POST the setup form as its own page does (with the page's CSRF token, fetched unless given)."""
    body, ctype = multipart(fields, files)
    token = csrf_token(port, password) if token is None else token
    return request(port, "POST", "/?csrf=" + token, password, body, {"Content-Type": ctype})


class Browser:
    """One Chromium for a test module; auth(password) sends Basic auth on
    every request from then on (a CDP header: no credentials in URLs)."""

    def __init__(self):
        os.environ.setdefault("SE_OFFLINE", "true")
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="uocpp-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for flag in CHROMIUM_FLAGS:
            opts.add_argument(flag)
        opts.add_argument("--user-data-dir=" + self.profile)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.driver.set_page_load_timeout(10)
        self.driver.execute_cdp_cmd("Network.enable", {})

    def auth(self, password):
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": basic(password)}})

    def screenshot(self, name, readme=False):
        """Into tests/artifacts/; a README picture (readme=True) with
        UPDATE_SCREENSHOTS=1 also into docs/img/."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.driver.save_screenshot(str(path))
        if readme and os.environ.get("UPDATE_SCREENSHOTS") == "1":
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, DOCS_IMG / name)
        return path

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
