"""`make gpu-check`: the paper-scale models on one GPU, in at most 10 minutes, with nothing but torch
and torchvision installed (panbench's own code travels with the working tree; this path imports
no other package at module level, and the cost section, which reads the recipes through omegaconf,
is skipped where omegaconf is missing: `--cost-only` recomputes it from the JSON on any machine
with panbench installed).

For each paper-scale model (upsnet-r50, upsnet-r101, sss-r50, spade, panoptic-spade, drn-d-105,
deeplabv2-r101, fasterrcnn-r50-fpn): the first batch's loss in fp32 and under AMP (same weights,
same batch: how far mixed precision moves it), then a few training steps at the paper's
resolution and batch per GPU with AMP as the trainer takes them (harness.train.task.Optim: one
GradScaler per optimizer; the GANs step G then D), recording seconds per iteration (after one
warm-up step, CUDA synchronised), peak GPU memory and whether every loss is finite. Then the cost
table's GPU-hours (recipes/base.yaml `cost.models`, today's published proxies) beside the same
runs priced at the measured seconds per iteration (harness.launch.estimate).

    python -m harness.bench.gpu_check [--models upsnet-r50 ...] [--steps 3] [--out results/bench/gpu.json]
    python -m harness.bench.gpu_check --tiny        # CPU, small images: the path, not the speed
    python -m harness.bench.gpu_check --cost-only   # the cost section from an existing gpu.json

Synthetic street scenes (harness.data.synth) stand in for the datasets; random weights (no
ImageNet or VGG file is assumed on the GPU machine: SPADE's VGG loss is off, which the JSON says)."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from harness.atomic import write_json

MODELS = ("upsnet-r50", "upsnet-r101", "sss-r50", "spade", "panoptic-spade", "drn-d-105", "deeplabv2-r101",
          "fasterrcnn-r50-fpn")


@dataclass(frozen=True)
class Scale:
    """One model's input at paper scale: image size, images per GPU and the cost-table entry it prices."""

    height: int
    width: int
    batch: int
    cost_key: str | None
    why: str


CITYSCAPES = "Cityscapes 1024x2048, 1 image per GPU"
SCALES = {
    "upsnet-r50": Scale(1024, 2048, 1, "upsnet-r50@cityscapes", f"UPSNet's {CITYSCAPES}"),
    "upsnet-r101": Scale(1024, 2048, 1, "upsnet-r101@cityscapes", f"UPSNet's {CITYSCAPES}"),
    "sss-r50": Scale(1024, 2048, 1, "sss-r50@cityscapes", f"seamseg's {CITYSCAPES}"),
    "spade": Scale(256, 512, 2, None, "synthesis paper Sec. 4: 256x512, 16 images on 8 GPUs"),
    "panoptic-spade": Scale(256, 512, 2, None, "synthesis paper Sec. 4: 256x512, 16 images on 8 GPUs"),
    "drn-d-105": Scale(1024, 2048, 1, None, f"synth-evaluators.yaml: {CITYSCAPES}"),
    "deeplabv2-r101": Scale(512, 512, 1, None, "COCO-Stuff crops of 512x512, 1 image per GPU"),
    "fasterrcnn-r50-fpn": Scale(1024, 2048, 1, None, f"synth-evaluators.yaml: {CITYSCAPES}"),
}
TINY = Scale(64, 128, 1, None, "--tiny: CPU check of the path")
TINY_OVERRIDES = {"panoptic": dict(min_size=64, max_size=128),
                  "synthesis": dict(image_size=(64, 128), num_upsampling_layers="normal")}


def family(name: str) -> str:
    from harness.models.registry import model_family

    return model_family(name)


def build(name: str, scale: Scale, tiny: bool, device: torch.device, seed: int = 0):
    """(model, optimizers {name: Optim}, batch, step function(model, batch, optims, amp) -> losses)."""
    from harness.data.categories import categories_json
    from harness.models import create_model
    from harness.train.task import OptimizerSetup, Optim

    categories, kind = categories_json(), family(name)
    torch.manual_seed(seed)
    overrides = TINY_OVERRIDES.get(kind, {}) if tiny else {}
    model = create_model(name, categories=categories, **overrides).to(device).train()
    if tiny and kind == "detector":  # torchvision's detector takes no size: its transform is set instead
        model.transform.min_size, model.transform.max_size = (TINY.height,), TINY.width
    amp = device.type == "cuda"
    if kind == "synthesis":
        from harness.models.synthesis.scene_batch import scene_batch

        batch = {k: v.to(device) for k, v in scene_batch(scale.batch, scale.height, scale.width, seed=seed).items()}
        optims = {"generator": Optim(OptimizerSetup(torch.optim.Adam(model.generator.parameters(), 1e-4,
                                                                     betas=(0.0, 0.999))), amp),
                  "discriminator": Optim(OptimizerSetup(torch.optim.Adam(model.discriminator.parameters(), 4e-4,
                                                                         betas=(0.0, 0.999))), amp)}
        return model, optims, batch, gan_step
    images, targets = scenes(scale, kind, seed)
    batch = ([i.to(device) for i in images], [{k: v.to(device) for k, v in t.items()} for t in targets])
    parameters = [p for p in model.parameters() if p.requires_grad]
    return model, {"model": Optim(OptimizerSetup(torch.optim.SGD(parameters, 0.01, momentum=0.9)), amp)}, batch, \
        supervised_step


