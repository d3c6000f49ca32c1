"""`make gpu-check` (harness.bench.gpu_check) on the CPU with tiny sizes: the path a GPU machine runs,
with every panbench dependency other than torch and torchvision (and theirs: numpy, Pillow) made
unimportable, as on a bare GPU machine; gpu.json's rows; the cost section re-priced from measured
steps on this machine, where the recipes can be read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness.bench.gpu_check import SCALES, cost_section

ROOT = Path(__file__).resolve().parents[1]
TORCH_STACK = {"torch", "torchvision", "numpy", "pillow", "filelock"}  # torch's and torchvision's own
IMPORT_NAMES = {"pyyaml": "yaml", "torch-fidelity": "torch_fidelity"}


def other_dependencies() -> list[str]:
    """Import names of panbench's dependencies that a bare GPU machine does not have."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = [d.split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in deps]
    return [IMPORT_NAMES.get(n, n.replace("-", "_")) for n in names if n not in TORCH_STACK]


BARE = """
import runpy, sys
sys.modules.update(dict.fromkeys(BLOCKED))  # None: `import` raises ModuleNotFoundError, find_spec says absent
sys.argv = ["gpu_check", *ARGS]
runpy.run_module("harness.bench.gpu_check", run_name="__main__")
"""


def run_bare(tmp_path, models: list[str]) -> dict:
    out = tmp_path / "gpu.json"
    code = BARE.replace("BLOCKED", repr(set(other_dependencies()))).replace(
        "ARGS", repr(["--tiny", "--steps", "1", "--out", str(out), "--models", *models]))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def test_the_blocked_list_names_the_packages_a_gpu_machine_lacks():
    assert {"omegaconf", "imagecodecs", "rich", "pycocotools", "hotcoco", "wandb", "yaml"} <= set(other_dependencies())


@pytest.mark.parametrize("models", [["drn-d-105", "fasterrcnn-r50-fpn"]])
def test_tiny_run_with_torch_and_torchvision_only(tmp_path, models):
    report = run_bare(tmp_path, models)
    assert report["tiny"] is True and list(report["models"]) == models
    for name, row in report["models"].items():
        assert "error" not in row, (name, row)
        assert row["loss_finite"] and row["s_per_iter"] > 0 and len(row["losses"]) == 2
        assert row["amp"] is False and row["peak_memory_mib"] is None  # the CPU: no AMP, no GPU memory
    assert "skipped" in report["cost"]  # omegaconf is missing there: --cost-only recomputes it


@pytest.mark.slow
def test_every_paper_scale_model_runs_tiny_on_a_bare_machine(tmp_path):
    report = run_bare(tmp_path, list(SCALES))
    assert all(row.get("loss_finite") for row in report["models"].values()), report["models"]


def test_cost_section_reprices_the_paper_recipes_from_measured_steps():
    rows = {"upsnet-r50": {"s_per_iter": 0.48, "images_per_gpu": 1},
            "sss-r50": {"s_per_iter": 0.24, "images_per_gpu": 1}, "spade": {"s_per_iter": 1.0, "images_per_gpu": 2}}
    cost = cost_section(rows, tiny=False)
    entry = cost["entries"]["upsnet-r50@cityscapes"]
    assert entry["measured_s_per_iter"] == 0.48 and entry["measured_over_proxy"] == pytest.approx(0.48 / 0.24, abs=1e-3)
    assert cost["entries"]["sss-r50@cityscapes"]["measured_over_proxy"] == pytest.approx(1.0)
    table1 = cost["recipes"]["panda-table1"]
    assert table1["runs_priced"] > 0 and table1["gpu_hours_measured"] > table1["gpu_hours_proxy"]


def test_models_past_the_time_budget_are_recorded_as_skipped():
    import torch

    from harness.bench.gpu_check import run

    report = run(["drn-d-105", "spade"], 1, True, torch.device("cpu"), budget_s=-1.0, echo=lambda line: None)
    assert all(row["error"].startswith("skipped: the") for row in report["models"].values())
