# Two entry points (README): `make demo` and `make test`. Each creates ./.venv and installs
# everything it needs, so both work from a fresh clone on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Keep TensorFlow quiet and on the CPU threads we have.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-slow mutate install lint clean teacher

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Everything: the runtime, TensorFlow and the ONNX converter (the [tf] extra), ONNX Runtime
# (the [onnx] extra) and pytest. A device needs only `pip install hand3d_tf` (+ [onnx] for
# .onnx models; docs/devices.md). Re-run when setup.py changes.
$(STAMP): setup.py | $(PY)
	$(PY) -m pip install --quiet -e ".[tf,onnx,test]"
	touch $(STAMP)

install: $(STAMP)

# The labelling teacher of hand3d-autolabel (MediaPipe's hand models, Apache-2.0), extracted
# once from the mediapipe wheel into .teacher/ (docs/autolabel.md); never fetched at run time.
TEACHER := .teacher/hand_landmark_full.tflite
$(TEACHER): tools/fetch_teacher.py | $(STAMP)
	$(PY) tools/fetch_teacher.py --dest=.teacher

teacher: $(TEACHER)

demo: $(STAMP)
	$(PY) -m hand3d_tf.cli.demo

test: $(STAMP) $(TEACHER)
	$(PY) -m pytest -q tests

# The tests marked slow (full-size networks, multi-worker training); `make test` skips them.
test-slow: $(STAMP) $(TEACHER)
	$(PY) -m pytest -q -m slow tests

# Mutation testing of the TF-free core (docs/development.md; settings in pyproject.toml's
# [tool.mutmut], judged-equivalent mutants in tools/equivalent_mutants.txt). A fresh run every
# time; CPU-heavy, so niced; MUTANTS='hand3d_tf.glue*' limits it to one module. Not run in
# CI: about 45 minutes on two busy cores for all 2,776 mutants.
MUTANTS ?=
mutate: $(STAMP)
	$(PY) -m pip install --quiet "mutmut==3.8.1"
	rm -rf mutants
	nice -n 10 $(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(PY) tools/mutation_score.py

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff
	$(VENV)/bin/ruff format --check hand3d_tf benchmarks tests tools
	$(VENV)/bin/ruff check hand3d_tf benchmarks tests tools

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache mutants .teacher
