# One-command set-up: every target creates the virtualenv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The demo needs only the package (no test, dev or bench extras).
DEMO_STAMP := $(VENV)/.installed-package

# System tools some tests use (socat pty pairs, ser2net's rfc2217 server, tshark for the Wireshark
# dissector). Installed when we are root on a Debian-like machine; otherwise the tests that need
# them skip with the reason. tshark's package asks whether non-root users may capture: preseeded
# to "no" (we only read files).
SYSTEM_TOOLS := socat ser2net tshark

.PHONY: all venv sysdeps test lint bench demo campaign pictures clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,pictures,population]'
	touch $(STAMP)

$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

venv: $(STAMP)

sysdeps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing"; \
	    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true; \
	    (timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq $$missing >/dev/null) \
	      || echo "could not install$$missing: tests that need them will skip"; \
	  else echo "not installed:$$missing (tests that need them will skip)"; fi; \
	fi

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

# Every folder with Python in it; pyproject.toml's [tool.mypy] files lists the same ones
# (tests/test_lint_config.py keeps the two equal).  mypy runs once, with the config's strictness.
LINT_PATHS := protocol firmware hw_sim programmer patient tests bench docs/tools

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

bench: $(STAMP)
	@set -e; for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f; done

# The README pictures (docs/img/*.png and the JSON sidecars of their plotted data; checked in).
pictures: $(STAMP)
	$(BIN)/python docs/tools/make_pictures.py docs/img

demo: $(DEMO_STAMP)
	$(BIN)/python -m hw_sim.cli.demo

# Full-size reliability campaigns (tests/reliability, docs/RELIABILITY.md); `make test` runs them
# bounded.  Sizes: CAMPAIGN_<NAME>=N overrides one; CAMPAIGN_SEED draws another reproducible mix.
campaign: $(STAMP)
	-$(BIN)/python -m pip install --quiet atheris
	CAMPAIGN=full $(BIN)/python -m pytest -q -m slow -n 2 --dist loadgroup -p no:randomly \
		--timeout 3600 tests/reliability

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
