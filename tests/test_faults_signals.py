"""The cluster's stop signals and a diverging model, on tiny runs in real subprocesses (issue 20):
a SIGTERM / SIGINT / SIGHUP sent to `panbench train` mid-run ends it in one stderr line with exit
128 + n, the run recorded `interrupted` with the signal and the iteration, its checkpoint at that
iteration, its W&B run closed and its lock released; the rerun (after a torn history line, as a full
disk leaves it) resumes and ends with the metrics of an uninterrupted run. A sweep forwards the
signal to its runs, lists each interrupted run in one line and exits 128 + n, without a traceback.
A diverging run fails in one line naming the iteration, the terms and the lr."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.tracking.run_store import RunStore
from harness.train.checkpoint import load_checkpoint
from test_tracking_run_record import wandb_summary

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1"}
ITERS = 12
TINY = ["data.n=2", "data.synth.count=2", "data.synth.val_count=1", "data.synth.width=64", "data.synth.height=32",
        f"train.max_iters={ITERS}", "train.log_every=1", "train.checkpoint_every=5", "eval.images_logged=0"]


def _default_stop_signals() -> None:
    """A child starts with the default dispositions, whoever started the tests: under `nohup` SIGHUP
    is inherited ignored, and panbench (rightly) leaves an ignored signal ignored."""
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def panbench(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
                            preexec_fn=_default_stop_signals, **popen)


def train(tmp: Path, runs: Path, *extra: str) -> subprocess.Popen:
    return panbench("train", "panda-table2-mini", *TINY, f"data.cache={tmp / 'cache'}", *extra, "--runs-root",
                    str(runs), "--no-progress")


def steps_logged(runs: Path) -> int:
    return max((len(p.read_text().splitlines()) for p in runs.glob("*/history.jsonl")), default=0)


def signal_after(proc: subprocess.Popen, runs: Path, signum: int, steps: int = 3) -> tuple[str, str]:
    """Send `signum` once `steps` steps are logged; (stdout, stderr) of the process."""
    deadline = time.monotonic() + 300
    while steps_logged(runs) < steps:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signum)
    return proc.communicate(timeout=300)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("uninterrupted")
    proc = train(tmp, tmp / "runs")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    (record,) = RunStore(tmp / "runs").runs()
    return RunStore(tmp / "runs").read_metrics(record["run_id"])


def check_interrupted(runs: Path, signum: int, code: int, err: str) -> str:
    """The one line, the exit code, the record, the checkpoint and the lock of an interrupted run."""
    name = signal.Signals(signum).name
    assert code == 128 + signum, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("panbench: interrupted: run ") and name in lines[0], err
    store = RunStore(runs)
    (record,) = store.runs()
    rid = record["run_id"]
    iteration = record["interrupted"]["iteration"]
    assert record["status"] == "interrupted" and record["interrupted"] == {"signal": name, "iteration": iteration}
    assert f"at iteration {iteration}" in lines[0] and 3 <= iteration < ITERS
    assert [r["step"] for r in store.read_history(rid)] == list(range(1, iteration + 1))  # the step finished
    assert load_checkpoint(store.checkpoint_dir(rid))["iteration"] == iteration
    assert not (store.run_dir(rid) / "run.lock").exists()
    assert wandb_summary(Path(record["wandb_dir"]))["state"] != "running"  # its W&B run was closed
    return rid


def test_sigterm_mid_run_is_recorded_and_the_rerun_resumes_to_the_same_metrics(tmp_path, uninterrupted):
    runs = tmp_path / "runs"
    proc = train(tmp_path, runs)
    _, err = signal_after(proc, runs, signal.SIGTERM)
    rid = check_interrupted(runs, signal.SIGTERM, proc.returncode, err)

    history = runs / rid / "history.jsonl"
    with open(history, "a") as f:  # a full disk cut the next append short
        f.write('{"step": 99, "loss": 1.2')
    again = train(tmp_path, runs)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("panbench: warning:")]
    assert len(warnings) == 1 and str(history) in warnings[0] and "torn last line" in warnings[0], err
    assert "Traceback" not in err
    store = RunStore(runs)
    record = store.read_run(rid)
    assert record["status"] == "finished" and record["attempts"] == 2 and "interrupted" not in record
    assert [r["step"] for r in store.read_history(rid)] == list(range(1, ITERS + 1))
    assert store.read_metrics(rid) == uninterrupted


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_ctrl_c_and_hangup_are_recorded_like_sigterm(tmp_path, signum):
    runs = tmp_path / "runs"
    proc = train(tmp_path, runs)
    _, err = signal_after(proc, runs, signum)
    check_interrupted(runs, signum, proc.returncode, err)


def test_a_diverging_run_fails_in_one_line(tmp_path):
    runs = tmp_path / "runs"
    proc = train(tmp_path, runs, "train.base_lr=1e12")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("panbench: error: run "), err
    assert "loss is not finite at iteration" in lines[0] and "=nan" in lines[0] and "lr 1e+12" in lines[0]
    store = RunStore(runs)
    (record,) = store.runs()
    assert record["status"] == "failed" and "loss is not finite" in record["error"]
    assert store.read_metrics(record["run_id"]) is None
    for row in store.read_history(record["run_id"]):  # nothing non-finite was logged
        assert all(math.isfinite(v) for v in row.values() if isinstance(v, float))
    assert not (runs / record["run_id"] / "run.lock").exists()


SWEEP = """
base: mini
data: {{synth: {{width: 64, height: 32, count: 4, val_count: 2}}, cache: {cache}}}
train: {{max_iters: 30, log_every: 1, checkpoint_every: 5}}
eval: {{images_logged: 0}}
grid:
  data.n: [2, 4]
"""


@pytest.mark.parametrize("signum, parallel", [(signal.SIGTERM, "1"), (signal.SIGINT, "2")])
def test_a_stopped_sweep_lists_its_interrupted_runs_and_the_next_sweep_resumes_them(tmp_path, signum, parallel):
    recipe = tmp_path / "tiny-sweep.yaml"
    recipe.write_text(SWEEP.format(cache=tmp_path / "cache"))
    runs = tmp_path / "runs"
    proc = panbench("sweep", str(recipe), "--parallel", parallel, "--runs-root", str(runs))
    out, err = signal_after(proc, runs, signum)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, out + err
    assert "Traceback" not in out + err and err.strip().splitlines() == [f"panbench: interrupted: stopped by {name}"]
    store = RunStore(runs)
    stopped = [r for r in store.runs() if r["status"] == "interrupted"]
    assert stopped and all(r["interrupted"]["signal"] == name for r in stopped)
    assert {r["status"] for r in store.runs()} <= {"interrupted", "finished"}
    for record in stopped:  # one line per interrupted run
        at = record["interrupted"]["iteration"]
        assert out.count(f"interrupted {record['run_id']}: {name} at iteration {at}") == 1, out
        assert not (runs / record["run_id"] / "run.lock").exists()

    again = panbench("sweep", str(recipe), "--parallel", parallel, "--runs-root", str(runs))
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, out + err
    assert {r["status"] for r in store.runs()} == {"finished"} and len(list(store.runs())) == 2
    for record in stopped:
        resumed = store.read_run(record["run_id"])
        assert resumed["attempts"] == 2 and resumed["iterations"] > record["interrupted"]["iteration"]
        assert [r["step"] for r in store.read_history(record["run_id"])] == list(range(1, resumed["iterations"] + 1))
