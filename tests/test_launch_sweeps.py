"""Sweeps of 4 tiny runs as processes (`panbench sweep --parallel 2`), checked from the run store
and the W&B offline runs (read back with `wandb leet inspect`): two sweeps of one recipe started
together into one store execute each run once; a sweep killed with SIGKILL part-way (its whole
process group, as a crashed node) and restarted ends with exactly 4 finished runs, each with one
W&B offline run and no repeated step, and metrics equal to the uninterrupted sweeps'."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.tracking.run_store import RunStore
from test_tracking_run_record import wandb_history

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
ITERS, EVAL_EVERY = 6, 3
RECIPE = f"""
base: mini
data: {{synth: {{width: 64, height: 32, count: 4, val_count: 2}}, cache: CACHE}}
train: {{max_iters: {ITERS}, log_every: 1, checkpoint_every: 2}}
eval: {{images_logged: 1, every: {EVAL_EVERY}}}
grid:
  data.n: [2, 4]
  data.panda: [none, 1x]
"""
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def tiny_recipe(tmp: Path) -> Path:
    path = tmp / "tiny-sweep.yaml"
    path.write_text(RECIPE.replace("CACHE", str(tmp / "cache")))
    return path


def sweep(recipe: Path, runs: Path, **popen) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "harness.cli", "sweep", str(recipe), "--parallel", "2", "--runs-root", str(runs)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT,
                            **popen)


def summary_counts(out: str) -> dict[str, int]:
    """The numbers of a sweep's closing summary line."""
    match = re.search(r"^sweep \S+: (\d+) finished, (\d+) skipped \(already finished\), (\d+) failed, "
                      r"(\d+) running elsewhere$", out, re.MULTILINE)
    assert match, out
    return dict(zip(("finished", "skipped", "failed", "running elsewhere"), map(int, match.groups())))


def train_steps(store: RunStore, rid: str) -> list[int]:
    return [r["step"] for r in store.read_history(rid) if "eval" not in r]


def eval_steps(store: RunStore, rid: str) -> list[int]:
    return [r["step"] for r in store.read_history(rid) if "eval" in r]


def check_each_run_once(runs: Path) -> RunStore:
    """4 finished runs; each logged every step once, with one offline W&B run holding the same steps."""
    store = RunStore(runs)
    records = list(store.runs())
    assert len(records) == 4 and {r["status"] for r in records} == {"finished"}
    for record in records:
        rid = record["run_id"]
        assert train_steps(store, rid) == list(range(1, ITERS + 1)) and eval_steps(store, rid) == [EVAL_EVERY]
        folders = list((store.run_dir(rid) / "wandb").glob("offline-run-*"))
        assert [str(f) for f in folders] == [record["wandb_dir"]]
        rows = wandb_history(folders[0])
        assert [row["_step"] for row in rows] == list(range(1, ITERS + 1))  # no step twice in W&B either
        assert [row["train/loss"] for row in rows] == pytest.approx(
            [r["loss"] for r in store.read_history(rid) if "eval" not in r])
        assert "val/pq" in rows[EVAL_EVERY - 1] and "val/pq" in rows[-1]  # eval.every: val/* history
        assert not (store.run_dir(rid) / "run.lock").exists()
    return store


@pytest.fixture(scope="module")
def concurrent_sweeps(tmp_path_factory):
    """Two identical sweeps started together into one store (also the uninterrupted reference)."""
    tmp = tmp_path_factory.mktemp("concurrent")
    recipe = tiny_recipe(tmp)
    started = time.perf_counter()
    procs = [sweep(recipe, tmp / "runs") for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    print(f"two concurrent sweeps of 4 tiny runs: {time.perf_counter() - started:.1f} s")
    return recipe, tmp / "runs", [p.returncode for p in procs], outs


def test_two_concurrent_sweeps_execute_each_run_once(concurrent_sweeps):
    _, runs, codes, outs = concurrent_sweeps
    assert codes == [0, 0], outs
    store = check_each_run_once(runs)
    assert {r["attempts"] for r in store.runs()} == {1}  # nobody ran a run twice
    counts = [summary_counts(out) for out in outs]
    assert sum(c["finished"] for c in counts) == 4 and sum(c["failed"] for c in counts) == 0, outs
    for c in counts:  # what one sweep did not run, it found finished or running in the other
        assert c["finished"] + c["skipped"] + c["running elsewhere"] == 4


def test_a_sweep_killed_with_sigkill_and_restarted_finishes_each_run_once(concurrent_sweeps, tmp_path):
    recipe, reference, _, _ = concurrent_sweeps
    runs = tmp_path / "runs"
    store = RunStore(runs)
    proc = sweep(recipe, runs, start_new_session=True)  # its own process group: the runs die with it
    deadline = time.monotonic() + 300
    while not any(len(train_steps(store, r["run_id"])) > 2 for r in store.runs()):  # past a checkpoint
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    interrupted = {r["run_id"] for r in store.runs() if r["status"] == "running"}
    assert interrupted and all((runs / rid / "run.lock").exists() for rid in interrupted)  # dead holders

    again = sweep(recipe, runs)
    out = again.communicate(timeout=600)[0]
    assert again.returncode == 0, out
    check_each_run_once(runs)
    for rid in interrupted:  # resumed by a new attempt that said whose lock it took over
        assert store.read_run(rid)["attempts"] == 2
        assert "took over the stale lock" in (runs / rid / "train.log").read_text()
    for record in store.runs():
        ours = store.read_metrics(record["run_id"])
        assert ours == RunStore(reference).read_metrics(record["run_id"])  # same numbers as uninterrupted
