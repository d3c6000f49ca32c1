"""The paper-scale path on the CPU (the code a GPU run takes, minus CUDA): `panbench train` with
upsnet-r50 at Cityscapes' 1024x2048, batch 1, PanDA 1x, for 2 iterations, then its evaluation and
its run record. Slow (a few minutes and ~8 GB of memory on 2 cores: issue 24 measured ~95 s per
iteration and 7.9 GB peak RSS); `make gpu-check` (harness.bench.gpu_check) times the same model on a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FULL_RESOLUTION = ["model.name=upsnet-r50", "model.options.backbone_weights=none", "data.synth.width=2048",
                   "data.synth.height=1024", "data.synth.count=2", "data.synth.val_count=1", "data.n=1",
                   "data.panda=1x", "train.max_iters=2", "eval.images_logged=1"]


def test_upsnet_r50_trains_two_iterations_at_paper_resolution(tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    cmd = [sys.executable, "-m", "harness.cli", "train", "mini", *FULL_RESOLUTION, f"data.cache={tmp_path / 'cache'}",
           "--runs-root", str(runs), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = [p.parent for p in runs.glob("*/run.json")]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["model"] == "upsnet-r50"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"pq", "miou", "ap"} <= metrics.keys()
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]
    assert any("loss" in row for row in history)
