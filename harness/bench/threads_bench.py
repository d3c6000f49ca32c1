"""The thread policy's evidence (harness.threads): seconds per training step of upsnet-mini (batch
2, 128x256, CPU) on 1 thread, 2 threads and 2 threads with a passive OpenMP wait, each on an idle
machine and beside one CPU-bound process the bench starts itself (a busy loop), with the ratio
busy / idle; and hotcoco's PQ (rayon's pool of 1 or 2 threads) under the same two conditions.

    .venv/bin/python -m harness.bench.threads_bench [--steps 6] [--max-seconds 20]
    .venv/bin/python -m harness.bench.threads_bench --demo [--demo-scale full|short] [--demo-parallel N]

Every measurement runs in a fresh process whose environment sets the thread count and the wait
policy before torch loads OpenMP (`OMP_WAIT_POLICY` unset is GNU OpenMP's default, a spin before
each sleep). The conditions take turns per configuration, so slow drifts of the machine's load
hit both. On a shared machine "idle" means "without the bench's own busy process": the load
averages are recorded, and the ratios are what to read. Writes results/bench/threads.json.

`--demo` times `make demo`'s commands (harness' own entry, fresh data cache and run store in a
temporary folder) once on its own and once beside a busy process: the target is <= 1.3x
(`--demo-scale short`: the same commands on 12 scenes with a few epochs, for a quick check;
`--demo-parallel`: runs at once, as `make demo DEMO_PARALLEL=N`).
Writes results/bench/demo.json."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from harness.atomic import write_json
from harness.bench.machine_load import load_average, load_line, machine
from harness.demo import demo_commands, run_commands
from harness.threads import RAYON_ENV, TORCH_ENV, plan_threads

STEP_CONFIGS = {  # name: (intra-op threads, OMP_WAIT_POLICY or None for OpenMP's default)
    "1_thread": (1, None),
    "2_threads": (2, None),
    "2_threads_passive": (2, "PASSIVE"),
}
PQ_THREADS = (1, 2)
CONDITIONS = ("idle", "busy")
DEMO_TARGET = 1.3
# a CPU-bound loop that ends when its parent does (checked every ~10 ms): a bench killed by a signal
# runs no `finally`, and an orphaned busy loop would load every later timing on the machine
BUSY_LOOP = ("import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n"
             "    for _ in range(200_000):\n        pass\n")


@contextmanager
def busy_process(on: bool) -> Iterator[None]:
    """One CPU-bound process (a Python busy loop) running for the block's duration, when `on`."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(os.getpid())])
    try:
        time.sleep(0.5)  # running before the measured process starts
        yield
    finally:
        proc.kill()
        proc.wait()


