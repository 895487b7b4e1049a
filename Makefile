# Two entry points: `make run` and `make test`. Each sets up .venv itself on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint typecheck pytest bench clean chromium

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/pvm demo
	$(BIN)/pvm serve

# Browser tests need Debian's chromium; install it when missing and we can (root + apt).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -q && apt-get install -y -q chromium) >/dev/null; \
	  else echo "chromium not installed: browser tests will be skipped"; fi; }

lint: setup
	$(BIN)/ruff check app tests benchmarks
	$(BIN)/ruff format --check app tests benchmarks

typecheck: setup
	$(BIN)/mypy app

pytest: setup chromium
	$(BIN)/pytest -q -n 2 --dist loadfile

test: lint typecheck pytest

clean:
	rm -rf $(VENV) var/*.db
