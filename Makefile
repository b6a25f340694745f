# The two commands: `make serve` and `make test`. Each sets itself up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JS_STAMP := tests/js/node_modules/.installed
PORT ?= 5006
HOST ?= 127.0.0.1

.PHONY: serve sandbox notebook test test-fast bench bench-soak lint system-deps clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required (found %s)" % sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,notebooks]'
	touch $(STAMP)

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

test: $(STAMP) $(JS_STAMP) system-deps
	$(PY) -m pytest --durations=20  # the slowest tests named in every run, to keep the suite short

test-fast: $(STAMP)
	$(PY) -m pytest tests/unit

# Each benchmark prints its figures next to an in-run baseline; benchmarks/README.md has the method.
bench: $(STAMP) $(JS_STAMP) system-deps
	$(PY) benchmarks/sandbox_fanout.py
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/dashboard_latency.py
	$(PY) benchmarks/dashboard_cpu.py
	$(PY) benchmarks/scrape.py

# Ten minutes of streaming: server and browser memory must stay flat.
bench-soak: $(STAMP) system-deps
	$(PY) benchmarks/dashboard_memory.py

lint: $(STAMP)
	$(VENV)/bin/ruff check sandbox feeds metrics dashboards monitor tests benchmarks app.py wall.py

clean:
	rm -rf $(VENV) tests/js/node_modules
