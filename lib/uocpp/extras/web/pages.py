# The two pages' HTML, kept small: one style line, no scripts, no images.
from micropython import const

from uocpp.extras.web.server import escape

_REFRESH_S = const(5)
_HEAD = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">%s'
    "<title>%s</title><style>body{font-family:sans-serif;max-width:36em;margin:1em auto;padding:0 1em}"
    "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em;text-align:left}"
    "label{display:block;margin-top:.8em}input,select{width:100%%;padding:.3em;box-sizing:border-box}.err{color:#b00}.ok{color:#070}"
    "</style></head><body><h1>%s</h1>"
)


def _head(title, extra=""):
    return _HEAD % (extra, escape(title), escape(title))


def status(s):
    out = [_head("Charge point %s" % s["chargePointId"], '<meta http-equiv="refresh" content="%d">' % _REFRESH_S)]
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
    out.append("</table><h2>Recent errors</h2><ul id=\"errors\">")
    for e in s["errors"] or ():
        out.append("<li>%s %s</li>" % (escape(e["time"]), escape(e["text"])))
    if not s["errors"]:
        out.append("<li>none</li>")
    out.append('</ul><p><a href="/status.json">status.json</a></p></body></html>')
    return "".join(out)


def setup(cp_id, v, problems, done=False):
    # v: the form's values (never a password or key); problems: settings.py's
    # error texts, each shown beside its field (the rest above the form).
    out = [_head("Set up charge point %s" % cp_id)]
    if done:
        out.append('<p class="ok" id="saved">Saved. The charger restarts in normal mode.</p></body></html>')
        return "".join(out)
    placed = []

    def errs(*keys):
        mine = [p for p in problems if p.split(": ", 1)[0] in keys]
        placed.extend(mine)
        return "".join('<div class="err">%s</div>' % escape(p) for p in mine)

    def field(label, name, key, value="", kind="text", hint=""):
        return '<label>%s%s<input type="%s" name="%s" value="%s"></label>%s' % (
            label, hint, kind, name, escape(value), errs(key))

    fields = [
        field("Wi-Fi network (SSID)", "ssid", "wifi.ssid", v["ssid"]),
        field("Wi-Fi password", "wifiPassword", "wifi.password", kind="password", hint=" (empty: keep the stored one)"),
        field("Central system URL", "url", "centralSystem.url", v["url"], hint=" (ws:// or wss://)"),
        field("Charge point id", "chargePointId", "centralSystem.chargePointId", v["chargePointId"]),
        field("Authorization key", "authorizationKey", "centralSystem.authorizationKey", kind="password", hint=" (empty: keep the stored one)"),
    ]
    opts = "".join('<option value="%d"%s>%d</option>' % (n, " selected" if v["securityProfile"] == n else "", n) for n in (0, 1, 2))
    fields.append('<label>Security profile (0: ws://, 1: + password, 2: wss://)<select name="securityProfile">%s</select></label>%s' % (
        opts, errs("centralSystem.securityProfile", "centralSystem.secureUrl")))
    fields.append('<label>CA certificate (DER)%s<input type="file" name="ca"></label>%s' % (
        " (stored: keep it if none is chosen)" if v["caFile"] else "", errs("centralSystem.caFile")))
    body = "".join(fields)
    rest = [p for p in problems if p not in placed]
    top = ""
    if problems:
        top = '<div class="err" id="problems"><p>Not saved: %d problem(s).</p>%s</div>' % (
            len(problems), "".join("<div>%s</div>" % escape(p) for p in rest))
    out.append('%s<form method="post" action="/" enctype="multipart/form-data">%s'
               '<p><button type="submit" id="save">Save and restart</button></p></form></body></html>' % (top, body))
    return "".join(out)
