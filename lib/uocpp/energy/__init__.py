# Local energy management (issue 27, docs/energy.md): one limit from many
# sources (limits.py, manager.py), the local limit and the charging mode
# over MQTT (mqtt.py), load management and solar surplus from a grid meter
# (grid.py, solar.py), 1/3-phase switching (phases.py). app.py imports this
# package only when config.json has an enabled "energy" section.
