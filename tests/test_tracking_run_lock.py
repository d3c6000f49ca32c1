"""One execution per run: the lock in the run folder (harness.tracking.run_lock). A live holder
keeps others out and is named (host, pid); a holder killed with SIGKILL on this host, or a holder
on another host whose lease nobody refreshed, is taken over and named; `panbench train` meeting a
held lock skips the run and says where it runs; two identical `panbench train` commands started
together train the run once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.config.run_spec import RunSpec
from harness.tracking.run_lock import LOCK_FILE, RunLock

ROOT = Path(__file__).parents[1]


def hold_lock(run_dir: Path) -> subprocess.Popen:
    """Another process holding the run's lock until it is stopped."""
    code = ("import sys, time; from harness.tracking.run_lock import RunLock; "
            f"lock = RunLock({str(run_dir)!r}); assert lock.acquire(); print('held', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "held"
    return proc


def forge_foreign_lease(run_dir: Path, lease_s: float, age_s: float) -> None:
    """A lock taken on another host, written in filelock's marker format, last refreshed `age_s` ago."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    path.write_text(f"filelock/2\npid=4242\nhost=gpu-node-17\nmode=lease\ntoken=0123abcd\nduration={lease_s!r}\n")
    then = time.time() - age_s
    os.utime(path, (then, then))


def test_a_live_holder_keeps_others_out_and_is_named(tmp_path):
    proc = hold_lock(tmp_path)
    try:
        lock = RunLock(tmp_path)
        assert not lock.acquire()
        holder = lock.held_elsewhere()
        assert (holder.host, holder.pid) == (socket.gethostname(), proc.pid)
        assert f"pid {proc.pid}" in holder.describe() and socket.gethostname() in holder.describe()
    finally:
        proc.kill()
        proc.wait()


def test_a_holder_killed_with_sigkill_is_taken_over_and_named(tmp_path):
    proc = hold_lock(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lock = RunLock(tmp_path)
    assert lock.held_elsewhere() is None  # a dead pid of this host holds nothing
    assert lock.acquire()
    assert lock.took_over is not None and lock.took_over.pid == proc.pid
    assert f"pid={os.getpid()}" in (tmp_path / LOCK_FILE).read_text()  # the marker is now this process's
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_foreign_lease_is_respected_while_fresh_and_taken_over_once_silent(tmp_path):
    forge_foreign_lease(tmp_path / "fresh", lease_s=2.0, age_s=0.0)
    started = time.perf_counter()
    assert not RunLock(tmp_path / "fresh", lease_s=2.0).acquire()  # refreshed just now: a live node
    assert time.perf_counter() - started < 1.0  # no waiting on a live holder
    forge_foreign_lease(tmp_path / "silent", lease_s=2.0, age_s=60.0)
    lock = RunLock(tmp_path / "silent", lease_s=2.0)
    assert lock.held_elsewhere() is None
    assert lock.acquire()  # filelock watched the silent lease for its whole duration, then took it
    assert (lock.took_over.host, lock.took_over.pid) == ("gpu-node-17", 4242)
    lock.release()


def test_train_meets_a_held_lock_skips_and_says_where_the_run_runs(tmp_path, capsys):
    spec = RunSpec.from_recipe("panda-table2-mini", ["data.n=10"])
    run_dir = tmp_path / "runs" / spec.run_id
    proc = hold_lock(run_dir)
    try:
        assert main(["train", "panda-table2-mini", "data.n=10", "--runs-root", str(tmp_path / "runs")]) == 0
    finally:
        proc.kill()
        proc.wait()
    out = capsys.readouterr().out
    assert f"run {spec.run_id} skipped: it is running elsewhere (host {socket.gethostname()}, pid {proc.pid}" in out
    assert not (run_dir / "run.json").exists()  # nothing written into the other process's run


@pytest.mark.slow
def test_two_identical_train_commands_started_together_train_once(tmp_path):
    overrides = ["data.n=2", "data.synth.count=2", "data.synth.val_count=1", "data.synth.width=64",
                 "data.synth.height=32", "train.max_iters=4", "train.log_every=1", "eval.images_logged=0",
                 f"data.cache={tmp_path / 'cache'}"]
    cmd = [sys.executable, "-m", "harness.cli", "train", "panda-table2-mini", *overrides, "--runs-root",
           str(tmp_path / "runs"), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["attempts"] == 1
    steps = [json.loads(line)["step"] for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert sum(f"run {run_dir.name} finished:" in out for out in outs) == 1  # one trained it
    # the other met the lock, or came after and found the run finished
    assert sum("running elsewhere" in out or "was finished before" in out for out in outs) == 1
