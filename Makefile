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
	$(PY) -m harness.bench.panda_online_bench
	$(PY) -m harness.bench.train_step_bench
	$(PY) -m harness.bench.pq_bench
	$(PY) -m harness.bench.synthesis_bench

# The PanDA study in miniature (~15 min on 2 CPU cores): synthetic street scenes -> PanDA 1x and the class
# balance before / after (Supp. Figs 1-2), then the mini UPSNet-style model trained on nested subsets with
# and without PanDA (Table 2), the log-linear fits and data efficiency (Table 3), Fig. 3 and the dashboard.
# Finished runs are skipped, so a second `make demo` only re-renders. DEMO_SEEDS=0,1,2 adds seeds.
DEMO_SEEDS ?=
demo: setup
	rm -rf $(DEMO_DIR)/synth $(DEMO_DIR)/panda
	$(PANBENCH) data synth --out $(DEMO_DIR)/synth --n $(DEMO_N) --seed 0
	$(PANBENCH) panda --src $(DEMO_DIR)/synth --out $(DEMO_DIR)/panda --copies 1 --seed 0 --examples $(DEMO_DIR)/examples.png
	$(PANBENCH) data stats $(DEMO_DIR)/synth --compare $(DEMO_DIR)/panda --plot $(DEMO_DIR)/class_share.png
	$(PANBENCH) sweep panda-table2-mini $(if $(DEMO_SEEDS),--seeds $(DEMO_SEEDS),)
	$(PANBENCH) report --out $(DEMO_DIR) --recipe panda-table2-mini
	@echo; cat $(DEMO_DIR)/panda-table2.md; echo; echo; cat $(DEMO_DIR)/panda-table3.md
	@echo; echo "demo: tables, figures and dashboard.html in $(DEMO_DIR)/ (runs in results/runs/, W&B offline runs inside each)"

# --- paper tables and figures (analysis) -------------------------------------------------------------
# SCALE=mini (CPU recipes on synthetic scenes) unless a GPU answers nvidia-smi; SCALE=full runs the
# paper recipes (set their data roots, e.g. `make panda-table2 SCALE=full`); SEEDS=0,1,2 repeats every
# run with each training seed (tables then show mean ± std). Each target runs the grid
# it needs (`panbench sweep`: finished runs are skipped), then renders from the run store beside the
# paper's own numbers (`*-paper.*`). A failed run is reported; the rest still renders; make then fails.
SCALE ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo full || echo mini)
SUFFIX := $(if $(filter mini,$(SCALE)),-mini,)
TABLES_DIR ?= results/tables
FIGURES_DIR ?= results/figures
SUPP_SRC ?= data/supp/synth
SUPP_PANDA ?= data/supp/panda
SEEDS ?=
SWEEP_FLAGS := $(if $(SEEDS),--seeds $(SEEDS),)

# $(call sweep_then,RECIPE,render commands): render even when some runs failed, then report the failure.
define sweep_then
	@status=0; $(PANBENCH) sweep $(1) $(SWEEP_FLAGS) || status=$$?; \
	$(2) || exit $$?; \
	exit $$status
endef

# $(call runs_and_paper,TABLE,RECIPE): TABLE from RECIPE's runs and from the paper's numbers.
runs_and_paper = $(PANBENCH) table $(1) --source runs --recipe $(2)$(SUFFIX) --out $(TABLES_DIR)/$(1).csv && \
  $(PANBENCH) table $(1) --source reference --out $(TABLES_DIR)/$(1)-paper.csv

.PHONY: panda-table1 panda-table2 panda-table3 panda-table4 panda-fig3 panda-supp panda-copies tables dashboard

# $(call runs_table_figure,NAME,RECIPE): table NAME and figure NAME from RECIPE's runs only (a study the
# papers publish no numbers for).
runs_table_figure = $(PANBENCH) table $(1) --source runs --recipe $(2)$(SUFFIX) --out $(TABLES_DIR)/$(1).csv && \
  $(PANBENCH) figure $(1) --source runs --recipe $(2)$(SUFFIX) --out $(FIGURES_DIR)/$(1)

panda-table1: setup
	$(call sweep_then,panda-table1$(SUFFIX),$(call runs_and_paper,panda-table1,panda-table1))

panda-table2: setup
	$(call sweep_then,panda-table2$(SUFFIX),$(call runs_and_paper,panda-table2,panda-table2))

panda-table3: setup
	$(call sweep_then,panda-table2$(SUFFIX),\
	  $(call runs_and_paper,panda-fit,panda-table2) && $(call runs_and_paper,panda-table3,panda-table2))

panda-table4: setup
	$(call sweep_then,panda-table4$(SUFFIX),$(call runs_and_paper,panda-table4,panda-table4))

