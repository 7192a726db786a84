# Two commands on a fresh machine: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export MLFLOW_DISABLE_TELEMETRY := true
export MLFLOW_LOGGING_LEVEL ?= WARNING

.PHONY: install demo test check lint bench clean

install: $(STAMP)

# torch first and pinned: 2.13.0 is the CPU wheel; an open range could pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/modelreg demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/registry_scale.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
