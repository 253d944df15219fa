# The README's two commands: `make demo` and `make test`. Both create or reuse .venv.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stereo_tv-installed
APT_PKGS := libusb-1.0-0 libgomp1 mesa-vulkan-drivers libvulkan1 libegl1 libgl1
DEMO_ARGS ?=

.PHONY: env demo test test-all lint clean-env

env: $(STAMP)

$(STAMP): pyproject.toml
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[viz,dev,baselines]"
	@touch $(STAMP)

demo: env
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

test: env
	$(BIN)/python -m pytest -q -m "not slow" --timeout=900

test-all: env
	$(BIN)/python -m pytest -q --timeout=1800

lint: env
	$(BIN)/ruff check stereo_tv thirdparty scripts benchmarks tests

clean-env:
	rm -rf $(VENV)
