# Quick start: `make demo` (build ./lab and run the main job), `make test` (ruff + pytest),
# `make test-fast` (ruff + pytest without the live-watcher and slow tests, for the edit-run loop).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sitesrv demo --lab lab --hierarchy hierarchy.yaml

lint: $(STAMP)
	$(BIN)/ruff check sitesrv tools tests bench examples

test: lint
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider

test-fast: lint
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider -m "not live_fs and not slow"

bench: $(STAMP)
	$(BIN)/python bench/compression.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/distribution.py
	$(BIN)/python bench/packages.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/stepcpu.py
	$(BIN)/python bench/hierarchy.py

clean:
	rm -rf $(VENV) lab bench/out
