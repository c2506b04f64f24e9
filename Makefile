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

# The demo runs for its default duration (pipeline/demo/options.py). Ctrl-C ends it
# sooner, with its summary, and make with it, exit 0: while it runs the demo owns the
# terminal's foreground (pipeline/demo/terminal.py), so make itself is not interrupted.
demo: install
	@command -v megawatch >/dev/null 2>&1 || echo "megawatch is in $(BIN): run '. $(BIN)/activate' to have it on PATH"
	$(BIN)/megawatch demo

# What the tests need beyond the venv (Debian's Alertmanager, promtool, chromium, iproute2;
# ClickHouse 24.8 as chDB 2.1.1 in .venv-ch248): tests/install-deps.sh installs what is
# missing (as root, or through sudo).
test-deps:
	PYTHON=$(PYTHON) tests/install-deps.sh

# The whole check: lint (ruff, formatting, mypy strict), the schemas, the suite: on
# TEST_WORKERS pytest workers (each test file's tests stolen by whichever is free), then
# the tests marked `exclusive` with the machine to themselves (pyproject.toml says why).
TEST_WORKERS ?= 2
test: install test-deps lint
	$(BIN)/python -m pipeline schemas --check
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not exclusive"
	$(BIN)/python -m pytest -q -m exclusive

lint: install
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/ruff format --check pipeline tests benchmarks
	$(BIN)/mypy
