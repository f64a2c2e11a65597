# Two entry points for a newcomer; both install what they need first.
#   make demo   build the control plane (cached), run the smoke benchmark, print the report path
#   make test   unit + integration tests against the real local control plane
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
AB := $(VENV)/bin/auditbench

.PHONY: setup controlplane demo test bench clean

$(PY):
	python3 -m venv $(VENV)

setup: $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'

controlplane: setup
	$(AB) controlplane build

demo: controlplane
	$(AB) run scenarios/smoke.yaml

test: controlplane
	bash scripts/system-deps.sh
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
