"""`panbench runs stale [--recipe R]`: the finished runs whose code state is not the working tree's.
`panbench sync [RUN_ID ...]`: upload the offline W&B runs of the run store (`wandb sync`) once
the user is online; without run ids, every run that has an offline W&B folder. Each run id is
uploaded once: a run has one offline folder (a restart rebuilds it, harness.tracking.wandb_sink);
a folder already synced is skipped (its `.wandb.synced` marker), and a run still executing is left
until it ends. The URL W&B prints for the synced run is kept in run.json (`wandb_url`), which the
dashboard links."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.config.paths import add_runs_root
from harness.errors import ConfigError
from harness.tracking.provenance import code_state, describe_state, state_of
from harness.tracking.run_lock import RunLock
from harness.tracking.run_store import OFFLINE_GLOB, WANDB_DIR, RunStore

SYNCED_GLOB = "*.wandb.synced"  # the marker `wandb sync` leaves beside the .wandb file


SYNC_HELP = """Upload the run store's offline W&B runs with `wandb sync` (once you are online): the runs named,
or every run that has an offline W&B folder. Each run is uploaded once; a run still executing is left
until it ends. The run's W&B URL is kept in its run.json (the dashboard links it)."""
STALE_HELP = """List the finished runs whose code state (git commit, or the hash of the uncommitted diff of tracked
files, run.json `code`) differs from the working tree's: their numbers may not be what this code gives.
Run them again with `panbench sweep RECIPE --rerun` or `panbench train RECIPE ... --rerun`."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sync", description=SYNC_HELP)
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to upload (default: every run)")
    add_runs_root(p)
    p.add_argument("--dry-run", action="store_true", help="list the folders, do not upload")
    p.set_defaults(func=sync_command)
    runs = subparsers.add_parser("runs")
    actions = runs.add_subparsers(dest="runs_command", required=True)
    stale = actions.add_parser("stale", help="finished runs made by another code state than the working tree's",
                               description=STALE_HELP)
    stale.add_argument("--recipe", default=None, help="only the runs of this recipe (its name in run.json)")
    add_runs_root(stale)
    stale.set_defaults(func=stale_command)


def stale_runs(store: RunStore, recipe: str | None = None) -> list[dict]:
    """The finished run records (of `recipe`) whose (commit, diff hash) is not the working tree's."""
    here = state_of({"code": code_state()})
    finished = (r for r in store.runs() if r and r.get("status") == "finished")
    return [r for r in finished if recipe in (None, r.get("recipe")) and state_of(r) != here]


def stale_command(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_root)
    here = describe_state(state_of({"code": code_state()}))
    found = stale_runs(store, args.recipe)
    scope = f" of {args.recipe}" if args.recipe else ""
    print(f"working tree: code {here}; {len(found)} finished run(s){scope} made by other code")
    for record in found:
        print(f"{record['run_id']}  {record.get('recipe')}  {record.get('variant')}  seed={record.get('seed')}  "
              f"code {describe_state(state_of(record))}  finished {record.get('finished_at')}")
    return 0


@dataclass
class Upload:
    """One run's offline W&B folder and what stands in the way of uploading it."""

    run_id: str
    folder: Path
    superseded: list[Path] = field(default_factory=list)  # older folders of the same run (stores before one-folder)
    running: str | None = None  # the lock holder, while the run executes

    @property
    def synced(self) -> bool:
        return any(self.folder.glob(SYNCED_GLOB))

    @property
    def wandb_id(self) -> str:
        return self.folder.name.split("-", 3)[-1]  # offline-run-<date>_<time>-<wandb id>


def uploads(store: RunStore, run_ids: list[str]) -> list[Upload]:
    """The offline folder to upload for each given run (all runs when none given): the newest."""
    ids = run_ids or [r["run_id"] for r in store.runs()]
    found = []
    for rid in ids:
        if store.read_run(rid) is None:
            raise ConfigError(f"{store.run_dir(rid)}: no such run in the store")
        folders = sorted((store.run_dir(rid) / WANDB_DIR).glob(OFFLINE_GLOB))  # named by start time
        if folders:
            holder = RunLock(store.run_dir(rid)).held_elsewhere()
            found.append(Upload(rid, folders[-1], folders[:-1], holder.describe() if holder else None))
    return found


def offline_dirs(store: RunStore, run_ids: list[str]) -> list[Path]:
    """The `wandb/offline-run-*` folder of each given run (all runs when none given)."""
    return [u.folder for u in uploads(store, run_ids)]


def wandb_cli() -> str:
    return shutil.which("wandb") or str(Path(sys.executable).with_name("wandb"))


def run_url(output: str, wandb_id: str) -> str | None:
    """The synced run's page in `wandb sync`'s output ("View run NAME at: URL")."""
    match = re.search(rf"https?://\S+/runs/{re.escape(wandb_id)}\b", output)
    return match.group(0) if match else None


def sync_command(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_root)
    todo = uploads(store, args.run_ids)
    if not todo:
        print("no offline W&B runs to sync")
        return 0
    for upload in todo:
        if upload.superseded:
            print(f"{upload.run_id}: {len(upload.superseded)} older offline folder(s) superseded by {upload.folder} "
                  "(not uploaded)", file=sys.stderr)
    if args.dry_run:
        for upload in todo:
            print(upload.folder)
        return 0
    status = 0
    for upload in todo:
        record = store.read_run(upload.run_id) or {}
        if upload.running:
            print(f"{upload.run_id}: still running ({upload.running}); sync it once it ends")
            continue
        if upload.synced:
            print(f"{upload.run_id}: already synced{': ' + record['wandb_url'] if record.get('wandb_url') else ''}")
            continue
        done = subprocess.run([wandb_cli(), "sync", str(upload.folder)], capture_output=True, text=True)
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        if done.returncode != 0:
            status = done.returncode
            continue
        url = run_url(done.stdout + done.stderr, upload.wandb_id)
        if url:
            store.update(upload.run_id, wandb_url=url)
            print(f"{upload.run_id}: {url}")
        else:
            print(f"{upload.run_id}: synced, but wandb printed no run URL (run.json has none)", file=sys.stderr)
    return status
