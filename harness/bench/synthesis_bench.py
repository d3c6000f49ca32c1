"""Speed of the panoptic-aware layers and of a GAN step of the mini synthesis models, each as a
ratio against a baseline timed in the same process, round-robin (baseline, candidate, baseline,
...), so a burst of machine load hits both alike; medians of the repeats:

- PanopticConv2d forward + backward vs nn.Conv2d (64 -> 64 channels, k = 3, 128x256, batch 1, the
  panoptic map of a synthetic street scene): target <= 3x;
- panoptic_upsample vs F.interpolate(mode="nearest") on the same 64-channel 64x128 tensor (forward,
  and forward + backward): target <= 3x;
- seconds per GAN step (G step + D step, Adam) of spade-mini and panoptic-spade-mini, batch 2,
  64x128 scenes: target <= 0.5 s, panoptic / SPADE <= 2x;
- informational: hole filling as one composed panoptic convolution (label channels -> stage width)
  vs the literal encoder (label channels -> 16·ngf) then the stage's 1x1 convolution, forward, at
  the Cityscapes generator's up_2 input (36 label channels, 256 wide, 64x128 -> 128x256).

One process per intra-op thread count (1 and 2); the load average is recorded: on a busy machine
read the ratios rather than the seconds.

    .venv/bin/python -m harness.bench.synthesis_bench [--repeats 9] [--steps 10] [--threads 1 2]

Writes results/bench/synthesis.json."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from harness.atomic import write_json
from harness.bench.machine_load import load_average, load_line, machine

CONV_TARGET = UPSAMPLE_TARGET = 3.0
STEP_TARGET_S = 0.5
STEP_RATIO_TARGET = 2.0
MODELS = ("spade-mini", "panoptic-spade-mini")


def round_robin(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds of each callable, interleaved: warmup rounds, then `repeats` timed rounds."""
    seconds = {name: [] for name in fns}
    for i in range(warmup + repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if i >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return seconds


def summary(seconds: dict[str, list[float]], baseline: str, target: float | None = None) -> dict:
    base = statistics.median(seconds[baseline])
    out = {}
    for name, s in seconds.items():
        ratio = statistics.median(s) / base
        out[name] = {"median_s": round(statistics.median(s), 5), "min_s": round(min(s), 5),
                     f"ratio_to_{baseline}": round(ratio, 3)}
        if target is not None and name != baseline:
            out[name]["meets_target"] = ratio <= target
    return out


def scene_ids(height: int, width: int, n: int = 1):
    from harness.models.synthesis.scene_batch import scene_batch

    return scene_batch(n, height, width, seed=0)["panoptic"]


def bench_conv(repeats: int) -> dict:
    import torch

    from harness.models.panoptic_layers import PanopticConv2d

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    panoptic = PanopticConv2d(64, 64, 3, padding=1)
    panoptic.load_state_dict(conv.state_dict())
    x = torch.randn(1, 64, 128, 256, requires_grad=True)
    ids = scene_ids(128, 256)

    def step(fn):
        def run():
            fn().sum().backward()
        return run

    seconds = round_robin({"nn.Conv2d": step(lambda: conv(x)), "PanopticConv2d": step(lambda: panoptic(x, ids))},
                          repeats)
    return summary(seconds, "nn.Conv2d", CONV_TARGET)


def bench_upsample(repeats: int) -> dict:
    import torch
    import torch.nn.functional as F

    from harness.models.panoptic_layers import panoptic_upsample
    from harness.models.synthesis.label_maps import resize_nearest

    high = scene_ids(128, 256)
    low = resize_nearest(high, (64, 128))
    x = torch.randn(1, 64, 64, 128, requires_grad=True)
    nearest = lambda: F.interpolate(x, scale_factor=2, mode="nearest")  # noqa: E731
    panoptic = lambda: panoptic_upsample(x, low, high)[0]  # noqa: E731
    with torch.no_grad():
        forward = round_robin({"nearest": nearest, "panoptic_upsample": panoptic}, repeats)
    both = round_robin({"nearest": lambda: nearest().sum().backward(),
                        "panoptic_upsample": lambda: panoptic().sum().backward()}, repeats)
    return {"forward": summary(forward, "nearest", UPSAMPLE_TARGET),
            "forward_backward": summary(both, "nearest", UPSAMPLE_TARGET)}


def bench_hole_filling(repeats: int) -> dict:
    import torch

    from harness.models.panoptic_layers import PanopticConv2d, PanopticUpsample
    from harness.models.synthesis.label_maps import label_input
    from harness.models.synthesis.scene_batch import scene_batch

    torch.manual_seed(0)
    scene = scene_batch(1, 128, 256, seed=0)
    ids = scene["panoptic"]
    label = label_input(scene["semantic"], ids, 34)  # 34 classes + dontcare + boundary = Cityscapes' 36 channels
    encoder = PanopticConv2d(36, 1024, 3, padding=1)
    stage = PanopticUpsample(1024, 256)
    proj = stage.proj
    with torch.no_grad():
        seconds = round_robin({"encoder_then_1x1": lambda: proj(encoder(label, ids)),
                               "composed": lambda: stage.hole_features(label, ids, encoder)}, repeats, warmup=1)
        gap = (proj(encoder(label, ids)) - stage.hole_features(label, ids, encoder)).abs().max().item()
    out = summary(seconds, "encoder_then_1x1")
    out["max_abs_difference"] = gap
    out["encoder_activation_mb"] = round(1024 * ids.numel() * 4 / 2 ** 20, 1)
    return out


def bench_gan_steps(steps: int) -> dict:
    import torch

    from harness.data.categories import categories_json
    from harness.models import create_model
    from harness.models.synthesis.scene_batch import scene_batch

    batch = scene_batch(2, 64, 128, seed=0)
    runs = {}
    for name in MODELS:
        torch.manual_seed(0)
        model = create_model(name, categories=categories_json()).train()
        o = model.default_optim
        opt_g = torch.optim.Adam(model.generator.parameters(), lr=o.lr_generator, betas=(o.beta1, o.beta2))
        opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=o.lr_discriminator, betas=(o.beta1, o.beta2))
        runs[name] = (model, opt_g, opt_d)

    def gan_step(model, opt_g, opt_d):
        def run():
            g = model(batch, "generator")
            opt_g.zero_grad()
            sum(g.values()).backward()
            opt_g.step()
            d = model(batch, "discriminator")
            opt_d.zero_grad()
            sum(d.values()).backward()
            opt_d.step()
        return run

    seconds = round_robin({name: gan_step(*run) for name, run in runs.items()}, steps)
    out = summary(seconds, MODELS[0])
    for name in MODELS:
        out[name]["meets_target"] = out[name]["median_s"] <= STEP_TARGET_S
    out[MODELS[1]]["meets_ratio_target"] = out[MODELS[1]][f"ratio_to_{MODELS[0]}"] <= STEP_RATIO_TARGET
    out["params"] = {name: sum(p.numel() for p in runs[name][0].generator.parameters()) for name in MODELS}
    return out


