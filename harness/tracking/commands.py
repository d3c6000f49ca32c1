"""`panbench sync [RUN_ID ...]`: upload offline W&B runs of the run store (`wandb sync`) once the
user is online; without run ids, every run that has an offline W&B folder. Also the run store's one
command-line option, `--runs-root`, shared by every sub-command that reads or writes runs."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from harness.errors import ConfigError
from harness.tracking.run_store import RunStore

DEFAULT_RUNS_ROOT = Path("results/runs")


def add_runs_root(parser: argparse.ArgumentParser, old_spelling: bool = False) -> None:
    """`--runs-root DIR`; `old_spelling` keeps `--runs` (table / figure / report / dashboard until
    now) as a hidden alias for one release."""
    parser.add_argument("--runs-root", type=Path, default=DEFAULT_RUNS_ROOT,
                        help=f"run store (default {DEFAULT_RUNS_ROOT})")
    if old_spelling:
        parser.add_argument("--runs", dest="runs_root", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sync", help="push offline W&B runs (wandb sync)", description=__doc__.split("\n\n")[0])
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID")
    add_runs_root(p)
    p.add_argument("--dry-run", action="store_true", help="list the folders, do not upload")
    p.set_defaults(func=sync_command)


def offline_dirs(store: RunStore, run_ids: list[str]) -> list[Path]:
    """The `wandb/offline-run-*` folders of the given runs (all runs when none given)."""
    ids = run_ids or [r["run_id"] for r in store.runs()]
    folders = []
    for rid in ids:
        if store.read_run(rid) is None:
            raise ConfigError(f"{store.run_dir(rid)}: no such run in the store")
        folders.extend(sorted((store.run_dir(rid) / "wandb").glob("offline-run-*")))
    return folders


def sync_command(args: argparse.Namespace) -> int:
    folders = offline_dirs(RunStore(args.runs_root), args.run_ids)
    if not folders:
        print("no offline W&B runs to sync")
        return 0
    for folder in folders:
        print(folder)
    if args.dry_run:
        return 0
    wandb_cli = shutil.which("wandb") or str(Path(sys.executable).with_name("wandb"))
    return subprocess.call([wandb_cli, "sync", *map(str, folders)])
