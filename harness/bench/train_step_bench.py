"""Seconds per training step of the mini panoptic models (batch 2, 128x256 synthetic scenes, CPU),
each against its own instance branch alone (torchvision's Mask R-CNN forward of the same model),
so the ratio is the price of the semantic and panoptic heads. Every measurement runs in a fresh
process (its own thread pool, its own peak memory), the models interleaved round by round so machine
load hits all alike; 1 and 2 intra-op threads, because on a shared 2-core machine a second thread
can cost more than it gives. The load average is recorded: on a busy machine, read the ratios.

    .venv/bin/python -m harness.bench.train_step_bench [--steps 6] [--rounds 2] [--threads 1 2]

Writes results/bench/train_step.json (target: <= 0.5 s per step for batch 2 on 2 CPU cores)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.progress import Progress

from harness.atomic import write_json

TARGET_S = 0.5
BASELINE = "maskrcnn-branch"
MODELS = ("upsnet-mini", "sss-mini")


def time_steps(name: str, threads: int, steps: int, warmup: int = 3, seed: int = 0) -> dict:
    """In this process: `warmup` + `steps` SGD steps of `name` (or of the Mask R-CNN branch of
    upsnet-mini for BASELINE); seconds of each timed step and peak resident memory."""
    import numpy as np
    import torch

    from harness.data.categories import categories_json
    from harness.data.panoptic_format import make_segments_info
    from harness.data.synth import make_scene
    from harness.models import create_model
    from harness.models.targets import panoptic_to_targets

    import_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # torch's own import: ~0.8 GB
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    categories = categories_json()
    images, targets = [], []
    for _ in range(2):
        image, ids, category_of, iscrowd_of = make_scene(rng, 128, 256)
        images.append(torch.from_numpy(image).permute(2, 0, 1).float() / 255)
        targets.append(panoptic_to_targets(ids, make_segments_info(ids, category_of, iscrowd_of), categories))
    model = create_model(MODELS[0] if name == BASELINE else name, categories=categories).train()
    if name == BASELINE:
        targets = [{k: t[k] for k in ("boxes", "labels", "masks")} for t in targets]
        model = model.detector
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    seconds = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        loss = sum(model(images, targets).values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step >= warmup:
            seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "params": sum(p.numel() for p in model.parameters()),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "import_rss_mb": import_rss_mb}


def measure(name: str, threads: int, steps: int) -> dict:
    """`time_steps` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-m", "harness.bench.train_step_bench", "--worker", name,
                          "--threads", str(threads), "--steps", str(steps)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(steps: int = 6, rounds: int = 2, threads: tuple[int, ...] = (1, 2),
        out_json: Path = Path("results/bench/train_step.json")) -> dict:
    names = (BASELINE,) + MODELS
    samples = {t: {n: [] for n in names} for t in threads}
    info = {}
    load_before = os.getloadavg()
    with Progress() as bar:
        task = bar.add_task("timing train steps", total=rounds * len(threads) * len(names))
        for _ in range(rounds):
            for t in threads:
                for name in names:
                    result = measure(name, t, steps)
                    samples[t][name].extend(result["seconds"])
                    info[(t, name)] = result
                    bar.advance(task)
    load_after = os.getloadavg()
    results = {}
    for t in threads:
        base = statistics.median(samples[t][BASELINE])
        results[str(t)] = {name: {
            "median_s": round(statistics.median(s), 4), "min_s": round(min(s), 4),
            "p90_s": round(sorted(s)[int(0.9 * (len(s) - 1))], 4),
            "ratio_to_maskrcnn_branch": round(statistics.median(s) / base, 3),
            "params": info[(t, name)]["params"], "peak_rss_mb": round(info[(t, name)]["peak_rss_mb"], 1),
            "peak_rss_above_import_mb": round(info[(t, name)]["peak_rss_mb"] - info[(t, name)]["import_rss_mb"], 1),
            "meets_target": statistics.median(s) <= TARGET_S if name != BASELINE else None,
        } for name, s in samples[t].items()}
    report = {
        "what": "seconds per SGD step, batch 2, 128x256, CPU; median over rounds x steps",
        "target_s": TARGET_S, "steps_per_round": steps, "rounds": rounds,
        "cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "torch": __import__("torch").__version__,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "results_by_threads": results,
    }
    write_json(out_json, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path("results/bench/train_step.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(time_steps(args.worker, args.threads[0], args.steps)))
        return 0
    report = run(args.steps, args.rounds, tuple(args.threads), args.out)
    for t, models in report["results_by_threads"].items():
        for name, r in models.items():
            print(f"threads={t} {name:16s} {r['median_s']:.3f} s/step  x{r['ratio_to_maskrcnn_branch']:.2f} "
                  f"of the Mask R-CNN branch  {r['params'] / 1e6:.2f} M params  "
                  f"peak {r['peak_rss_mb']:.0f} MB ({r['peak_rss_above_import_mb']:.0f} MB above import)")
    print(f"load average before {report['load_average_before']}, after {report['load_average_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
