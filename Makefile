# Two entry points (README): `make demo` and `make test`. Each creates ./.venv and installs
# everything it needs, so both work from a fresh clone on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Keep TensorFlow quiet and on the CPU threads we have.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test install lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): setup.py | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m hand3d_tf.cli.demo

test: $(STAMP)
	$(PY) -m pytest -q tests

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff
	$(VENV)/bin/ruff format --check hand3d_tf benchmarks tests
	$(VENV)/bin/ruff check hand3d_tf benchmarks tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
