# The status page (web.enabled, normal mode): registration, link, each
# connector's status and running transaction, the last errors. GET / is the
# page (it reloads itself), GET /status.json the same as JSON.
import asyncio
import gc

from micropython import const

from uocpp import clock, log
from uocpp.model import state as st

try:
    from uocpp.extras.web.server import HTML, Server, escape, head
except ImportError as e:  # no microdot: run() says so once and the charger runs on without its page
    _missing = str(e)
else:
    _missing = None

_REFRESH_S = const(5)  # the page reloads itself this often
_ERRORS = const(5)  # the ring of recent errors: bounded, RAM only
_WATCH_MS = const(1000)
_TAIL_BYTES = const(1536)  # of the newest log file read for the page: a few lines, never the file
_TAIL_LINES = const(10)


class StatusPage:
    def __init__(self, settings, state, registration, connectors, transactions, metering, energy=None):
        self._web = settings["web"]
        self._cp_id = settings["centralSystem"]["chargePointId"]
        self._state = state
        self._registration = registration
        self._connectors = connectors
        self._tx = transactions
        self._metering = metering
        self._energy = energy  # energy/manager.py when on: its sources and the charging mode
        self.errors = []  # [(time, text)], newest last
        self._seen = None

    def snapshot(self):
        conns = []
        tx, meter = self._tx, self._metering
        for n in range(1, self._connectors.count + 1):
            local = tx.running_on(n)
            run = None
            if local is not None:
                t = tx.get(local)
                wh = meter.energy_wh(n)
                run = {"id": t["remote"], "idTag": t["tag"], "energyWh": max(0, wh - t["start"]), "meterWh": wh}
            conns.append({"id": n, "status": self._connectors.status(n), "transaction": run})
        s = self._state
        return {
            "chargePointId": self._cp_id,
            "registration": self._registration.status or "none yet",
            "link": s.get(st.CONNECTION) or "disconnected",
            "lastHeartbeat": s.get(st.LAST_HEARTBEAT),
            "connectors": conns,
            "errors": [{"time": t, "text": e} for t, e in self.errors],
            "log": log_tail(),
            "energy": None if self._energy is None else _energy_snapshot(self._energy),
        }

    def _watch(self):
        # state.lastError, the latest problem the services recorded, into the ring.
        v = self._state.versions.get(st.LAST_ERROR)
        if v is not None and v != self._seen:
            self._seen = v
            self.errors.append((clock.now_iso(), self._state.get(st.LAST_ERROR)))
            if len(self.errors) > _ERRORS:
                self.errors.pop(0)

    async def _watch_errors(self):
        while True:
            self._watch()
            await asyncio.sleep_ms(_WATCH_MS)

    def _page(self, req):
        self._watch()
        body = _html(self.snapshot(), req.app.token)
        _heap(req.path)
        return body, 200, HTML

    def _json(self, req):
        self._watch()
        body = self.snapshot()
        _heap(req.path)
        return body

    async def run(self):
        # Never ends: a page that cannot listen leaves the charger running.
        if _missing:
            log.error("web", "status page off: %s", _missing)
            await asyncio.Event().wait()
        web = self._web
        app = Server(web["password"])
        app.route("/")(self._page)
        app.route("/status.json")(self._json)
        if self._energy is not None:  # energy: the charging mode form (energy/web.py)
            from uocpp.energy import web as energy_web

            app.route("/energy/mode", methods=["POST"])(lambda req: energy_web.set_mode(self._energy, req))
        watcher = asyncio.create_task(self._watch_errors())
        try:
            await app.listen(web["host"], web["port"], "status page")
            await asyncio.Event().wait()
        finally:
            watcher.cancel()


def _html(s, token):
    # token: the server's CSRF token, for the forms' action (server.py).
    out = [head("Charge point %s" % s["chargePointId"], '<meta http-equiv="refresh" content="%d">' % _REFRESH_S)]
    out.append('<p>Registration: <b id="registration">%s</b><br>Link: <b id="link">%s</b><br>Last heartbeat: %s</p>' % (
        escape(s["registration"]), escape(s["link"]), escape(s["lastHeartbeat"] or "-")))
    out.append("<table><tr><th>Connector</th><th>Status</th><th>Transaction</th><th>idTag</th><th>Energy</th></tr>")
    for c in s["connectors"]:
        t = c["transaction"]
        if t:
            cells = "<td>%s</td><td>%s</td><td>%d Wh</td>" % (escape(t["id"] if t["id"] is not None else "starting"), escape(t["idTag"]), t["energyWh"])
        else:
            cells = "<td>-</td><td>-</td><td>-</td>"
        out.append('<tr id="connector-%d"><td>%d</td><td class="status">%s</td>%s</tr>' % (c["id"], c["id"], escape(c["status"]), cells))
    out.append("</table>")
    if s["energy"] is not None:  # energy: sources, offer, mode (energy/web.py)
        from uocpp.energy import web

        out.append(web.html(s["energy"], token))
    out.append("<h2>Recent errors</h2><ul id=\"errors\">")
    for e in s["errors"] or ():
        out.append("<li>%s %s</li>" % (escape(e["time"]), escape(e["text"])))
    if not s["errors"]:
        out.append("<li>none</li>")
    out.append('</ul><h2>Log</h2><pre id="log">%s</pre>' % escape("\n".join(s["log"]) or "(the flash log is off)"))
    out.append('<p><a href="/status.json">status.json</a></p></body></html>')
    return "".join(out)


def _energy_snapshot(e):
    from uocpp.energy import web as energy_web  # loaded with the page only when energy is on

    return energy_web.snapshot(e)


def log_tail():
    # The last lines of the persistent log (log_ring.py), newest last:
    # a bounded read of the end of its newest file. [] when the ring is off.
    ring = log.ring
    if ring is None:
        return []
    from uocpp.log_ring import path

    try:
        with open(path(ring.dir, 0), "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - _TAIL_BYTES))
            data = f.read(_TAIL_BYTES)
    except OSError:
        return []
    lines = data.split(b"\n")
    if size > _TAIL_BYTES:
        lines.pop(0)  # cut by the read: not a whole line
    out = []
    for line in lines[-_TAIL_LINES - 1 :]:
        if line:
            try:
                out.append(line.decode())
            except UnicodeError:
                pass
    return out[-_TAIL_LINES:]


def _heap(path):
    # The heap while a response is held (make bench reads it): debug only,
    # as gc.collect() takes time.
    if log.enabled(log.DEBUG):
        gc.collect()
        log.debug("web", "serving %s: %d B live heap", path, gc.mem_alloc())