# How many PanDA copies help (the paper's open question): 1x / 2x / 4x / 8x offline and online PanDA at a
# fixed n, each beside its compute-matched plain control; PQ and AP against copies with seed bands.
panda-copies: setup
	$(call sweep_then,panda-copies$(SUFFIX),$(call runs_table_figure,panda-copies,panda-copies))

panda-fig3: setup
	$(call sweep_then,panda-table2$(SUFFIX),\
	  $(PANBENCH) figure fig3 --source runs --recipe panda-table2$(SUFFIX) --out $(FIGURES_DIR)/panda-fig3 && \
	  $(PANBENCH) figure fig3 --source reference --out $(FIGURES_DIR)/panda-fig3-paper)

# Supplementary Tables 1-3 (the 2x rows are in the Table 1 grid) and Figs 1-2 (class pixel share of
# SUPP_SRC before / after PanDA 1x; SUPP_SRC defaults to synthetic scenes, pass a Cityscapes root at full scale).
panda-supp: setup
	test -f $(SUPP_SRC)/panoptic.json || $(PANBENCH) data synth --out $(SUPP_SRC) --n 64 --seed 0
	test -f $(SUPP_PANDA)/panoptic.json || $(PANBENCH) panda --src $(SUPP_SRC) --out $(SUPP_PANDA) --copies 1 --seed 0
	$(PANBENCH) figure class-share --root $(SUPP_SRC) --compare $(SUPP_PANDA) --out $(FIGURES_DIR)/panda-supp-fig1-2
	$(call sweep_then,panda-table1$(SUFFIX),\
	  for t in panda-supp-table1 panda-supp-table2 panda-supp-table3; do \
	    $(PANBENCH) table $$t --source reference --out $(TABLES_DIR)/$$t-paper.csv || exit $$?; \
	    $(PANBENCH) table $$t --source runs --recipe panda-table1$(SUFFIX) --out $(TABLES_DIR)/$$t.csv || exit $$?; \
	  done && \
	  $(PANBENCH) figure per-class --table panda-supp-table2 --source runs --recipe panda-table1$(SUFFIX) --out $(FIGURES_DIR)/panda-supp-table2-bars && \
	  $(PANBENCH) figure per-class --table panda-supp-table3 --source runs --recipe panda-table1$(SUFFIX) --out $(FIGURES_DIR)/panda-supp-table3-bars)

# Every table: the paper's numbers (PanDA and synthesis) always, and the PanDA tables from whatever runs
# the store already holds, each from its own recipe (no training here: the per-table targets train).
tables: setup
	@for t in panda-table1 panda-table2 panda-table3 panda-table4 panda-fit panda-supp-table1 panda-supp-table2 \
	          panda-supp-table3 synth-table1 synth-table2 synth-table3 synth-table4; do \
	  $(PANBENCH) table $$t --source reference --out $(TABLES_DIR)/$$t-paper.csv >/dev/null || exit $$?; \
	done
	$(PANBENCH) report --out $(TABLES_DIR) --no-dashboard --recipe panda-table1$(SUFFIX) --figures per-class \
	  --tables panda-table1,panda-supp-table1,panda-supp-table2,panda-supp-table3
	$(PANBENCH) report --out $(TABLES_DIR) --no-dashboard --recipe panda-table2$(SUFFIX) --figures fig3 \
	  --tables panda-table2,panda-table3,panda-fit
	$(PANBENCH) report --out $(TABLES_DIR) --no-dashboard --recipe panda-table4$(SUFFIX) --figures none \
	  --tables panda-table4
	$(PANBENCH) report --out $(TABLES_DIR) --no-dashboard --recipe panda-copies$(SUFFIX) --figures panda-copies \
	  --tables panda-copies
	@echo "tables in $(TABLES_DIR)/ (*-paper.csv: the published numbers)"

dashboard: setup
	$(PANBENCH) dashboard --out results/dashboard.html

# --- synthesis paper: Figure 4 ------------------------------------------------------------------------
# How often nearest 2x upsampling maps a feature onto another panoptic segment, per generator stage
# 8x16 -> ... -> 256x512, on FIG4_ROOT's panoptic maps (synthetic scenes by default; a Cityscapes root
# converted with `panbench data cityscapes` reproduces the paper's Cityscapes figure).
FIG4_ROOT ?= $(SUPP_SRC)

.PHONY: synth-fig4
synth-fig4: setup
	test -f $(FIG4_ROOT)/panoptic.json || $(PANBENCH) data synth --out $(FIG4_ROOT) --n 64 --seed 0
	$(PANBENCH) figure synth-fig4 --root $(FIG4_ROOT) --size 256x512 --smallest 8x16 --out $(FIGURES_DIR)/synth-fig4