def worker(threads: int, repeats: int, steps: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    return {"panoptic_conv2d": bench_conv(repeats), "panoptic_upsample": bench_upsample(repeats),
            "hole_filling": bench_hole_filling(max(2, repeats // 3)), "gan_step": bench_gan_steps(steps)}


def run(repeats: int = 9, steps: int = 10, threads: tuple[int, ...] = (1, 2),
        out_json: Path = Path("results/bench/synthesis.json")) -> dict:
    load_before = load_average()
    results = {}
    for t in threads:
        out = subprocess.run([sys.executable, "-m", "harness.bench.synthesis_bench", "--worker", "--threads", str(t),
                              "--repeats", str(repeats), "--steps", str(steps)],
                             check=True, capture_output=True, text=True)
        results[str(t)] = json.loads(out.stdout.strip().splitlines()[-1])
    load_after = load_average()
    import torch

    report = {
        "what": "panoptic-aware layers vs their plain counterparts, and seconds per GAN step (G + D) of the mini "
                "synthesis models (batch 2, 64x128), CPU; medians of interleaved repeats",
        "targets": {"panoptic_conv2d_ratio": CONV_TARGET, "panoptic_upsample_ratio": UPSAMPLE_TARGET,
                    "gan_step_s": STEP_TARGET_S, "gan_step_ratio": STEP_RATIO_TARGET},
        "repeats": repeats, "steps": steps,
        "machine": machine(),
        "torch": torch.__version__,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "results_by_threads": results,
    }
    write_json(out_json, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path("results/bench/synthesis.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.threads[0], args.repeats, args.steps)))
        return 0
    report = run(args.repeats, args.steps, tuple(args.threads), args.out)
    for t, r in report["results_by_threads"].items():
        conv, up, gan = r["panoptic_conv2d"]["PanopticConv2d"], r["panoptic_upsample"], r["gan_step"]
        hole = r["hole_filling"]["composed"]
        print(f"threads={t} PanopticConv2d fwd+bwd x{conv['ratio_to_nn.Conv2d']:.2f} of nn.Conv2d; "
              f"panoptic_upsample x{up['forward']['panoptic_upsample']['ratio_to_nearest']:.2f} (forward), "
              f"x{up['forward_backward']['panoptic_upsample']['ratio_to_nearest']:.2f} (fwd+bwd) of nearest; "
              f"composed hole filling x{hole['ratio_to_encoder_then_1x1']:.2f} of encoder + 1x1")
        for name in MODELS:
            print(f"threads={t} {name:20s} {gan[name]['median_s']:.3f} s per GAN step (min {gan[name]['min_s']:.3f})"
                  f"  x{gan[name][f'ratio_to_{MODELS[0]}']:.2f} of {MODELS[0]}")
    print(load_line(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
