"""Online PanDA speed (`data.panda: online`): what drawing PanDA inside the data loader costs.

1. Per sample, at Cityscapes size (2048x1024) and at the mini recipes' size (256x128), on synthetic
   street scenes, interleaved in one process so machine load hits all alike: decoding the plain
   sample (image + label PNG, the baseline), the online transform on the decoded arrays (decompose +
   compose: no PNG encoded or decoded), and the whole training item (decode, [PanDA], flip / scale
   jitter, targets) with and without PanDA.
2. The data-loader wait per step of a mini run (the `mini` recipe's model and batch, trained by the
   one loop) with online PanDA, for 0, 1 and 2 DataLoader workers, beside the same run without PanDA:
   the loop's own `data_s` (time from the end of one step to the next batch) against `s_per_it`
   (the step), with 1 and 2 intra-op threads for the step (on a shared 2-core machine one thread
   often steps faster, which makes the wait weigh more). Target: the wait <= 5 % of the step time.

    .venv/bin/python -m harness.bench.panda_online_bench [--n 4] [--repeats 3] [--steps 16] [--threads 1 2]

Writes results/bench/panda_online.json. Every figure is a ratio against a baseline timed in the
same run; the machine may be shared (the load average is recorded)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from harness.atomic import write_json
from harness.bench.machine_load import load_average, load_line, machine

SIZES = {"2048x1024": (1024, 2048), "256x128": (128, 256)}
TARGET_WAIT_FRACTION = 0.05
WORKERS = (0, 1, 2)


def _replaced_epoch(online, image_id: object) -> int:
    """The first data pass at which `image_id` is replaced by its PanDA version."""
    epoch = 0
    while not online.replaces(image_id, epoch):
        epoch += 1
    return epoch


def sample_times(height: int, width: int, n: int, repeats: int, seed: int, tmp: Path) -> dict:
    """Median ms per sample of each stage, and the ratios against decoding the plain sample."""
    from harness.data.categories import categories_json
    from harness.data.dataset import PanopticDataset
    from harness.data.synth import synthesize_dataset
    from harness.panda.config import PandaConfig
    from harness.panda.online import RATIO_1X, OnlinePanda
    from harness.train.loader import PanopticTrainSet

    src = synthesize_dataset(tmp / f"src-{width}x{height}", n, seed, width=width, height=height, workers=1,
                             progress=False)
    ds = PanopticDataset.load(src)
    online = OnlinePanda(PandaConfig(), RATIO_1X, seed)
    jitter = dict(hflip=0.5, scale_jitter=(0.8, 1.2))
    plain_set = PanopticTrainSet([src], categories_json(), seed, **jitter)
    online_set = PanopticTrainSet([src], categories_json(), seed, online=online, **jitter)
    epochs = [_replaced_epoch(online, image["id"]) for image in ds.images]
    clock = time.perf_counter
    times: dict[str, list[float]] = {k: [] for k in ("decode", "transform", "plain_item", "panda_item")}
    for _ in range(repeats):
        for i, epoch in enumerate(epochs):
            t0 = clock()
            image, ids = ds.read_image(i), ds.read_ids(i)
            t1 = clock()
            online.sample(ds, i, epoch, image, ids)
            t2 = clock()
            plain_set[(i, epoch)]
            t3 = clock()
            online_set[(i, epoch)]  # replaced at this pass: decode + PanDA + jitter + targets
            t4 = clock()
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                times[key].append(dt)
    ms = {k: 1000 * statistics.median(v) for k, v in times.items()}
    mixed = (1 - RATIO_1X) * ms["plain_item"] + RATIO_1X * ms["panda_item"]
    return {
        "ms_per_sample": {"decode (baseline: load the plain sample)": round(ms["decode"], 2),
                          "online transform (decompose + compose)": round(ms["transform"], 2),
                          "plain training item": round(ms["plain_item"], 2),
                          "PanDA training item (replaced)": round(ms["panda_item"], 2),
                          f"online training item at mix {RATIO_1X} (expected)": round(mixed, 2)},
        "transform_over_decode": round(ms["transform"] / ms["decode"], 3),
        "panda_item_over_plain_item": round(ms["panda_item"] / ms["plain_item"], 3),
        "online_item_over_plain_item": round(mixed / ms["plain_item"], 3),
    }


def loader_wait(steps: int, tmp: Path, threads: int) -> dict:
    """Per step of a mini run: mean and median data-loader wait against the step, per worker count,
    with online PanDA and without PanDA (the first step, which starts the workers, left out), the
    step on `threads` intra-op threads."""
    import torch

    from harness.train.data_sources import prepare_data
    from harness.train.distributed import DistContext
    from harness.train.loop import Trainer, TrainSettings
    from harness.train.run import seed_everything
    from harness.config.run_spec import RunSpec
    from harness.train.tasks.registry import build_task

    out: dict[str, dict] = {}
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    for panda in ("none", "online"):
        for workers in WORKERS:
            spec = RunSpec.from_recipe("mini", [
                "data.n=20", "data.synth.count=20", "data.synth.val_count=1", f"data.panda={panda}",
                f"data.workers={workers}", f"data.cache={tmp / 'cache'}", f"train.max_iters={steps + 1}",
                "train.log_every=1", "train.checkpoint_every=0"])
            recipe = spec.settings
            prepared = prepare_data(recipe, progress=False)
            seed_everything(recipe.seed)
            records: list[dict] = []
            trainer = Trainer(build_task(recipe, prepared), TrainSettings.from_config(recipe), DistContext(),
                              tmp / f"ckpt-{panda}-{workers}-{threads}", log=records.append, progress=False)
            trainer.fit()
            wait = [r["data_s"] for r in records[1:]]
            step = [r["s_per_it"] for r in records[1:]]
            out[f"{panda}/workers={workers}"] = {
                "mean_wait_ms": round(1000 * statistics.mean(wait), 2),
                "median_wait_ms": round(1000 * statistics.median(wait), 2),
                "mean_step_ms": round(1000 * statistics.mean(step), 1),
                "wait_over_step": round(statistics.mean(wait) / statistics.mean(step), 4),
            }
    torch.set_num_threads(before)
    return out


def run(n: int = 4, repeats: int = 3, steps: int = 16, threads: tuple[int, ...] = (1, 2), seed: int = 0,
        out_json: Path = Path("results/bench/panda_online.json")) -> dict:
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="panda_online_bench_") as tmp:
        per_sample = {name: sample_times(h, w, n, repeats, seed, Path(tmp)) for name, (h, w) in SIZES.items()}
        wait = {f"{key}/threads={t}": row for t in threads for key, row in loader_wait(steps, Path(tmp), t).items()}
    meets = [key for key, row in wait.items() if key.startswith("online/") and
             row["wait_over_step"] <= TARGET_WAIT_FRACTION]
    result = {
        "benchmark": "panda_online",
        "n_images": n,
        "repeats": repeats,
        "per_sample": per_sample,
        "loader_wait_per_step": wait,
        "loader_steps": steps,
        "target_wait_over_step": TARGET_WAIT_FRACTION,
        "online_worker_counts_meeting_target": meets,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "machine": machine(),
        "note": "medians (per sample) and means (per step, the first left out) on a possibly shared machine; "
                "a mini step is forward + backward + SGD of upsnet-mini, batch 2, 256x128, CPU, on the given "
                "intra-op threads (DataLoader workers use one each)",
    }
    write_json(out_json, result)
    return result


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for size, row in result["per_sample"].items():
        table = Table(title=f"online PanDA per sample at {size} (median over {result['n_images']} images x "
                            f"{result['repeats']} repeats)")
        table.add_column("what")
        table.add_column("ms / sample", justify="right")
        for what, ms in row["ms_per_sample"].items():
            table.add_row(what, f"{ms:.2f}")
        table.add_row("ratio transform / decode", f"{row['transform_over_decode']:.2f}")
        table.add_row("ratio online item / plain item", f"{row['online_item_over_plain_item']:.2f}")
        console.print(table)
    table = Table(title=f"data-loader wait per step of a mini run (target <= {result['target_wait_over_step']:.0%})")
    for column in ("run", "mean wait ms", "median wait ms", "mean step ms", "wait / step"):
        table.add_column(column, justify="right" if column != "run" else "left", no_wrap=column == "run")
    for key, row in result["loader_wait_per_step"].items():
        ok = row["wait_over_step"] <= result["target_wait_over_step"]
        table.add_row(key, f"{row['mean_wait_ms']:.1f}", f"{row['median_wait_ms']:.1f}", f"{row['mean_step_ms']:.0f}",
                      f"[{'green' if ok else 'red'}]{row['wait_over_step']:.1%}[/]")
    console.print(table)
    print(load_line(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="synthetic images per size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16, help="training steps per data-loader configuration")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op threads of the step")
    parser.add_argument("--out", type=Path, default=Path("results/bench/panda_online.json"))
    args = parser.parse_args(argv)
    result = run(args.n, args.repeats, args.steps, tuple(args.threads), out_json=args.out)
    print_table(result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
