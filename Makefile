# panbench — every target builds .venv first (through the stamp file), so a fresh clone needs only `make X`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PANBENCH := $(VENV)/bin/panbench
STAMP := $(VENV)/.installed
export WANDB_MODE ?= offline
export WANDB_SILENT ?= true

.PHONY: setup test test-fast browser clean

setup: $(STAMP)

# torch/torchvision are pinned: pip takes them from this machine's disk; an unpinned torch downloads gigabytes.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian's chromium for the dashboard's browser test (Playwright drives it through executable_path;
# Playwright's own browser download is never used).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "chromium not installed: browser tests will be skipped"; }

test: setup browser
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) results/runs results/bench build *.egg-info

# --- PanDA benchmark and the first demo (panda) ------------------------------------------------------
DEMO_DIR ?= results/demo
DEMO_N ?= 50

.PHONY: bench demo

# Performance figures, each a ratio against a baseline timed in the same run (results/bench/*.json).
bench: setup
	$(PY) -m harness.bench.panda_bench

# Synthetic street scenes -> PanDA 1x -> class balance before / after (table + figure in $(DEMO_DIR)/).
demo: setup
	rm -rf $(DEMO_DIR)/synth $(DEMO_DIR)/panda
	$(PANBENCH) data synth --out $(DEMO_DIR)/synth --n $(DEMO_N) --seed 0
	$(PANBENCH) panda --src $(DEMO_DIR)/synth --out $(DEMO_DIR)/panda --copies 1 --seed 0
	$(PANBENCH) data stats $(DEMO_DIR)/synth --compare $(DEMO_DIR)/panda --plot $(DEMO_DIR)/class_share.png
