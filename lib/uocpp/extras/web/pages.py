# The setup page's HTML (setup mode only), kept small: no scripts, no images.
from uocpp.extras.web.server import escape, head


def setup(cp_id, v, problems, done=False, token=""):
    # v: the form's values (never a password or key); problems: settings.py's
    # error texts, each shown beside its field (the rest above the form).
    out = [head("Set up charge point %s" % cp_id)]
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
    # The token (server.py): only this page can post the form.
    out.append('%s<form method="post" action="/?csrf=%s" enctype="multipart/form-data">%s'
               '<p><button type="submit" id="save">Save and restart</button></p></form></body></html>' % (top, token, body))
    return "".join(out)
