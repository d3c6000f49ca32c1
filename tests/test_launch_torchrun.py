"""`--executor torchrun` / `panbench train --nproc`: a 2-process gloo job whose rank 1 raises ends
promptly (torchrun's agent stops rank 0, no collective waits out its timeout) and the run is
recorded failed with rank 1's error and traceback, its lock released; a sweep through torchrun
trains each run as a 2-rank DDP job."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from ddp_failing_rank import MESSAGE
from harness.config.run_spec import RunSpec
from harness.launch.torchrun import RunFailed, run_distributed
from harness.tracking.run_store import RunStore
from harness.train.distributed import DIST_TIMEOUT
from test_launch_sweeps import ENV, summary_counts, tiny_recipe

pytestmark = pytest.mark.slow

TESTS = Path(__file__).parent
TINY = ["data.n=4", "data.synth.count=4", "data.synth.val_count=1", "data.synth.width=64", "data.synth.height=32",
        "train.max_iters=4", "train.log_every=1", "eval.images_logged=0"]


@pytest.mark.timeout(int(DIST_TIMEOUT.total_seconds() / 4))  # a hang would wait out a collective's timeout
def test_a_failing_rank_ends_the_job_promptly_and_the_run_is_failed_with_its_error(tmp_path):
    overrides = [*TINY, f"data.cache={tmp_path / 'cache'}"]
    spec = RunSpec.from_recipe("panda-table2-mini", overrides)
    env = {**ENV, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    started = time.perf_counter()
    with pytest.raises(RunFailed, match=f"rank 1: ValueError: {MESSAGE}"):
        run_distributed(spec, "panda-table2-mini", overrides, tmp_path / "runs", 2, progress=False, env=env,
                        log=tmp_path / "torchrun.log", entry="ddp_failing_rank")
    print(f"2-rank gloo job with a failing rank 1 ended after {time.perf_counter() - started:.1f} s")
    record = RunStore(tmp_path / "runs").read_run(spec.run_id)
    assert record["status"] == "failed" and record["error"] == f"rank 1: ValueError: {MESSAGE}"
    assert record["traceback"].endswith("error.rank1.log") and "raise ValueError" in Path(record["traceback"]).read_text()
    assert record["world_size"] == 2
    assert not (tmp_path / "runs" / spec.run_id / "run.lock").exists()
    assert "Root Cause" in (tmp_path / "torchrun.log").read_text()  # @record: torchrun names the failing rank


def test_a_sweep_through_torchrun_trains_each_run_as_a_ddp_job(tmp_path):
    import subprocess

    recipe = tiny_recipe(tmp_path)
    cmd = [sys.executable, "-m", "harness.cli", "sweep", str(recipe), "--executor", "torchrun", "--nproc", "2",
           "data.n=4", "data.panda=none", "train.max_iters=2", "--runs-root", str(tmp_path / "runs")]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**ENV, "OMP_NUM_THREADS": "1"}, timeout=600,
                          cwd=TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary_counts(done.stdout)["finished"] == 1
    (record,) = RunStore(tmp_path / "runs").runs()
    assert record["status"] == "finished" and record["world_size"] == 2
    history = [json.loads(line) for line in (tmp_path / "runs" / record["run_id"] / "history.jsonl").open()]
    assert [h["step"] for h in history if "eval" not in h] == list(range(1, record["iterations"] + 1))
