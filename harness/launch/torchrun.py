"""One run as a DDP job through torchrun (`panbench train --nproc N`, `panbench sweep --executor
torchrun`): `python -m torch.distributed.run --standalone --nproc_per_node N -m harness.train.run`.

A failing rank ends the job within torchrun's monitor interval: its agent stops the other ranks as
soon as one exits non-zero. Rank 0 may be stopped before it can record anything, so the launcher
finishes the record: it takes the run's lock (the dead rank 0 held it), and marks the run failed
with the error of the rank that failed first (the `error.rank<k>.log` that rank wrote), or with
torchrun's exit code and the job's log when no rank left one."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

from harness.errors import PanbenchError
from harness.tracking.run_lock import RunLock
from harness.tracking.run_store import RunStore
from harness.train.run import RunResult
from harness.train.run_spec import RunSpec

ENTRY = "harness.train.run"


class RunFailed(PanbenchError):
    """A run launched in other processes ended without finishing; the record says why."""


def torchrun_command(recipe: str, overrides: list[str], runs_root: str | Path, nproc: int, run_id: str,
                     progress: bool = True, entry: str = ENTRY) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", entry, recipe, *overrides, "--runs-root", str(runs_root), "--expect-run-id", run_id]
    return cmd if progress else [*cmd, "--no-progress"]


def run_distributed(spec: RunSpec, recipe: str, overrides: list[str], runs_root: str | Path, nproc: int,
                    progress: bool = True, env: Mapping[str, str] | None = None, log: Path | None = None,
                    entry: str = ENTRY) -> RunResult:
    """The run `spec` (= `recipe` + `overrides`) as `nproc` DDP processes; its outcome is read from
    the run store the processes wrote. `log` receives the job's output (default: the terminal)."""
    cmd = torchrun_command(recipe, overrides, runs_root, nproc, spec.run_id, progress, entry)
    started = time.perf_counter()
    with (open(log, "a", encoding="utf-8") if log else contextlib.nullcontext()) as out:
        code = subprocess.call(cmd, env=dict(env) if env is not None else None, stdout=out,
                               stderr=subprocess.STDOUT if out else None)
    return launch_outcome(spec, runs_root, code, log, time.perf_counter() - started, what="torchrun")


def launch_outcome(spec: RunSpec, runs_root: str | Path, code: int, log: Path | None, duration_s: float,
                   what: str) -> RunResult:
    """What became of a run launched as other processes (exit `code`), from its record; a run
    whose processes died before recording is marked failed here."""
    store = RunStore(runs_root)
    rid, run_dir = spec.run_id, store.run_dir(spec.run_id)
    record = store.read_run(rid) or {}
    if record.get("status") == "finished":
        return RunResult(rid, run_dir, store.read_metrics(rid) or {}, skipped=False)
    holder = RunLock(run_dir).held_elsewhere()
    if code == 0 and holder is not None:
        return RunResult(rid, run_dir, {}, skipped=True, running_elsewhere=holder.describe())
    if record.get("status") == "running" and holder is None:
        record = _record_lost_run(store, rid, f"{what} exited with code {code} before rank 0 recorded an error",
                                  log or run_dir, duration_s) or record
    raise RunFailed(f"run {rid} {record.get('status', 'not started')} ({what} exit code {code}): "
                    f"{record.get('error')} (log: {record.get('traceback') or log or run_dir})")


def _record_lost_run(store: RunStore, rid: str, fallback: str, log: Path, duration_s: float) -> dict | None:
    """Mark a run whose rank 0 was stopped as failed, with the first failing rank's error, while
    holding its lock (so a run another process has taken over meanwhile is left alone)."""
    lock = RunLock(store.run_dir(rid))
    if not lock.acquire():
        return None
    try:
        causes = store.rank_errors(rid)
        error, path = causes[0] if causes else (fallback, log)
        return store.record_failure(rid, error, path, duration_s)
    finally:
        lock.release()
