# Two entry points: `make demo` (the main job end to end, embedded default, no servers)
# and `make test` (the test suite against the real services, which it starts if needed).
PYTHON ?= python3
VENV := .venv
JR := $(VENV)/bin/jobruntime
DEMO_HOME := $(CURDIR)/.jobruntime-demo
DEMO_DATA := {"site_name": "Branch 42", "switch_count": 3, "manufacturer": {"name": "Cisco"}, "switch_model": {"model": "Catalyst 9300-48P"}}

.PHONY: install demo test services browser bench

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	$(VENV)/bin/python -m compileall -q jobruntime handlers  # as pip does for a regular install, so no command compiles them at start-up
	touch $@

install: $(VENV)/.installed

demo: install
	rm -rf $(DEMO_HOME)
	export JOBRUNTIME_HOME=$(DEMO_HOME) && \
	$(JR) migrate && \
	$(JR) sync && \
	$(JR) jobs enable local/new_branch/NewBranch && \
	$(JR) users create admin --superuser && \
	$(JR) demo && \
	$(JR) runjob --local --commit --username admin --data '$(DEMO_DATA)' local/new_branch/NewBranch

services:
	infra/services.sh

# The web interface's tests drive Debian's chromium through its chromedriver (CI runs as root).
browser:
	test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
		(apt-get update -q && apt-get install -y -q --no-install-recommends chromium chromium-driver)

test: install services browser
	$(VENV)/bin/lint-imports  # the layer contracts in pyproject.toml
	$(VENV)/bin/ruff check .  # imports sorted
	$(VENV)/bin/python -m pytest

bench: install services
	$(VENV)/bin/pip install -q -e '.[test,bench]'
	$(VENV)/bin/python -m compileall -q jobruntime handlers
	$(VENV)/bin/python -m benchmarks.run_all
