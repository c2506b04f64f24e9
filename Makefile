# One command each for users and CI. `make demo` installs and runs the demo;
# `make test` installs the project, what the tests need (Debian's Alertmanager), lints
# and runs the whole suite. Override PYTHON to pick the interpreter (>= 3.11).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-deps lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/megawatch demo

# The Alertmanager tests need Debian's prometheus-alertmanager: installed here when
# missing (as root, or through sudo).
test-deps:
	@command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing prometheus-alertmanager (Debian) for the Alertmanager tests"; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null; }

# The whole check: lint (ruff, formatting, mypy strict), the schemas, the suite.
test: install test-deps lint
	$(BIN)/python -m pipeline schemas --check
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/ruff format --check pipeline tests benchmarks
	$(BIN)/mypy
