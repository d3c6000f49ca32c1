"""DDP on the CPU: `torchrun --nproc_per_node 2` (gloo) trains one run to the end, and only rank 0
writes: one record, each logged step once, one checkpoint, one W&B run; the intermediate evaluation
(rank 0 evaluates while rank 1 waits) is logged once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_two_process_gloo_run_finishes_and_only_rank0_writes(tmp_path):
    runs = tmp_path / "runs"
    overrides = ["data.n=4", "data.synth.count=4", "data.synth.val_count=1", "train.max_iters=2", "train.log_every=1",
                 "train.checkpoint_every=1", "eval.every=1", "eval.images_logged=0", f"data.cache={tmp_path / 'cache'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "harness.cli", "train", "panda-table2-mini", *overrides, "--runs-root", str(runs), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]  # beside it: the store's .store.json
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["world_size"] == 2
    assert record["iterations"] == 2 and record["lr"] == pytest.approx(0.02 * 4 / 2)  # 2 ranks x 2 images
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [(h["step"], "eval" in h) for h in history] == [(1, False), (1, True), (2, False)]  # eval.every=1
    assert 0.0 <= history[1]["eval"]["pq"] <= 100.0
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["last.pt"]
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert not [p for p in run_dir.rglob("*.tmp")]
