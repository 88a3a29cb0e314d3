# Host-side commands. The firmware itself needs no build: it runs from source
# on the MicroPython unix port (and, compiled with mpy-cross, on an ESP32).
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
CONFIG ?= config.json
BOOT ?= Accepted:10
export MICROPYPATH := .frozen:$(CURDIR)/lib

.PHONY: run test bench firmware venv clean

# One virtualenv with every pinned host dependency (requirements.txt).
$(VENV)/.installed: requirements.txt
	@# Debian's python3 lacks venv until python3-venv is installed.
	test -x $(VPY) || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); apt-get update -q && apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(VENV)/.installed

# The bundled central system on 127.0.0.1:9000 plus the firmware against it.
run: venv
	$(VPY) tools/run_local.py --config $(CONFIG) --boot $(BOOT)

# The whole suite; ends with pytest's summary line.
test: venv
	$(VPY) -m pytest tests_host

# Heap, flash, start-up and message rate on the unix port beside a CPython
# charge point; prints one table (README, Performance). Takes a few minutes.
bench: venv
	$(VPY) bench/run.py

# The firmware alone against any central system: make firmware CONFIG=path.json
firmware: venv
	OCPP_CONFIG=$(abspath $(CONFIG)) $(MICROPYTHON) main.py

clean:
	rm -rf $(VENV) flash .pytest_cache
