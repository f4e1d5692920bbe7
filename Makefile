# Two commands for a fresh machine: `make run` (the sample edition) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The sample corpus is the news of 17 October 2017; its edition is the next morning's.
SAMPLE_DATE ?= 2017-10-18
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
# Prefect's temporary API gets 20 s to start by default: too little on a busy 2-core machine.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180

$(BIN)/digest: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: setup run test check bench dist smoke-wheel
setup: $(BIN)/digest

run: setup
	$(BIN)/digest run --config digest.toml --date $(SAMPLE_DATE)

test: setup
	$(BIN)/python -m pytest -ra

# The edit loop: everything but the end-to-end tests marked slow (`make test` runs those too, as CI does).
check: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b $(BENCH_ARGS) || exit 1; done

# The wheel (templates/ and sample/ inside the package), and the proof that it works installed.
dist: setup
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation -w dist .

smoke-wheel: setup
	VENV=$(VENV) .ci/wheel-smoke
