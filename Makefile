# Two commands for a fresh machine: `make run` (the sample edition) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

$(BIN)/digest: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: setup run test bench
setup: $(BIN)/digest

run: setup
	$(BIN)/digest run --config digest.toml

test: setup
	$(BIN)/python -m pytest -ra

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done
