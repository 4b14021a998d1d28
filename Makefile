# One-command set-up: every target creates the virtualenv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all venv test lint bench demo campaign clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check protocol firmware hw_sim programmer tests bench
	$(BIN)/mypy protocol firmware

bench: $(STAMP)
	@set -e; for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f; done

demo: $(STAMP)
	$(BIN)/python -m hw_sim.demo

campaign: $(STAMP)
	CAMPAIGN=full $(BIN)/python -m pytest -q -m slow tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
