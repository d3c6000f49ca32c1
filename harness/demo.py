"""`make demo`: both papers in miniature, as a list of `panbench` commands kept in one place (the
Makefile runs it, `make bench-demo` times the same list).

PanDA: synthetic street scenes -> PanDA 1x and the class balance before / after (Supp. Figs 1-2),
the mini UPSNet-style model on nested subsets with and without PanDA (Table 2: ours | paper | Δ, PanDA's
gain with its 95 % interval), the log-linear fits and data efficiency (Table 3), Fig. 3. Synthesis: the
mini evaluators (a DRN-D segmenter and a Faster R-CNN) on the real scenes, then SPADE and panoptic SPADE
(Table 1 in miniature) scored by them beside the real-images ceiling, and their sample figure (Figs 6-7).
Last, one dashboard of
every run. Finished runs are skipped, so a second demo only re-renders. The runs go two at a time
(`--parallel 2`: one core each on a 2-core machine, where one torch thread per run is the fastest
setting, harness/threads.py)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness.config.paths import DEFAULT_RUNS_ROOT

PANDA_RECIPE, EVALUATOR_RECIPE, SYNTH_RECIPE = "panda-table2-mini", "synth-evaluators-mini", "synth-table1-mini"
PRINTED = ("panda-table2.md", "panda-table3.md", "synth-table1.md")
SHORT = {  # --scale short: a quick check of the same commands (a few minutes)
    "n": "12",
    PANDA_RECIPE: ["data.n=10", "train.epochs=4"],
    EVALUATOR_RECIPE: ["train.epochs=2"],
    SYNTH_RECIPE: ["train.epochs=1"],
}


def demo_commands(out: Path, *, runs_root: Path | None = None, cache: Path | None = None, seeds: str | None = None,
                  scale: str = "full", parallel: int = 2) -> list[list[str]]:
    """The demo's `panbench` argument lists, writing under `out` (and `runs_root` / `cache` when given:
    a benchmark keeps everything in a temporary folder)."""
    short = scale == "short"
    store = ["--runs-root", str(runs_root)] if runs_root else []
    cached = [f"data.cache={cache}"] if cache else []
    evaluator = [*cached, *(SHORT[EVALUATOR_RECIPE] if short else [])]
    reference = " ".join([EVALUATOR_RECIPE, *evaluator])  # the synthesis runs name exactly these evaluator runs
    synth = [*cached, *(SHORT[SYNTH_RECIPE] if short else []),
             *([f"eval.segmenter={reference}", f"eval.detector={reference}"] if evaluator else [])]
    seeded = ["--seeds", seeds] if seeds else []
    runs = ["--parallel", str(parallel), *store]
    return [
        ["data", "synth", "--out", str(out / "synth"), "--n", SHORT["n"] if short else "50", "--seed", "0"],
        ["panda", "--src", str(out / "synth"), "--out", str(out / "panda"), "--copies", "1", "--seed", "0",
         "--examples", str(out / "examples.png")],
        ["data", "stats", str(out / "synth"), "--compare", str(out / "panda"), "--plot", str(out / "class_share.png")],
        ["sweep", PANDA_RECIPE, *cached, *(SHORT[PANDA_RECIPE] if short else []), *seeded, *runs],
        ["report", "--out", str(out), "--recipe", PANDA_RECIPE, "--source", "both", "--no-dashboard", *store],
        ["sweep", EVALUATOR_RECIPE, *evaluator, *runs],
        ["sweep", SYNTH_RECIPE, *synth, *seeded, *runs],
        ["table", "synth-table1", "--source", "both", "--recipe", SYNTH_RECIPE, "--out", str(out / PRINTED[2]),
         *store],
        ["figure", "synth-samples", "--recipe", SYNTH_RECIPE, "--out", str(out / "synth-samples"), *store],
        ["dashboard", "--out", str(out / "dashboard.html"), *store],
    ]


def stage_name(command: list[str]) -> str:
    """`panbench data synth`, `panbench sweep panda-table2-mini`, ...: what a timing row is called."""
    two_words = ("data", "sweep", "table", "figure")
    return " ".join(["panbench", *command[:2]]) if command[0] in two_words else f"panbench {command[0]}"


def run_commands(commands: list[list[str]], *, env: dict | None = None, quiet: bool = False) -> list[dict]:
    """Run each command as its own `panbench` process, in turn; stop at the first failure. Returns
    `[{"command", "seconds"}]`."""
    stages = []
    for command in commands:
        if not quiet:
            print(f"\n=== {stage_name(command)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "harness.cli", *command], env=env,
                               stdout=subprocess.DEVNULL if quiet else None)
        if code != 0:
            raise SystemExit(f"demo: `panbench {' '.join(command)}` failed (exit code {code})")
        stages.append({"command": stage_name(command), "seconds": round(time.perf_counter() - start, 1)})
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/demo"))
    parser.add_argument("--seeds", default=None, help="S,S,...: repeat every run with each training seed")
    parser.add_argument("--scale", choices=("full", "short"), default="full")
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (1: one core's worth of work)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for folder in ("synth", "panda"):  # the scenes and their PanDA copies are made afresh (seconds)
        shutil.rmtree(args.out / folder, ignore_errors=True)
    stages = run_commands(demo_commands(args.out, seeds=args.seeds, scale=args.scale, parallel=args.parallel))
    for name in PRINTED:  # a table the report skipped (said above: e.g. Table 3 from one size n) is not printed
        if (args.out / name).is_file():
            print(f"\n{(args.out / name).read_text()}")
    minutes = (time.perf_counter() - started) / 60
    timings = ", ".join(f"{s['command']} {s['seconds']:.0f} s" for s in stages)
    print(f"\ndemo: {minutes:.1f} min ({timings})")
    print(f"demo: tables, figures and dashboard.html in {args.out}/ (runs in {DEFAULT_RUNS_ROOT}/, W&B offline runs "
          "inside each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
