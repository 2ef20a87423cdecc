# secumail on a Debian/Ubuntu host (as root): demo, test, bench, lint.
# On OpenWrt the package recipe is Makefile.openwrt; this file is for PCs and CI.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := $(shell grep -v '^\#' tests/apt-packages.txt)
PYTEST_ARGS ?=
# Worlds (containers, bridges, Knot/pebble) run side by side, one worker each; the tests mostly wait,
# so 4 workers on 2 cores (tests/support/worlds.py). PYTEST_PARALLEL= runs everything in one process.
PYTEST_PARALLEL ?= -n 4 --dist loadgroup

.PHONY: all deps venv test unit integration lint bench demo demo-stop demo-internet docs clean

all: test

# System packages the tests and the demo use (LXC, debootstrap, DNS servers, ACME CA, peers).
deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get install)"; exit 1; fi
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The venv does not see system packages; python3-lxc (from `make deps`) is linked in by name only.
venv: $(VENV)/.installed
	@$(PY) scripts/link_lxc_binding.py
$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

test: deps venv
	$(PY) -m ruff check secumail tests bench scripts
	$(PY) -m pytest -q $(PYTEST_PARALLEL) $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest -q $(PYTEST_PARALLEL) tests/unit $(PYTEST_ARGS)

integration: deps venv
	$(PY) -m pytest -q $(PYTEST_PARALLEL) tests/integration $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check secumail tests bench scripts

bench: deps venv
	$(PY) bench/run.py

# Bring the appliance up with a demo domain (see README).
demo: deps venv
	PYTHON=$(PY) sh scripts/demo.sh

# Stop what `make demo` started: the agent, then the container (data and image stay).
demo-stop: venv
	$(PY) -c 'from secumail.daemon.launcher import stop_daemon as s; print("secumaild stopped" if s() else "secumaild was not running")'
	$(PY) -m secumail.cli stop

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache

# Regenerate the option reference in docs/configuration.md from the settings schema.
docs:
	$(PYTHON) -c 'from secumail.config.defaults import update_reference_doc as u; u("docs/configuration.md")'

# Two appliances (a.test, b.test) behind their own routers on a simulated internet in network
# namespaces (tests/support/internet.py): sends a.test -> b.test, shows where to look, Ctrl-C ends it.
demo-internet: deps venv
	PYTHONPATH=$(CURDIR) $(PY) scripts/demo_internet.py