def scenes(scale: Scale, kind: str, seed: int) -> tuple[list[torch.Tensor], list[dict]]:
    """Images in [0, 1] and the targets a panoptic model, a segmenter or a detector reads."""
    from harness.data.categories import categories_json
    from harness.data.panoptic_format import make_segments_info
    from harness.data.synth import make_scene
    from harness.models.targets import panoptic_to_targets
    from harness.seeding import keyed_rng

    keep = {"segmenter": ("boxes", "labels", "semantic"), "detector": ("boxes", "labels")}.get(kind)
    images, targets = [], []
    for index in range(scale.batch):
        image, ids, category_of, iscrowd_of = make_scene(keyed_rng(seed, index), scale.height, scale.width)
        target = panoptic_to_targets(ids, make_segments_info(ids, category_of, iscrowd_of), categories_json())
        images.append(torch.from_numpy(image).permute(2, 0, 1).float() / 255)
        targets.append({k: target[k] for k in keep} if keep else target)
    return images, targets


def losses_of(model, batch, phase: str | None, amp: bool, device: torch.device) -> dict[str, torch.Tensor]:
    with torch.autocast(device_type=device.type, enabled=amp):
        return model(batch, phase) if phase else model(*batch)


def supervised_step(model, batch, optims, amp: bool, device: torch.device) -> list[float]:
    loss = sum(losses_of(model, batch, None, amp, device).values())
    optims["model"].step(loss)
    return [float(loss.detach())]


def gan_step(model, batch, optims, amp: bool, device: torch.device) -> list[float]:
    """G then D, as harness.train.synthesis_task.SynthesisTask.train_step."""
    out = []
    for phase in ("generator", "discriminator"):
        loss = sum(losses_of(model, batch, phase, amp, device).values())
        optims[phase].step(loss)
        out.append(float(loss.detach()))
    return out