def worker_env(threads: int, wait_policy: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (*TORCH_ENV, RAYON_ENV, "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update({"OMP_NUM_THREADS": str(threads), RAYON_ENV: str(threads)})
    if wait_policy is not None:
        env["OMP_WAIT_POLICY"] = wait_policy
    return env


def in_subprocess(args: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-m", "harness.bench.threads_bench", *args], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def openmp_runtime() -> str:
    """The OpenMP library this process loaded with torch (Linux: from /proc/self/maps)."""
    import torch  # noqa: F401  (loads the OpenMP runtime)

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "unknown"
    names = sorted({Path(line.split()[-1]).name for line in maps.splitlines()
                    if any(lib in line for lib in ("libgomp", "libiomp", "libomp"))})
    return ", ".join(names) or "none found"


def time_steps(steps: int, max_seconds: float, warmup: int = 2) -> dict:
    """upsnet-mini's step times in this process (threads from the environment), stopping after
    `steps` steps or `max_seconds` of timed steps (at least two)."""
    import torch

    from harness.bench.train_step_bench import build, step

    name = "upsnet-mini"
    images, runs = build((name,))
    model, optimiser, targets = runs[name]
    for _ in range(warmup):
        step(model, optimiser, images, targets)
    seconds: list[float] = []
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    while len(seconds) < steps and (len(seconds) < 2 or sum(seconds) < max_seconds):
        seconds.append(step(model, optimiser, images, targets))
    cpu = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    return {"seconds": seconds, "threads": torch.get_num_threads(), "cpu_per_wall": cpu,
            "wait_policy": os.environ.get("OMP_WAIT_POLICY", "default")}


def time_pq(repeat: int) -> dict:
    """hotcoco's PQ on synthetic 512x1024 pairs in this process (pool size from RAYON_NUM_THREADS)."""
    from harness.bench.pq_bench import reference_module
    from harness.metrics.engines import hotcoco_pq

    with tempfile.TemporaryDirectory(prefix="threads_bench_") as tmp:
        paths = reference_module("pq_pairs").write_pq_pair(tmp, 12, 512, 1024, seed=0, n_things=30)
        hotcoco_pq.pq_compute(**paths, cache_dir=Path(tmp) / "cache")  # warm: the ground-truth cache
        seconds = []
        for _ in range(repeat):
            start = time.perf_counter()
            hotcoco_pq.pq_compute(**paths, cache_dir=Path(tmp) / "cache")
            seconds.append((time.perf_counter() - start) / 12)
    return {"seconds": seconds}


def summary(seconds: list[float], unit: str = "s") -> dict:
    scale = {"s": 1.0, "ms": 1000.0}[unit]
    return {f"median_{unit}": round(scale * statistics.median(seconds), 4), f"min_{unit}": round(scale * min(seconds), 4),
            "n": len(seconds)}


def run(steps: int, max_seconds: float, pq_repeat: int, out: Path) -> dict:
    load_before = load_average()
    steps_out: dict[str, Any] = {}
    for name, (threads, policy) in STEP_CONFIGS.items():
        row: dict[str, Any] = {"threads": threads, "omp_wait_policy": policy or "default (spin, then sleep)"}
        for condition in CONDITIONS:
            with busy_process(condition == "busy"):
                raw = in_subprocess(["--worker-steps", "--steps", str(steps), "--max-seconds", str(max_seconds)],
                                    worker_env(threads, policy))
            row[condition] = {**summary(raw["seconds"]), "cpu_per_wall": round(raw["cpu_per_wall"], 2)}
        row["busy_over_idle"] = round(row["busy"]["median_s"] / row["idle"]["median_s"], 2)
        steps_out[name] = row
    base = steps_out["1_thread"]["idle"]["median_s"]
    for row in steps_out.values():
        row["idle_over_1_thread_idle"] = round(row["idle"]["median_s"] / base, 3)
        row["busy_over_1_thread_idle"] = round(row["busy"]["median_s"] / base, 3)
    pq_out: dict[str, Any] = {}
    for threads in PQ_THREADS:
        row = {"rayon_threads": threads}
        for condition in CONDITIONS:
            with busy_process(condition == "busy"):
                raw = in_subprocess(["--worker-pq", "--pq-repeat", str(pq_repeat)], worker_env(threads, "PASSIVE"))
            row[condition] = summary(raw["seconds"], "ms")
        row["busy_over_idle"] = round(row["busy"]["median_ms"] / row["idle"]["median_ms"], 2)
        pq_out[str(threads)] = row
    plan = plan_threads("auto", environ={})
    report = {
        "what": "upsnet-mini SGD step (batch 2, 128x256, CPU) and hotcoco PQ per 512x1024 image, each idle and "
                "beside one CPU-bound process (a busy loop the bench starts); medians over the steps / repeats",
        "machine": machine(), "openmp_runtime": openmp_runtime(),
        "policy_auto_on_this_machine": plan.describe(),
        "train_step": steps_out, "pq_hotcoco_ms_per_image": pq_out,
        "load_average_before": load_before, "load_average_after": load_average(),
        "note": "'idle' is without the bench's busy process: on a shared machine read the ratios with the load "
                "averages; each measurement in a fresh process (thread count and wait policy set before torch loads "
                "OpenMP); busy_over_idle = busy / idle median",
    }
    write_json(out, report)
    return report


# --- make demo, idle and beside a busy process -------------------------------------------------------------
def time_demo(scale: str, busy: bool, parallel: int = 2) -> dict:
    """Wall seconds of each demo command (and their sum), in a fresh temporary folder."""
    env = {k: v for k, v in os.environ.items() if k not in (*TORCH_ENV, RAYON_ENV)}
    env.update({"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    with tempfile.TemporaryDirectory(prefix="demo_bench_") as tmp, busy_process(busy):
        root = Path(tmp)
        commands = demo_commands(root / "demo", runs_root=root / "runs", cache=root / "cache", scale=scale,
                                 parallel=parallel)
        stages = run_commands(commands, env=env, quiet=True)
    return {"seconds": round(sum(s["seconds"] for s in stages), 1), "stages": stages}


def run_demo(scale: str, out: Path, parallel: int = 2) -> dict:
    load_before = load_average()
    idle = time_demo(scale, busy=False, parallel=parallel)
    busy = time_demo(scale, busy=True, parallel=parallel)
    ratio = round(busy["seconds"] / idle["seconds"], 3)
    report = {"what": f"`make demo`'s commands ({scale} scale), idle and beside one CPU-bound process",
              "scale": scale, "parallel": parallel, "idle": idle, "busy": busy, "busy_over_idle": ratio,
              "target": DEMO_TARGET, "meets_target": ratio <= DEMO_TARGET, "machine": machine(),
              "policy_auto_on_this_machine": plan_threads("auto", environ={}).describe(),
              "load_average_before": load_before, "load_average_after": load_average()}
    write_json(out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per measurement")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="stop a measurement's steps after this")
    parser.add_argument("--pq-repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="default results/bench/threads.json (demo.json)")
    parser.add_argument("--demo", action="store_true", help="time make demo's commands idle and beside a busy process")
    parser.add_argument("--demo-scale", choices=("full", "short"), default="full")
    parser.add_argument("--demo-parallel", type=int, default=2, help="runs at once in the timed demo")
    parser.add_argument("--worker-steps", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-pq", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_steps:
        print(json.dumps(time_steps(args.steps, args.max_seconds)))
        return 0
    if args.worker_pq:
        print(json.dumps(time_pq(args.pq_repeat)))
        return 0
    if args.demo:
        out = args.out or Path("results/bench/demo.json")
        r = run_demo(args.demo_scale, out, args.demo_parallel)
        print(f"make demo ({r['scale']}): idle {r['idle']['seconds']:.0f} s, beside a busy process "
              f"{r['busy']['seconds']:.0f} s: x{r['busy_over_idle']} (target <= {DEMO_TARGET}); {load_line(r)}; "
              f"wrote {out}")
        return 0
    out = args.out or Path("results/bench/threads.json")
    r = run(args.steps, args.max_seconds, args.pq_repeat, out)
    for name, row in r["train_step"].items():
        print(f"{name:18s} idle {row['idle']['median_s']:.3f} s/step, busy {row['busy']['median_s']:.3f} "
              f"(x{row['busy_over_idle']}; x{row['busy_over_1_thread_idle']} of 1 thread idle)")
    for threads, row in r["pq_hotcoco_ms_per_image"].items():
        print(f"hotcoco PQ, {threads} thread(s): idle {row['idle']['median_ms']:.1f} ms/image, busy "
              f"{row['busy']['median_ms']:.1f} (x{row['busy_over_idle']})")
    print(f"policy here: {r['policy_auto_on_this_machine']}; {load_line(r)}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
