# The two commands: `make serve` and `make test`. Each sets itself up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every package `make` installs, at the version the suite was run with, with hashes, for
# Python 3.11-3.13 on any platform. `make lock` regenerates it from pyproject.toml's ranges.
LOCK := requirements.txt
# uv installs the lock (seconds, and into a cache the offline install test reuses) and writes
# it. It is pinned and installed into the venv by pip, so no system uv is needed.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
JS_STAMP := tests/js/node_modules/.installed
PORT ?= 5006
HOST ?= 127.0.0.1

.PHONY: serve sandbox notebook test test-fast bench bench-soak bench-soak-hour lint lock system-deps clean

# Any Python from 3.11 (PYTHON=python3.13 make ...); CI on this machine uses python3, 3.11.
NEED_PY := import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else "Python 3.11 or newer is required, found %d.%d" % v[:2])

$(PY):
	@$(PYTHON) -c '$(NEED_PY)'
	$(PYTHON) -m venv $(VENV)

# --compile-bytecode as pip does: uv leaves it out by default, and with PYTHONDONTWRITEBYTECODE
# set (as on this machine) every interpreter start would compile its imports again.
$(STAMP): pyproject.toml $(LOCK) | $(PY)
	@$(PY) -c '$(NEED_PY)'  # an existing .venv may be older
	$(PY) -m pip install --quiet 'uv==$(UV_VERSION)'
	$(UV) pip install --quiet --python $(PY) --require-hashes --compile-bytecode -r $(LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

# Re-resolve the lock from pyproject.toml, keeping every pin that still fits its range.
# `make lock LOCK_FLAGS=--upgrade` moves everything to the newest allowed, or
# LOCK_FLAGS='--upgrade-package panel' one package. Then `make test`, and commit both files.
lock: | $(PY)
	$(PY) -m pip install --quiet 'uv==$(UV_VERSION)'
	$(UV) pip compile pyproject.toml --extra test --extra notebooks --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command 'make lock' \
		--quiet $(LOCK_FLAGS) -o $(LOCK)

$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

system-deps:
	@scripts/ensure-system-deps.sh

# The dashboard. With no SUPABASE_URL/watch.toml it starts the sandbox with demo traffic.
serve: $(STAMP)
	$(PY) -m monitor serve --host $(HOST) --port $(PORT)

# JupyterLab on notebooks/, with the project installed (the views run live in the kernel).
notebook: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir notebooks --ip $(HOST) --no-browser \
		$(if $(filter 0,$(shell id -u)),--allow-root)  # JupyterLab refuses root without it

# Just the local Realtime sandbox with demo traffic, for your own clients.
sandbox: $(STAMP)
	$(PY) -m sandbox serve --demo

# Two workers (tests/conftest.py says how the files are split); the slowest tests named.
test: $(STAMP) $(JS_STAMP) system-deps
	$(PY) -m pytest -n 2 --durations=20

test-fast: $(STAMP)
	$(PY) -m pytest tests/unit

# Each benchmark prints its figures next to an in-run baseline; benchmarks/README.md has the method.
bench: $(STAMP) $(JS_STAMP) system-deps
	$(PY) benchmarks/sandbox_fanout.py
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/dashboard_latency.py
	$(PY) benchmarks/dashboard_cpu.py
	$(PY) benchmarks/scrape.py
	$(PY) benchmarks/load_presence.py
	$(PY) benchmarks/history_memory.py

# Ten minutes of streaming: server and browser memory must stay flat. SOAK_MIN=N instead runs
# the soak (benchmarks/soak.py): N minutes at 2,000 events/s, a tab replaced every minute, the
# sandbox restarted every 10 (make bench-soak-hour: the hour). Neither is part of `make test`.
# SOAK_HISTORY=S sets the monitor's [buffers] history_s (600: flat once 10 minutes are in).
SOAK_ARGS = $(if $(SOAK_HISTORY),--history-s $(SOAK_HISTORY))
bench-soak: $(STAMP) system-deps
	$(if $(SOAK_MIN),$(PY) benchmarks/soak.py --minutes $(SOAK_MIN) $(SOAK_ARGS),$(PY) benchmarks/dashboard_memory.py)

bench-soak-hour: $(STAMP) system-deps
	$(PY) benchmarks/soak.py --minutes 60 $(SOAK_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check sandbox feeds metrics dashboards monitor tests benchmarks app.py wall.py

clean:
	rm -rf $(VENV) tests/js/node_modules
