"""`panbench sync [RUN_ID ...]`: upload offline W&B runs of the run store (`wandb sync`) once the
user is online; without run ids, every run that has an offline W&B folder."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from harness.errors import ConfigError
from harness.tracking.run_store import RunStore


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sync", help="push offline W&B runs (wandb sync)", description=__doc__)
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID")
    p.add_argument("--runs-root", default="results/runs")
    p.add_argument("--dry-run", action="store_true", help="list the folders, do not upload")
    p.set_defaults(func=_sync)


def offline_dirs(store: RunStore, run_ids: list[str]) -> list[Path]:
    """The `wandb/offline-run-*` folders of the given runs (all runs when none given)."""
    ids = run_ids or [r["run_id"] for r in store.runs()]
    folders = []
    for rid in ids:
        if store.read_run(rid) is None:
            raise ConfigError(f"{store.run_dir(rid)}: no such run in the store")
        folders.extend(sorted((store.run_dir(rid) / "wandb").glob("offline-run-*")))
    return folders


def _sync(args: argparse.Namespace) -> int:
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
