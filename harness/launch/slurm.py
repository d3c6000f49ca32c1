"""`panbench sweep --executor slurm`: every run to do as one job of a job array, submitted through
submitit's AutoExecutor (`--cluster slurm`; `local` and `debug` are submitit's own local executors,
which is how this is tested without a cluster).

The job's resources come from the recipe's `launch:` section (partition, time, GPUs per node,
CPUs per task, memory, account, array parallelism; override with `launch.KEY=VALUE`); runs whose
sections differ go in separate arrays. One task per GPU: submitit starts them, and
`TorchDistributedEnvironment` gives each its DDP rank, so rank 0 alone writes the run store and
talks to W&B. `srun --kill-on-bad-exit` ends a job as soon as one task fails.

Each job is a `submitit.helpers.Checkpointable`: on a timeout or a preemption, submitit calls
`checkpoint()`, which resubmits the same job, and requeues it; the run then resumes from its last
checkpoint (every `train.checkpoint_every` iterations), with `history.jsonl` cut back to it. The
interrupted attempt is recorded as `interrupted`. The submitting process waits for the jobs and
prints the summary; stopping it leaves the jobs running (`panbench sweep RECIPE --dry-run` shows
their state at any time). Job logs: `<runs_root>/.submitit/<job id>_<task>_log.out|err`."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

import submitit

from harness.config.recipe_schema import LaunchConfig
from harness.config.run_spec import RunSpec
from harness.errors import ConfigError
from harness.interrupts import Interrupted
from harness.launch.plan import Launch, PlannedRun, SweepSummary, record_outcome
from harness.tracking.run_store import RunStore

SUBMITIT_DIR = ".submitit"


class RunJob(submitit.helpers.Checkpointable):
    """One run as a (requeueable) submitit job; returns what became of the run."""

    def __init__(self, spec: RunSpec, runs_root: str | Path, rerun: bool = False):
        self.spec = spec
        self.runs_root = str(runs_root)
        self.rerun = rerun  # a requeued rerun finds its run unfinished: it resumes, never sets aside twice

    def __call__(self) -> dict[str, Any]:
        import torch

        from harness.train.run import run_training

        os.register_at_fork(after_in_child=_default_sigterm)
        if submitit.JobEnvironment().num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        torch.set_num_threads(self.spec.settings.launch.cpus_per_task)
        try:
            result = run_training(self.spec, self.runs_root, progress=False, rerun=self.rerun)
        except Exception as exc:  # recorded in the run store; the job itself ran
            return {"run_id": self.spec.run_id, "error": f"{type(exc).__name__}: {exc}"}
        return {"run_id": self.spec.run_id, "skipped": result.skipped, "running_elsewhere": result.running_elsewhere}

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        print(f"run {self.spec.run_id}: requeued; it resumes from its last checkpoint", flush=True)
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def _default_sigterm() -> None:
    """submitit ignores SIGTERM in the job process (SLURM's warning is USR2, and SIGTERM comes just
    before the kill); processes the run forks (PQ's worker pool, data workers) must keep the default,
    or a pool stopping its workers with SIGTERM waits on them forever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def executor_parameters(launch: LaunchConfig, name: str) -> dict[str, Any]:
    """submitit's parameters for one job of `launch` (generic ones, then SLURM's own)."""
    params: dict[str, Any] = {
        "name": name, "timeout_min": launch.time_min, "nodes": launch.nodes, "tasks_per_node": launch.ranks_per_node,
        "gpus_per_node": launch.gpus_per_node, "cpus_per_task": launch.cpus_per_task, "mem_gb": launch.mem_gb,
        "slurm_array_parallelism": launch.array_parallelism, "slurm_srun_args": ["--kill-on-bad-exit=1"],
        "slurm_setup": list(launch.setup)}
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(launch, key):
            params[f"slurm_{key}"] = getattr(launch, key)
    return params


def make_executor(folder: Path, cluster: str, launch: LaunchConfig, name: str) -> submitit.AutoExecutor:
    try:
        executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster,
                                         slurm_max_num_timeout=launch.max_requeues,
                                         local_max_num_timeout=launch.max_requeues)
    except RuntimeError as exc:  # SlurmExecutor without `srun` on PATH
        raise ConfigError(f"--cluster {cluster}: {exc} (--cluster local runs the jobs on this machine)") from None
    executor.update_parameters(**executor_parameters(launch, name))
    return executor


def run_on_slurm(todo: list[PlannedRun], launch: Launch, summary: SweepSummary, echo: Callable[[str], None]) -> None:
    store = RunStore(launch.runs_root)
    folder = Path(launch.runs_root) / SUBMITIT_DIR
    groups: dict[str, list[PlannedRun]] = {}
    for planned in todo:
        groups.setdefault(json.dumps(dataclasses.asdict(planned.spec.settings.launch), sort_keys=True), []).append(planned)
    started = time.perf_counter()
    submitted = []
    for runs in groups.values():
        settings = runs[0].spec.settings.launch
        executor = make_executor(folder, launch.cluster, settings, f"panbench-{runs[0].spec.recipe}")
        with executor.batch():
            jobs = [executor.submit(RunJob(p.spec, launch.runs_root, p.rerun)) for p in runs]
        echo(f"submitted {len(jobs)} job(s) to {launch.cluster} (job ids {jobs[0].job_id} ... {jobs[-1].job_id}; "
             f"{settings.nodes} node(s) x {settings.ranks_per_node} task(s), {settings.time_min} min; logs in {folder})")
        for planned, job in zip(runs, jobs):
            echo(f"      job {job.job_id}: run {planned.run_id} {planned.describe()}")
        submitted.extend(zip(runs, jobs))
    for k, (planned, job) in enumerate(submitted):
        try:
            outcome = job.result()
        except Interrupted:  # the submitting process was stopped; its jobs are the cluster's
            for _, left in submitted[k:]:
                echo(f"      job {left.job_id} keeps running on {launch.cluster} (`panbench sweep ... --dry-run` "
                     f"shows its state)")
            raise
        except Exception as exc:  # the job failed outside the run (submitit's own error: node, pickling, ...)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            record_outcome(store, planned, summary, echo, started, error=f"job {job.job_id}: {first}",
                           log=Path(job.paths.stderr))
            continue
        record_outcome(store, planned, summary, echo, started, skipped=bool(outcome.get("skipped")),
                       running_elsewhere=outcome.get("running_elsewhere"), error=outcome.get("error"),
                       log=Path(job.paths.stderr))
