# Two commands do everything on a fresh machine:
#   make demo   set up, then run the bundled example deployment end to end
#   make test   set up (system packages included), then run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= demo-out

.PHONY: demo test corpus bench lint setup

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/gateway demo --out $(OUT)

test: setup
	$(VENV)/bin/ruff check gateway plugins tests benchmarks
	$(PY) -m pytest -q

corpus: setup
	$(PY) -m pytest -q -m corpus tests/corpus

bench: setup
	$(PY) -m benchmarks