def first_loss(model, batch, amp: bool, device: torch.device, synthesis: bool) -> float:
    """The first batch's total loss (the generator's for a GAN) without a step, under `amp` or not;
    the random generators are seeded alike so both passes draw the same proposals and noise."""
    torch.manual_seed(1)
    with torch.no_grad():
        losses = losses_of(model, batch, "generator" if synthesis else None, amp, device)
    return float(sum(v.float() for v in losses.values()))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check_model(name: str, steps: int, tiny: bool, device: torch.device) -> dict[str, Any]:
    """One model's row of gpu.json."""
    scale = TINY if tiny else SCALES[name]
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    model, optims, batch, step = build(name, scale, tiny, device)
    amp = device.type == "cuda"
    synthesis = step is gan_step
    row: dict[str, Any] = {"height": scale.height, "width": scale.width, "images_per_gpu": scale.batch,
                           "scale": scale.why, "amp": amp, "build_s": round(time.perf_counter() - start, 2)}
    fp32 = first_loss(model, batch, False, device, synthesis)
    mixed = first_loss(model, batch, True, device, synthesis) if amp else None
    row.update(loss_fp32=fp32, loss_amp=mixed,
               amp_relative_difference=None if mixed is None else abs(mixed - fp32) / max(abs(fp32), 1e-12))
    losses = step(model, batch, optims, amp, device)  # warm-up: cuDNN autotuning, allocator growth
    synchronize(device)
    times = []
    for _ in range(steps):
        begin = time.perf_counter()
        losses += step(model, batch, optims, amp, device)
        synchronize(device)
        times.append(time.perf_counter() - begin)
    times.sort()
    row.update(steps=steps, s_per_iter=round(times[len(times) // 2], 4), s_per_iter_min=round(times[0], 4),
               losses=[round(v, 6) for v in losses], loss_finite=all(math.isfinite(v) for v in losses),
               peak_memory_mib=(round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
                                if device.type == "cuda" else None),
               vgg_loss=bool(getattr(model, "vgg_loss_enabled", False)) if synthesis else None)
    del model, optims, batch
    return row


def cost_section(rows: dict[str, dict], tiny: bool) -> dict[str, Any]:
    """Each GPU entry of the cost table with a measured model: today's seconds per iteration and the
    measured ones (scaled to the entry's images per GPU), and the paper recipes' GPU-hours priced by
    each (8 GPUs, `panbench sweep --executor torchrun --dry-run`'s pricing)."""
    try:
        from harness.launch.estimate import cost_entry, cost_table, estimate
        from harness.config.recipes import load_recipe
        from harness.config.run_spec import run_specs
    except ModuleNotFoundError as exc:  # a bare GPU machine: recompute with --cost-only where panbench is installed
        if not exc.name or exc.name.startswith("harness"):
            raise
        return {"skipped": f"{exc}; run `python -m harness.bench.gpu_check --cost-only` with panbench installed"}
    if tiny:
        return {"skipped": "--tiny: CPU sizes price nothing"}
    measured = {SCALES[n].cost_key: r for n, r in rows.items() if SCALES[n].cost_key and "s_per_iter" in r}
    out: dict[str, Any] = {"entries": {}, "recipes": {}}
    table = cost_table(load_recipe("panda-table2"))
    for key, row in measured.items():
        entry = table.models.get(key)
        if entry is not None:
            seconds = row["s_per_iter"] * entry.ims_per_gpu / row["images_per_gpu"]
            out["entries"][key] = {"proxy_s_per_iter": entry.seconds_per_iter, "measured_s_per_iter": round(seconds, 4),
                                   "measured_over_proxy": round(seconds / entry.seconds_per_iter, 3),
                                   "proxy_source": entry.source}
    for recipe in ("panda-table1", "panda-table2", "panda-table4"):
        cfg = load_recipe(recipe)
        proxy_table, measured_table = cost_table(cfg), cost_table(cfg)
        for key, values in out["entries"].items():
            if key in measured_table.models:
                measured_table.models[key].seconds_per_iter = values["measured_s_per_iter"]
        hours = {"proxy": 0.0, "measured": 0.0, "runs": 0}
        for spec in run_specs(cfg):
            if cost_entry(proxy_table, spec.model, spec.dataset) is None or \
                    f"{spec.model}@{spec.dataset}" not in out["entries"]:
                continue
            proxy, real = estimate(spec, proxy_table, 8), estimate(spec, measured_table, 8)
            if proxy is not None and real is not None:
                hours["proxy"] += proxy.hours
                hours["measured"] += real.hours
                hours["runs"] += 1
        if hours["runs"]:
            out["recipes"][recipe] = {"runs_priced": hours["runs"], "gpu_hours_proxy": round(hours["proxy"], 1),
                                      "gpu_hours_measured": round(hours["measured"], 1)}
    return out


def run(models: list[str], steps: int, tiny: bool, device: torch.device, budget_s: float = 540.0,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    import torchvision

    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "torchvision": torchvision.__version__, "cuda": torch.version.cuda,
        "tiny": tiny, "models": {}}
    started = time.perf_counter()
    for name in models:
        if time.perf_counter() - started > budget_s:  # the check's promise: at most 10 minutes on one GPU
            report["models"][name] = {"error": f"skipped: the {budget_s:.0f} s budget was spent"}
            continue
        try:
            row = check_model(name, steps, tiny, device)
        except Exception as exc:  # noqa: BLE001 -- one model's failure (e.g. out of memory) is a finding, not a stop
            row = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
            if device.type == "cuda":
                torch.cuda.empty_cache()
        report["models"][name] = row
        echo(f"{name:20s} " + (row["error"] if "error" in row else
                               f"{row['s_per_iter']:.3f} s/it, peak {row['peak_memory_mib']} MiB, loss finite "
                               f"{row['loss_finite']}, AMP vs fp32 {row['amp_relative_difference']}"))
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["cost"] = cost_section(report["models"], tiny)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model, after one warm-up step")
    parser.add_argument("--tiny", action="store_true", help="64x128 images on the CPU: the code path, not the speed")
    parser.add_argument("--budget-s", type=float, default=540.0, help="start no model after this many seconds")
    parser.add_argument("--cost-only", action="store_true", help="recompute the cost section of --out")
    parser.add_argument("--out", type=Path, default=Path("results/bench/gpu.json"))
    args = parser.parse_args(argv)
    if args.cost_only:
        report = json.loads(args.out.read_text(encoding="utf-8"))
        report["cost"] = cost_section(report["models"], report.get("tiny", False))
    else:
        if not args.tiny and not torch.cuda.is_available():
            print("gpu-check: no CUDA device here; `--tiny` checks the path on the CPU", file=sys.stderr)
            return 2
        torch.backends.cudnn.benchmark = True
        device = torch.device("cuda" if not args.tiny else "cpu")
        if args.tiny:
            torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        report = run(args.models, args.steps, args.tiny, device, args.budget_s)
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
