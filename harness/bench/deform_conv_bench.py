"""Deformable convolution forward + backward on the CPU: panbench's sparse-sampling formulation
(`harness.models.deform_conv`) against `torchvision.ops.deform_conv2d`, same inputs, same results.

    .venv/bin/python -m harness.bench.deform_conv_bench [--repeat 7] [--threads 1 2]

Shapes: the mini semantic head (upsnet-mini: FPN 32 channels -> 32, levels P2..P5 of a 128x256
input, batch 2, the four levels in one call each) and one paper-scale layer (UPSNet's first
semantic layer at P4 of a 1024x2048 image: 256 -> 128 channels, 64x128, batch 1). Per thread
count the two implementations take turns in every repeat (so load from other processes hits both
alike); medians and their ratio are reported. Peak memory of each at the paper-scale shape is
measured in its own process (peak RSS above the inputs, Linux only) and given in units of
torchvision's im2col columns (C·kh·kw·H'·W' float32 values). Writes results/bench/deform_conv.json."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torchvision

from harness.atomic import write_json
from harness.bench.machine_load import load_average, load_line, machine
from harness.models.deform_conv import deform_conv2d

IMPLEMENTATIONS = {"torchvision": torchvision.ops.deform_conv2d, "panbench": deform_conv2d}
SHAPES = {  # name: [(batch, in channels, height, width, out channels), ...] one call per entry
    "mini_p2_p5_batch2": [(2, 32, 128 // s, 256 // s, 32) for s in (4, 8, 16, 32)],
    "paper_p4_batch1": [(1, 256, 1024 // 16, 2048 // 16, 128)],
}
MEMORY_SHAPE = "paper_p4_batch1"


def make_inputs(shape: list[tuple], seed: int = 0) -> list[dict]:
    """Per call: input, offsets of a few pixels (as a trained offset branch gives), 3x3 weight."""
    gen = torch.Generator().manual_seed(seed)
    calls = []
    for b, c, h, w, o in shape:
        calls.append({"input": torch.randn(b, c, h, w, generator=gen).requires_grad_(),
                      "offset": (2 * torch.randn(b, 18, h, w, generator=gen)).requires_grad_(),
                      "weight": (0.05 * torch.randn(o, c, 3, 3, generator=gen)).requires_grad_()})
    return calls


def forward_backward(fn, calls: list[dict]) -> list[torch.Tensor]:
    """Outputs and gradients of every call (the loss is the sum of the outputs)."""
    results = []
    for call in calls:
        out = fn(call["input"], call["offset"], call["weight"], padding=(1, 1))
        grads = torch.autograd.grad(out.sum(), [call["input"], call["offset"], call["weight"]])
        results += [out.detach(), *grads]
    return results


def columns_bytes(shape: list[tuple]) -> int:
    """Size of torchvision's im2col columns (C·9·H'·W' per image, all images at once) in float32."""
    return max(b * c * 9 * h * w * 4 for b, c, h, w, _ in shape)


def time_interleaved(calls: list[dict], repeat: int) -> dict[str, list[float]]:
    seconds = {name: [] for name in IMPLEMENTATIONS}
    for name, fn in IMPLEMENTATIONS.items():  # warm-up
        forward_backward(fn, calls)
    for _ in range(repeat):
        for name, fn in IMPLEMENTATIONS.items():
            start = time.perf_counter()
            forward_backward(fn, calls)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def _proc_status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))


def peak_memory(name: str) -> dict:
    """Peak RSS above the inputs of one forward + backward at MEMORY_SHAPE, in a fresh process (Linux:
    the high-water mark is reset through /proc/self/clear_refs after a small warm-up call)."""
    torch.set_num_threads(1)
    forward_backward(IMPLEMENTATIONS[name], make_inputs([(1, 8, 8, 8, 8)]))
    calls = make_inputs(SHAPES[MEMORY_SHAPE])
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _proc_status_bytes("VmRSS:")
    forward_backward(IMPLEMENTATIONS[name], calls)
    return {"peak_above_inputs_bytes": _proc_status_bytes("VmHWM:") - base}


def run(repeat: int, threads: tuple[int, ...], out: Path) -> dict:
    load_before = load_average()
    report: dict = {"what": "deform_conv2d forward + backward (input, offset, weight gradients), float32, CPU",
                    "repeat": repeat, "machine": machine(), "torch": torch.__version__,
                    "torchvision": torchvision.__version__,
                    "shapes": {k: [list(s) for s in v] for k, v in SHAPES.items()},
                    "results": {}}
    for shape_name, shape in SHAPES.items():
        calls = make_inputs(shape)
        ref, ours = (forward_backward(fn, calls) for fn in IMPLEMENTATIONS.values())
        diff = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-12)) for a, b in zip(ours, ref))
        rows = {}
        for t in threads:
            torch.set_num_threads(t)
            seconds = time_interleaved(calls, repeat)
            medians = {name: statistics.median(s) for name, s in seconds.items()}
            rows[str(t)] = {**{f"{name}_ms": round(1000 * m, 2) for name, m in medians.items()},
                            **{f"{name}_min_ms": round(1000 * min(s), 2) for name, s in seconds.items()},
                            "speedup": round(medians["torchvision"] / medians["panbench"], 2)}
        report["results"][shape_name] = {"max_relative_difference": diff, "by_threads": rows}
    if Path("/proc/self/clear_refs").exists():
        memory = {name: in_subprocess("--worker-memory", name) for name in IMPLEMENTATIONS}
        cols = columns_bytes(SHAPES[MEMORY_SHAPE])
        report["memory"] = {"shape": MEMORY_SHAPE, "columns_mb": round(cols / 2 ** 20, 1), **{
            f"{name}_peak_in_columns": round(m["peak_above_inputs_bytes"] / cols, 2) for name, m in memory.items()}}
    report["load_average_before"], report["load_average_after"] = load_before, load_average()
    report["note"] = ("medians of interleaved repeats on a possibly shared machine (see the load averages); "
                      "speedup = torchvision / panbench")
    write_json(out, report)
    return report


def in_subprocess(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "harness.bench.deform_conv_bench", *args],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path("results/bench/deform_conv.json"))
    parser.add_argument("--worker-memory", choices=sorted(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_memory:
        print(json.dumps(peak_memory(args.worker_memory)))
        return 0
    report = run(args.repeat, tuple(args.threads), args.out)
    for shape_name, r in report["results"].items():
        for t, row in r["by_threads"].items():
            print(f"{shape_name:20s} threads={t}: torchvision {row['torchvision_ms']:8.1f} ms, panbench "
                  f"{row['panbench_ms']:7.1f} ms  x{row['speedup']:.2f}  "
                  f"(max rel. diff {r['max_relative_difference']:.1e})")
    m = report.get("memory")
    if m:
        print(f"peak memory at {m['shape']} ({m['columns_mb']} MB of columns): torchvision "
              f"{m['torchvision_peak_in_columns']}x, panbench {m['panbench_peak_in_columns']}x the columns")
    print(f"{load_line(report)}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
