# Counter satisfaction kiosk — set up, run, test. Every target is idempotent from a clean clone
# on Debian / Ubuntu. See README.md.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the app and the test suite use: Mesa for Kivy's offscreen GL, mtdev for
# touch input, PostgreSQL for the aggregator's scale path, Chromium and CJK fonts for the
# dashboard's browser tests, nginx for the two-instance scale-out test, gcc and Python's headers
# for the aggregator's compiled checks (aggregator/_fastcheck.c).
DEB_PACKAGES := libgl1-mesa-dri libegl1 libmtdev1 postgresql chromium fonts-noto-cjk nginx \
	gcc python3-dev

.PHONY: run test lint bench bench-quick reliability deps venv clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; \
	  else echo "Missing Debian packages:$$missing"; \
	       echo "Install them with: sudo apt-get install -y$$missing"; exit 1; fi; \
	  echo "Installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): setup.py aggregator/_fastcheck.c
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[aggregator,test]"
	@touch $(STAMP)

venv: deps $(STAMP)

test: venv
	$(VENV)/bin/ruff check .
	bash tests/run.sh

lint: venv
	$(VENV)/bin/ruff check .

bench: venv
	$(PY) bench/run_all.py

bench-quick: venv
	$(PY) bench/run_all.py --quick

# The long fault-injection runs (docs/reliability.md); shorter versions run in `make test`.
reliability: venv
	KIVY_NO_ARGS=1 SDL_VIDEODRIVER=offscreen $(PY) tools/reliability.py --long --markdown var/reliability-latest.md

run: venv
	bash tools/run_demo.sh

clean:
	rm -rf $(VENV) var build *.egg-info
