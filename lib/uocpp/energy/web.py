# The energy part of the status page (extras/web/status.py, when energy is
# on): each connector's offer, its deciding source and every source's limit,
# and a form that sets the charging mode (POST /energy/mode, mode=...,
# behind the page's password like the rest of it).
from uocpp.energy.limits import MODES, SOURCES
from uocpp.extras.web.server import escape


def html(e, token):
    out = ['<h2>Energy</h2><table id="energy"><tr><th>Connector</th><th>Offer</th><th>Decided by</th><th>Phases</th>']
    for name in SOURCES:
        out.append("<th>%s</th>" % name)
    out.append("</tr>")
    for c in e["connectors"]:
        offer = c["offer"]
        out.append(
            '<tr id="energy-%d"><td>%d</td><td class="offer">%s</td><td class="source">%s</td><td>%d</td>'
            % (c["id"], c["id"], "-" if offer is None else "%g A" % offer, escape(c["source"]), c["phases"])
        )
        for name in SOURCES:
            v = c["limits"][name]
            out.append("<td>%s</td>" % ("-" if v is None else "%g" % v))
        out.append("</tr>")
    out.append('</table><form method="post" action="/energy/mode?csrf=%s"><label>Charging mode <select name="mode" id="mode">' % token)
    for m in MODES:
        out.append("<option%s>%s</option>" % (" selected" if m == e["mode"] else "", m))
    out.append('</select></label> <button type="submit">Set</button></form>')
    return "".join(out)


def set_mode(energy, req):
    form = req.form or {}
    mode = form.get("mode") or ""
    if not energy.request_mode(mode, "status page"):
        return "mode refused: %s" % escape(mode[:20]), 400
    return "", 303, {"Location": "/"}


def snapshot(e):
    # For the status page (status.json): the mode, per connector its offer, source and limits.
    out = {"mode": e.mode, "connectors": []}
    for n in range(1, e.count + 1):
        lim = e.limits[n]
        c = {"id": n, "offer": e.offer[n], "source": SOURCES[e.decider[n] or 0], "phases": e.phases[n]}
        c["limits"] = {SOURCES[i]: lim[i] for i in range(len(lim))}
        out["connectors"].append(c)
    return out
