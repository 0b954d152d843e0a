# medlethe: `make demo` runs the main job, `make test` runs the checks. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.medlethe-installed
TEST_STAMP := $(VENV)/.medlethe-test-plugin-installed
# The CPU build of torch must come first: anything else would pull a CUDA build.
TORCH ?= torch==2.13.0

.PHONY: install test lint typecheck pytest demo clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The tests need a real third-party plugin installed: tests/plugin_pkg.
$(TEST_STAMP): $(STAMP) tests/plugin_pkg/pyproject.toml
	$(PY) -m pip install --quiet -e tests/plugin_pkg
	touch $(TEST_STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	MYPY=$(VENV)/bin/mypy .ci/typecheck

pytest: $(TEST_STAMP)
	$(PY) -m pytest

test: lint typecheck pytest

# The main job on the embedded default: synthclinic patient-10 on the tiny model.
demo: $(STAMP)
	$(VENV)/bin/medlethe run --model tiny --scenario synthclinic/patient-10 --output demo-out

clean:
	rm -rf build demo-out .mypy_cache .ruff_cache .pytest_cache
