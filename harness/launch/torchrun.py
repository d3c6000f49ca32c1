"""Runs launched as other processes: one run as a DDP job through torchrun (`panbench train
--nproc N`, `panbench sweep --executor torchrun`: `python -m torch.distributed.run --standalone
--nproc_per_node N -m harness.cli train ...`), or as one plain process (`sweep --parallel N`): every
process runs the one entry point, `panbench train` (harness/commands/train.py).

The launched command must land on the planned run (`--expect-run-id`), and its rank 0 writes what
became of the run to an outcome file (trained, finished before, running elsewhere). A failing rank
ends a DDP job within torchrun's monitor interval: its agent stops the other ranks as soon as one
exits non-zero. Rank 0 may be stopped before it can record anything, so the launcher finishes the
record: it takes the run's lock (the dead rank 0 held it) and marks the run failed with the error
of the rank that failed first (the `error.rank<k>.log` that rank wrote), or with the exit code and
the job's log when no rank left one. A run its processes recorded `interrupted` (a stop signal,
forwarded by this process or sent to them) raises Interrupted here too."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from harness.config.run_spec import RunSpec
from harness.errors import PanbenchError
from harness.interrupts import Interrupted, deferred, wait_for
from harness.interrupts import watch as forwarding
from harness.tracking.run_lock import RunLock
from harness.tracking.run_store import RunStore
from harness.train.run import RunResult

ENTRY = "harness.cli"  # `python -m harness.cli train ...` = `panbench train ...`
WATCH_SECONDS = 5.0  # how often a launcher looks at its run's progress


class RunFailed(PanbenchError):
    """A run launched in other processes ended without finishing; the record says why."""


def entry_args(recipe: str, overrides: Sequence[str], runs_root: str | Path, run_id: str, outcome: Path,
               entry: str = ENTRY, rerun: bool = False) -> list[str]:
    """`-m harness.cli train RECIPE overrides ...` for a launched process that must land on `run_id`."""
    return ["-m", entry, "train", recipe, *overrides, "--runs-root", str(runs_root), "--expect-run-id", run_id,
            "--outcome-file", str(outcome), *(["--rerun"] if rerun else [])]


def launch(spec: RunSpec, command: Callable[[Path], list[str]], runs_root: str | Path,
           env: Mapping[str, str] | None, log: Path | None, what: str,
           watch: Callable[[], None] | None = None) -> RunResult:
    """Run `command(outcome_file)` and read what became of the run. `log` receives the output
    (default: the terminal); `watch` is called every few seconds while the command runs."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="panbench-launch-") as tmp:
        outcome_file = Path(tmp) / "outcome.json"
        # a stop signal this process receives is forwarded to it (harness.interrupts)
        with (open(log, "a", encoding="utf-8") if log else contextlib.nullcontext()) as out, deferred(), \
                forwarding(subprocess.Popen(command(outcome_file), env=dict(env) if env is not None else None,
                                            stdout=out, stderr=subprocess.STDOUT if out else None)) as child:
            code = wait_for(child, watch, WATCH_SECONDS)
        outcome = json.loads(outcome_file.read_text()) if outcome_file.is_file() else None
    return launch_outcome(spec, runs_root, code, log, time.perf_counter() - started, what, outcome)


def run_process(spec: RunSpec, recipe: str, overrides: list[str], runs_root: str | Path,
                env: Mapping[str, str] | None = None, log: Path | None = None, rerun: bool = False,
                watch: Callable[[], None] | None = None) -> RunResult:
    """The run as one process (`python -m harness.cli train`)."""
    return launch(spec, lambda outcome: [sys.executable, *entry_args(recipe, overrides, runs_root, spec.run_id,
                                                                     outcome, rerun=rerun), "--no-progress"],
                  runs_root, env, log, what="the run's process", watch=watch)


def run_distributed(spec: RunSpec, recipe: str, overrides: list[str], runs_root: str | Path, nproc: int,
                    progress: bool = True, env: Mapping[str, str] | None = None, log: Path | None = None,
                    entry: str = ENTRY, rerun: bool = False, watch: Callable[[], None] | None = None) -> RunResult:
    """The run `spec` (= `recipe` + `overrides`) as `nproc` DDP processes through torchrun."""
    def command(outcome: Path) -> list[str]:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               *entry_args(recipe, overrides, runs_root, spec.run_id, outcome, entry, rerun)]
        return cmd if progress else [*cmd, "--no-progress"]

    return launch(spec, command, runs_root, env, log, what="torchrun", watch=watch)


def launch_outcome(spec: RunSpec, runs_root: str | Path, code: int, log: Path | None, duration_s: float,
                   what: str, outcome: dict | None = None) -> RunResult:
    """What became of a run launched as other processes (exit `code`, rank 0's `outcome`), from its
    record; a run whose processes died before recording, or whose rank 0 recorded only the
    collective it lost a peer in, gets its root cause recorded here."""
    store = RunStore(runs_root)
    rid, run_dir = spec.run_id, store.run_dir(spec.run_id)
    record = store.read_run(rid) or {}
    if outcome and outcome.get("running_elsewhere"):
        return RunResult(rid, run_dir, {}, skipped=True, running_elsewhere=outcome["running_elsewhere"])
    if record.get("status") == "finished":
        return RunResult(rid, run_dir, store.read_metrics(rid) or {}, skipped=bool(outcome and outcome["skipped"]))
    stop = record.get("interrupted") if record.get("status") == "interrupted" else None
    if isinstance(stop, dict) and stop.get("signal") in signal.Signals.__members__:  # its processes were stopped
        raise Interrupted(signal.Signals[stop["signal"]], stop.get("iteration"), rid)
    if record.get("status") in ("running", "failed") and RunLock(run_dir).held_elsewhere() is None:
        record = _record_root_cause(store, rid, f"{what} exited with code {code} before rank 0 recorded an error",
                                    log or run_dir, duration_s) or record
    raise RunFailed(f"run {rid} {record.get('status', 'not started')} ({what} exit code {code}): "
                    f"{record.get('error')} (log: {record.get('traceback') or log or run_dir})")


def _record_root_cause(store: RunStore, rid: str, fallback: str, log: Path, duration_s: float) -> dict | None:
    """Holding the run's lock (taken over from a stopped rank 0; a run another process has taken
    meanwhile is left alone): mark it failed with the first failing rank's error, or `fallback`
    when rank 0 never recorded one."""
    lock = RunLock(store.run_dir(rid))
    if not lock.acquire():
        return None
    try:
        record = store.read_run(rid) or {}
        cause = store.root_cause(rid)
        if cause is not None and record.get("traceback") != str(cause[1]):
            return store.record_failure(rid, cause[0], cause[1], record.get("duration_s") or duration_s)
        if record.get("status") == "running":
            return store.record_failure(rid, fallback, log, duration_s)
        return record
    finally:
        lock.release()
