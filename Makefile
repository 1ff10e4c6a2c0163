# Two commands set everything up on a fresh machine:
#   make run    installs into .venv, then serves the chat on the bundled corpus and model
#   make test   installs into .venv (with test tools and headless Chromium), then runs every test tier
#   make test-fast  the unit tier alone (no models, under 2 minutes)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 7860

.PHONY: run test test-fast install install-test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

run: install
	$(BIN)/python app.py --port $(PORT)

test: install-test
	$(BIN)/python -m pytest -q -ra

test-fast: install-test
	$(BIN)/python -m pytest -q -ra tests/unit

bench: install
	$(BIN)/python bench/ask_latency.py
	$(BIN)/python bench/conversations.py
	$(BIN)/python bench/chat_load.py
	$(BIN)/python bench/index_build.py --large 100000
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) .pytest_cache
