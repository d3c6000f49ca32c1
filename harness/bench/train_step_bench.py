"""Seconds per training step of the mini panoptic models (batch 2, 128x256 synthetic scenes, CPU),
each against its own instance branch alone (torchvision's Mask R-CNN forward of the same model),
so the ratio is the price of the semantic and panoptic heads.

The models are built in one process and stepped round-robin (baseline, upsnet, sss, baseline, ...),
so a burst of machine load hits all of them alike; one such process per intra-op thread count
(1 and 2: on a shared 2-core machine a second thread can cost more than it gives). Peak memory is
measured per model in its own short process. The load average is recorded: on a busy machine,
read the ratios and the minimum step times rather than the medians.

    .venv/bin/python -m harness.bench.train_step_bench [--steps 12] [--threads 1 2]

Writes results/bench/train_step.json (target: <= 0.5 s per step for batch 2 on 2 CPU cores)."""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness.atomic import write_json
from harness.bench.machine_load import load_average, load_line, machine
from harness.progress import progress_bar

TARGET_S = 0.5
BASELINE = "maskrcnn-branch"
MODELS = ("upsnet-mini", "sss-mini")
# informational: the mini UPSNet with one deformable layer instead of UPSNet's two (the registry's)
VARIANTS = {"upsnet-mini[semantic_layers=1]": ("upsnet-mini", {"semantic_layers": 1})}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(names: tuple[str, ...], seed: int = 0):
    """Models (BASELINE = the Mask R-CNN of upsnet-mini alone), their optimisers, a batch of two
    synthetic 128x256 scenes and the matching targets."""
    import numpy as np
    import torch

    from harness.data.categories import categories_json
    from harness.data.panoptic_format import make_segments_info
    from harness.data.synth import make_scene
    from harness.models import create_model
    from harness.models.targets import panoptic_to_targets

    rng = np.random.default_rng(seed)
    categories = categories_json()
    images, targets = [], []
    for _ in range(2):
        image, ids, category_of, iscrowd_of = make_scene(rng, 128, 256)
        images.append(torch.from_numpy(image).permute(2, 0, 1).float() / 255)
        targets.append(panoptic_to_targets(ids, make_segments_info(ids, category_of, iscrowd_of), categories))
    runs = {}
    for name in names:
        torch.manual_seed(seed)
        base_name, overrides = VARIANTS.get(name, (MODELS[0] if name == BASELINE else name, {}))
        model = create_model(base_name, categories=categories, **overrides).train()
        batch_targets = targets
        if name == BASELINE:
            model = model.detector
            batch_targets = [{k: t[k] for k in ("boxes", "labels", "masks")} for t in targets]
        optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        runs[name] = (model, optimiser, batch_targets)
    return images, runs


def step(model, optimiser, images, targets) -> float:
    start = time.perf_counter()
    loss = sum(model(images, targets).values())
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    return time.perf_counter() - start


def time_round_robin(threads: int, steps: int, warmup: int = 2) -> dict:
    import torch

    torch.set_num_threads(threads)
    names = (BASELINE,) + MODELS + tuple(VARIANTS)
    images, runs = build(names)
    seconds = {name: [] for name in names}
    for i in range(warmup + steps):
        for name, (model, optimiser, targets) in runs.items():
            elapsed = step(model, optimiser, images, targets)
            if i >= warmup:
                seconds[name].append(elapsed)
    params = {name: sum(p.numel() for p in runs[name][0].parameters()) for name in names}
    return {"seconds": seconds, "params": params}


def memory_of(name: str, steps: int = 3) -> dict:
    import harness.data.synth  # noqa: F401  (imported first: the libraries' own memory is the baseline)
    import harness.models  # noqa: F401

    before = peak_rss_mb()
    images, runs = build((name,))
    for _ in range(steps):
        step(*runs[name][:2], images, runs[name][2])
    return {"peak_rss_mb": peak_rss_mb(), "import_rss_mb": before}


def in_subprocess(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "harness.bench.train_step_bench", *args],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(steps: int = 12, threads: tuple[int, ...] = (1, 2), out_json: Path = Path("results/bench/train_step.json")) -> dict:
    names = (BASELINE,) + MODELS
    load_before = load_average()
    timings, memory = {}, {}
    with progress_bar() as bar:
        task = bar.add_task("timing train steps", total=len(threads) + len(names))
        for t in threads:
            timings[t] = in_subprocess("--worker-time", "--threads", str(t), "--steps", str(steps))
            bar.advance(task)
        for name in names:
            memory[name] = in_subprocess("--worker-memory", name)
            bar.advance(task)
    load_after = load_average()
    results = {}
    for t, timing in timings.items():
        base = statistics.median(timing["seconds"][BASELINE])
        results[str(t)] = {name: {
            "median_s": round(statistics.median(s), 4), "min_s": round(min(s), 4),
            "ratio_to_maskrcnn_branch": round(statistics.median(s) / base, 3),
            "meets_target": statistics.median(s) <= TARGET_S if name in MODELS else None,
        } for name, s in timing["seconds"].items()}
    report = {
        "what": "seconds per SGD step (forward, backward, update), batch 2, 128x256, CPU",
        "target_s": TARGET_S, "steps": steps,
        "machine": machine(),
        "torch": __import__("torch").__version__,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "params": timings[threads[0]]["params"],
        "peak_rss_mb": {n: round(m["peak_rss_mb"], 1) for n, m in memory.items()},
        "peak_rss_above_import_mb": {n: round(m["peak_rss_mb"] - m["import_rss_mb"], 1) for n, m in memory.items()},
        "results_by_threads": results,
    }
    write_json(out_json, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path("results/bench/train_step.json"))
    parser.add_argument("--worker-time", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-memory", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_time:
        print(json.dumps(time_round_robin(args.threads[0], args.steps)))
        return 0
    if args.worker_memory:
        print(json.dumps(memory_of(args.worker_memory)))
        return 0
    report = run(args.steps, tuple(args.threads), args.out)
    for t, models in report["results_by_threads"].items():
        for name, r in models.items():
            print(f"threads={t} {name:32s} median {r['median_s']:.3f} s/step (min {r['min_s']:.3f})  "
                  f"x{r['ratio_to_maskrcnn_branch']:.2f} of the Mask R-CNN branch")
    for name in report["peak_rss_mb"]:
        print(f"{name:16s} {report['params'][name] / 1e6:.3f} M params, peak {report['peak_rss_mb'][name]:.0f} MB "
              f"({report['peak_rss_above_import_mb'][name]:.0f} MB above the imports)")
    print(load_line(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
