"""The thread policy of panbench's processes (training, evaluation, benches), stated once.

Why: a team of OpenMP threads splits every torch op evenly between its threads and waits for the
last; on a machine where another process holds a core, that thread waits for the scheduler at
every op, and the mini models run thousands of small ops per step. On an idle 2-core machine
(issue 15, harness.bench.train_step_bench) upsnet-mini, batch 2, took 0.335 s/step on 1 thread
and 0.313 on 2, but 7.16 s/step on 2 threads beside one other training process, while 1 thread
stayed at 0.347: a second thread buys ~7 % and risks a 20x collapse. harness.bench.threads_bench
(results/bench/threads.json) measures 1 thread, 2 threads and 2 threads waiting passively, each
idle and beside a busy process it starts itself; on the shared 2-core machine it was written on
(load average ~10, so "idle" was not idle) 2 threads with OpenMP's default wait took 7-21x the
1-thread step and waiting passively brought 2 threads back near 1 thread's time. One thread per
process on small machines is the choice that cannot collapse; the passive wait keeps any larger
team (a bigger machine, a user's `train.threads`) from spinning on cores others need.

The policy, applied at process start (`panbench`'s entry, torchrun's workers) and when a run starts:
- OpenMP waits passively (`OMP_WAIT_POLICY=PASSIVE`): threads that run out of work sleep instead
  of spinning on a core another process could use. torch 2.14's wheels bundle GNU OpenMP
  (libgomp), which reads the variable once, when torch loads it, so it is set before `import
  torch` (`set_process_defaults`); `GOMP_SPINCOUNT` is libgomp's finer knob. Intel OpenMP's
  `KMP_BLOCKTIME` does nothing in these builds.
- Intra-op threads of a training process (torch.set_num_threads): the recipe key `train.threads`,
  `auto` (the default) or a number. `auto` is half the CPUs this process may use, shared by the
  training processes of this machine (torchrun's LOCAL_WORLD_SIZE), at least 1: one thread per
  process on 2 cores; a team at most half the machine leaves as many cores to other work.
- hotcoco's pool (`RAYON_NUM_THREADS`, read once per process, at hotcoco's first evaluation): the
  training processes give it their intra-op count; elsewhere (`panbench evaluate`) it is every
  usable CPU (rayon's default; `--workers` sets it): rayon's threads steal work rather than split
  it evenly, so one descheduled thread does not hold up the others (threads.json: beside a busy
  process hotcoco's PQ slows about as much on 2 threads as on 1, no collapse).
- The environment always wins: `OMP_NUM_THREADS` (or `MKL_NUM_THREADS`, which torch also reads)
  over `train.threads`; `RAYON_NUM_THREADS` over the intra-op count for hotcoco's pool;
  `OMP_WAIT_POLICY` / `GOMP_SPINCOUNT` as set.

Forking beside running pools is avoided: panbench's process pools use `spawn`
(harness.parallel), PQ's parallel path uses threads, and the hotcoco engines hand the work to
their references in a forked child (harness.metrics.engines.rayon_pool)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from harness.allocator import set_allocation_policy
from harness.errors import ConfigError

AUTO = "auto"
WAIT_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}  # the defaults set before torch loads OpenMP
TORCH_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # torch's intra-op count, in the order torch reads them
RAYON_ENV = "RAYON_NUM_THREADS"


@dataclass(frozen=True)
class ThreadPlan:
    """What a process runs with, and which setting decided each count."""

    intra_op: int
    intra_op_source: str  # an environment variable, `train.threads` or `auto`
    rayon: int
    rayon_source: str

    def describe(self) -> str:
        return (f"{self.intra_op} intra-op thread{'s' * (self.intra_op != 1)} ({self.intra_op_source}), "
                f"hotcoco {self.rayon} ({self.rayon_source})")


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity (taskset / cgroups) where the OS reports one (Linux),
    else every CPU (macOS has no `sched_getaffinity`)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_process_defaults(environ: os._Environ | dict = os.environ) -> None:
    """The OpenMP wait policy, unless the environment sets one; call before torch is imported. For
    this process's own environment, also the allocator's policy (harness.allocator)."""
    for key, value in WAIT_POLICY.items():
        environ.setdefault(key, value)
    if environ is os.environ:
        set_allocation_policy()


def _positive(raw: str, key: str) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{key} must be a positive number of threads or {AUTO}, got {raw!r}")
    return value


def check_setting(setting: str | int) -> None:
    """`train.threads`: `auto` or a positive integer."""
    if str(setting).strip() != AUTO:
        _positive(str(setting), "train.threads")


def auto_threads(cpus: int, local_processes: int = 1) -> int:
    """Half the usable CPUs, shared by this machine's training processes, at least 1."""
    return max(1, cpus // (2 * max(1, local_processes)))


def plan_threads(setting: str | int = AUTO, environ: Mapping[str, str] = os.environ, cpus: int | None = None,
                 local_processes: int | None = None) -> ThreadPlan:
    """The thread counts of a training process: the environment's, else the recipe's `train.threads`
    (`auto` or N); hotcoco's pool follows the intra-op count unless `RAYON_NUM_THREADS` is set."""
    cpus = usable_cpus() if cpus is None else cpus
    if local_processes is None:
        local_processes = int(environ.get("LOCAL_WORLD_SIZE") or 1)
    env_key = next((k for k in TORCH_ENV if str(environ.get(k, "")).strip()), None)
    if env_key is not None:
        intra_op, source = _positive(environ[env_key], env_key), env_key
    elif str(setting).strip() == AUTO:
        intra_op, source = auto_threads(cpus, local_processes), AUTO
    else:
        intra_op, source = _positive(str(setting), "train.threads"), "train.threads"
    if str(environ.get(RAYON_ENV, "")).strip():
        return ThreadPlan(intra_op, source, _positive(environ[RAYON_ENV], RAYON_ENV), RAYON_ENV)
    return ThreadPlan(intra_op, source, intra_op, "intra-op count")


def apply_thread_policy(setting: str | int = AUTO, environ: os._Environ | dict = os.environ) -> ThreadPlan:
    """Plan the counts (see `plan_threads`) and apply them to this process: torch's intra-op threads,
    and `RAYON_NUM_THREADS` for hotcoco's pool (effective if hotcoco has not evaluated yet here)."""
    import torch

    set_process_defaults(environ)
    plan = plan_threads(setting, environ)
    if torch.get_num_threads() != plan.intra_op:
        torch.set_num_threads(plan.intra_op)
    environ.setdefault(RAYON_ENV, str(plan.rayon))
    return plan


def rayon_threads(requested: int, environ: os._Environ | dict = os.environ) -> int:
    """hotcoco's pool size for this process: `RAYON_NUM_THREADS` when set, else `requested` (set
    there before hotcoco's first evaluation reads it)."""
    if str(environ.get(RAYON_ENV, "")).strip():
        return _positive(environ[RAYON_ENV], RAYON_ENV)
    environ[RAYON_ENV] = str(_positive(str(requested), "--workers"))
    return requested
