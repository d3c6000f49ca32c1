"""The local run store (ARCHITECTURE.md "Run record"): one folder per run, named by its run id (a
stable hash of the resolved config, harness.config.run_spec), so a re-run sweep finds its finished runs
and skips them.

    <root>/<run_id>/run.json        identity, resolved config, status and timings
    <root>/<run_id>/metrics.json    final metrics: flat keys in percent + per_class
    <root>/<run_id>/history.jsonl   one line per logged step
    <root>/<run_id>/checkpoints/    the latest training state (exact resume)
    <root>/<run_id>/error.log       the traceback of a failed run
    <root>/<run_id>/error.rank<k>.log   the traceback of DDP rank k > 0, when it failed
    <root>/<run_id>/run.lock        held while the run executes (harness.tracking.run_lock)
    <root>/<run_id>/train.log       the human-readable log of every attempt (harness.train.train_log)
    <root>/<run_id>/earlier/<k>/    the k-th finished record a `--rerun` set aside (run.json `earlier`)
    <root>/<run_id>/wandb/offline-run-*/   its one offline W&B run (harness.tracking.wandb_sink)
    <root>/.store.json              the store's salt: W&B id = <run_id>-<salt>

Every JSON file is written atomically (temp file + rename, harness.atomic).

W&B ids are salted per store: the run id is a hash of the config, so two people running the same
cell into one shared W&B project would otherwise write into one W&B run. The salt is drawn once,
when the store is first used, and a run keeps the W&B id it started with (run.json `wandb_id`).

run.json's `code` and `packages` say which code made the run (harness.tracking.provenance): the run
id hashes the config only, so a code change is found there, never silently (`panbench runs stale`)."""

from __future__ import annotations

import json
import math
import os
import secrets
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from harness.atomic import append_jsonl, write_json, write_text
from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.data.schema import read_json
from harness.errors import DatasetError, PanbenchError, WriteError, warn
from harness.metrics.vocabulary import METRIC_KEYS
from harness.tracking.provenance import code_state, package_versions

if TYPE_CHECKING:
    from harness.config.run_spec import RunSpec

RUN_JSON = "run.json"
METRICS_JSON = "metrics.json"
HISTORY_JSONL = "history.jsonl"
ERROR_LOG = "error.log"
CHECKPOINTS = "checkpoints"
PREDICTIONS = "predictions"  # what the final evaluation wrote (step_NNNNNNN/ for earlier ones)
STORE_JSON = ".store.json"
WANDB_DIR = "wandb"  # <run_dir>/wandb/offline-run-*: the run's offline W&B run
OFFLINE_GLOB = "offline-run-*"
RANK_ERROR_GLOB = "error.rank*.log"
OWN_ENTRIES = (RUN_JSON, METRICS_JSON, HISTORY_JSONL, ERROR_LOG, CHECKPOINTS, WANDB_DIR, "predictions", "run.lock",
               "train.log")  # what panbench writes, moves or deletes in a run folder
DAMAGED = "damaged"  # the status of a run whose run.json cannot be read
CARRIED = ("wandb_url", "samples", "cost")  # kept across attempts (W&B link, listed images, spent hours)


class StoreError(PanbenchError):
    """A run store entry panbench would write through is not its own (a link, a file for a folder)."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}; a run store holds real folders and files only, nothing was written "
                         f"(remove it, or choose another --runs-root)")


TRAIN_LOG = "train.log"  # the run's human-readable log (and a launched run's output), appended per attempt
EARLIER = "earlier"  # <run_dir>/earlier/<k>/: the finished records a --rerun set aside, the first is 1
KEPT_IN_PLACE = ("run.lock", TRAIN_LOG, EARLIER)  # not set aside: the lock, the log of every attempt, the archive


def read_record(path: Path) -> dict | None:
    """A run-store JSON object, None when absent; a damaged one (torn, not an object, hostile) is a
    PanbenchError naming it in one line (harness.data.schema.read_json)."""
    if not path.is_file():
        return None
    try:
        return read_json(path, expect=dict)
    except DatasetError as exc:
        raise PanbenchError(f"{path}: unreadable run record ({exc.problem})") from None


def read_jsonl(path: Path, repair: bool = False) -> list[dict]:
    """The objects of a JSON-lines file. A torn last line (no newline: what a full disk or a kill leaves
    of an append) is dropped with one warning naming the file. Any other line that is not a JSON object
    is damage: a PanbenchError naming the file and the line, unless `repair` (a restart, which
    rewrites the file: RunStore.truncate_history), which drops it with the same warning."""
    if not path.is_file():
        return []
    records, bad = [], []
    lines = path.read_bytes().split(b"\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # undecodable, invalid, too deep or too many digits
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            bad.append(number)
    torn = bool(bad) and bad[-1] == len(lines)  # the last line, without its newline
    damaged = bad[:-1] if torn else bad
    if damaged and not repair:
        raise PanbenchError(f"{path}: line {damaged[0]} is not a JSON object (damaged); a restart of the run "
                            "rewrites the file without it")
    if bad:
        what = "a torn last line" if bad == [len(lines)] else f"{len(bad)} damaged line(s)"
        warn(f"{path}: dropped {what}; a restart of the run rewrites the file without it")
    return records


def finite(node: Any) -> Any:
    """`node` with every NaN / infinity replaced by null: JSON has no such numbers, and a metric that
    could not be measured is absent, not a number (json.dumps would write the invalid `NaN`)."""
    if isinstance(node, float):
        return node if math.isfinite(node) else None
    if isinstance(node, dict):
        return {k: finite(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [finite(v) for v in node]
    return node


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _step(record: dict) -> float:
    """A history line's step (a line whose step is not a number sorts after every checkpoint)."""
    step = record.get("step", 0)
    return step if isinstance(step, (int, float)) and not isinstance(step, bool) else math.inf


class RunStore:
    """Reads and writes run records under `root` (default harness.config.paths.DEFAULT_RUNS_ROOT)."""

    def __init__(self, root: str | Path = DEFAULT_RUNS_ROOT):
        self.root = Path(root)

    # --- paths ----------------------------------------------------------------------------------
    def run_dir(self, rid: str) -> Path:
        return self.root / rid

    def checkpoint_dir(self, rid: str) -> Path:
        return self.run_dir(rid) / CHECKPOINTS

    def confine(self, rid: str) -> Path:
        """The run's folder, once it is certain that nothing written there leaves the store: the runs
        root and the run folder are real folders (or absent) and none of the run's own entries is a
        symbolic link (run ids are predictable, so anyone who can write to a shared store could plant
        one). Raises StoreError before anything is written, moved or deleted."""
        run_dir = self.run_dir(rid)
        for path in (self.root, run_dir):
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                raise StoreError(path, "is a symbolic link" if path.is_symlink() else "is not a folder")
        for name in OWN_ENTRIES:
            if (run_dir / name).is_symlink():
                raise StoreError(run_dir / name, "is a symbolic link")
        return run_dir

    def check_writable(self) -> None:
        """Refuse, in one line and without writing anything, a runs root that is a link, not a folder,
        or that this user cannot create files in (a sweep asks before its first run)."""
        if self.root.is_symlink() or (self.root.exists() and not self.root.is_dir()):
            raise StoreError(self.root, "is a symbolic link" if self.root.is_symlink() else "is not a folder")
        nearest = next(p for p in (self.root, *self.root.absolute().parents) if p.exists())
        if not nearest.is_dir() or not os.access(nearest, os.W_OK | os.X_OK):  # also a read-only file system
            raise WriteError(self.root, f"runs root is not writable ({nearest} is not a folder this user can "
                                        "write to); choose another --runs-root")

    # --- W&B identity ---------------------------------------------------------------------------
    def salt(self) -> str:
        """This store's salt, drawn the first time it is needed. Created with a hard link of a
        complete file, so two processes starting together agree on one salt."""
        path = self.root / STORE_JSON
        if not path.is_file():
            draft = self.root / f"{STORE_JSON}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
            write_json(draft, {"salt": secrets.token_hex(4), "created_at": now_iso()})
            try:
                os.link(draft, path)  # fails if another process was first: its salt stands
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        record = read_record(path) or {}
        salt = record.get("salt")
        if not isinstance(salt, str) or not salt.isalnum():
            raise PanbenchError(f"{path}: no valid `salt` (letters and digits); delete the file to draw a new one")
        return salt

    def wandb_id(self, rid: str, rerun: int = 0) -> str:
        """`<run_id>-<salt>`, and `-r<k>` for the k-th rerun (a W&B run of its own beside the earlier one)."""
        return f"{rid}-{self.salt()}" + (f"-r{rerun}" if rerun else "")

    # --- reading --------------------------------------------------------------------------------
    def read_run(self, rid: str) -> dict | None:
        return read_record(self.run_dir(rid) / RUN_JSON)

    def read_metrics(self, rid: str) -> dict | None:
        return read_record(self.run_dir(rid) / METRICS_JSON)

    def read_history(self, rid: str) -> list[dict]:
        return read_jsonl(self.run_dir(rid) / HISTORY_JSONL)

    def status(self, rid: str) -> str | None:
        """run.json's status; DAMAGED when it cannot be read (the run is then started afresh)."""
        try:
            record = self.read_run(rid)
        except PanbenchError:
            return DAMAGED
        return record.get("status") if record else None

    def is_finished(self, rid: str) -> bool:
        return self.status(rid) == "finished"

    def runs(self) -> Iterator[dict]:
        """Every readable run record in the store (run.json contents), sorted by run id; a damaged one is
        named in a warning and skipped."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob(f"*/{RUN_JSON}")):
            try:
                yield read_record(path)
            except PanbenchError as exc:  # one damaged record does not hide the others
                warn(f"{exc}; skipped")

    # --- writing --------------------------------------------------------------------------------
    def start(self, spec: RunSpec, **extra: Any) -> dict:
        """Write (or rewrite, when resuming) run.json with status `running`: the spec's identity and
        resolved config, the code version, the attempt count; return the record. `n` (the images
        actually prepared) is added once the data is ready."""
        self.confine(spec.run_id)
        try:
            previous = self.read_run(spec.run_id) or {}
        except PanbenchError as exc:  # kept beside it, never lost; the run starts afresh
            path = self.run_dir(spec.run_id) / RUN_JSON
            os.replace(path, path.with_name(f"{RUN_JSON}.damaged"))
            warn(f"{exc}; kept as {RUN_JSON}.damaged, the run starts afresh")
            previous = {}
        code = code_state()
        earlier = self.earlier(spec.run_id)
        for stale in self.run_dir(spec.run_id).glob(RANK_ERROR_GLOB):  # an earlier attempt's
            stale.unlink()
        record = {
            **spec.identity(),
            "config": spec.config,
            "git_commit": code["commit"],
            "code": dict(code),
            "packages": package_versions(),
            "status": "running",
            "error": None,
            "traceback": None,
            "started_at": previous.get("started_at") or now_iso(),
            "finished_at": None,
            "duration_s": previous.get("duration_s"),
            "wandb_dir": previous.get("wandb_dir"),
            "wandb_id": previous.get("wandb_id") or self.wandb_id(spec.run_id, rerun=len(earlier)),
            "attempts": int(previous.get("attempts", 0)) + 1,
            **{key: previous[key] for key in CARRIED if key in previous},
            **({"earlier": [f"{EARLIER}/{p.name}" for p in earlier]} if earlier else {}),
            **extra,
        }
        self.write_run(record)
        return record

    def earlier(self, rid: str) -> list[Path]:
        """The records earlier reruns set aside (`earlier/<k>/`), the first first."""
        folder = self.run_dir(rid) / EARLIER
        return sorted((p for p in folder.glob("*") if p.name.isdigit()), key=lambda p: int(p.name)) \
            if folder.is_dir() else []

    def set_aside(self, rid: str) -> Path:
        """Move a finished run's record into `earlier/<k>/` so that a `--rerun` starts afresh beside it:
        its checkpoints first (a crash on the way never resumes from the old last step), run.json last.
        The caller holds the run's lock. train.log stays (it is appended per attempt); returns the folder."""
        run_dir = self.run_dir(rid)
        target = run_dir / EARLIER / str(len(self.earlier(rid)) + 1)
        target.mkdir(parents=True)
        moved = [p for p in run_dir.iterdir() if p.name not in KEPT_IN_PLACE]
        for path in sorted(moved, key=lambda p: (p.name != CHECKPOINTS, p.name == RUN_JSON, p.name)):
            os.replace(path, target / path.name)
        return target

    def record_data(self, rid: str, *, n: int, n_train: int, data: dict) -> dict:
        """The training data a run got: `n` original images (beside the spec's `n_requested`),
        `n_train` with its PanDA images, and the folders."""
        return self.update(rid, n=n, n_train=n_train, data=data)

    def write_run(self, record: dict) -> None:
        write_json(self.confine(record["run_id"]) / RUN_JSON, record)

    def update(self, rid: str, **fields: Any) -> dict:
        record = self.read_run(rid)
        if record is None:
            raise FileNotFoundError(self.run_dir(rid) / RUN_JSON)
        record.update(fields)
        self.write_run(record)
        return record

    def append_history(self, rid: str, step_record: dict) -> None:
        append_jsonl(self.confine(rid) / HISTORY_JSONL, finite(step_record))

    def truncate_history(self, rid: str, last_step: int) -> None:
        """Drop the lines logged after `last_step` (a resumed run repeats the steps after its
        checkpoint), rewriting the file atomically."""
        kept = [r for r in read_jsonl(self.run_dir(rid) / HISTORY_JSONL, repair=True) if _step(r) <= last_step]
        write_text(self.confine(rid) / HISTORY_JSONL, "".join(json.dumps(r) + "\n" for r in kept))

    def write_metrics(self, rid: str, metrics: dict) -> None:
        unknown = set(metrics) - set(METRIC_KEYS) - {"per_class", "protocol"}  # protocol: synthesis runs' preset
        if unknown:
            raise ValueError(f"metrics.json takes only {METRIC_KEYS} + per_class, protocol, not {sorted(unknown)}")
        write_json(self.confine(rid) / METRICS_JSON, finite(metrics))

    def finish(self, rid: str, metrics: dict, duration_s: float) -> dict:
        """metrics.json first, then run.json `finished`: a finished run always has its metrics."""
        self.write_metrics(rid, metrics)
        return self.update(rid, status="finished", finished_at=now_iso(), duration_s=round(duration_s, 3),
                           error=None, traceback=None)

    def fail(self, rid: str, exc: BaseException, duration_s: float | None = None, status: str = "failed",
             **extra: Any) -> dict:
        """Record the error in run.json and its traceback in error.log (`status` "interrupted" for a
        run stopped by a signal or to be requeued; `extra`: more run.json keys, in the same write)."""
        log = self.confine(rid) / ERROR_LOG
        write_text(log, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return self.record_failure(rid, f"{type(exc).__name__}: {exc}", log, duration_s, status, **extra)

    def record_failure(self, rid: str, error: str, log: Path, duration_s: float | None = None,
                       status: str = "failed", **extra: Any) -> dict:
        return self.update(rid, status=status, finished_at=now_iso(), error=error, traceback=os.fspath(log),
                           duration_s=None if duration_s is None else round(duration_s, 3), **extra)

    def write_rank_error(self, rid: str, rank: int, exc: BaseException) -> Path:
        """A DDP rank > 0 leaves its error where rank 0 and the launcher find it: the first line
        names the rank and the error, the traceback follows."""
        log = self.run_dir(rid) / f"error.rank{rank}.log"
        write_text(log, f"rank {rank}: {type(exc).__name__}: {exc}\n\n"
                        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return log

    def rank_errors(self, rid: str) -> list[tuple[str, Path]]:
        """(error line, log) of every rank that failed in this attempt, the earliest first."""
        logs = sorted(self.run_dir(rid).glob(RANK_ERROR_GLOB), key=lambda p: p.stat().st_mtime)
        return [(p.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0], p) for p in logs]

    def root_cause(self, rid: str) -> tuple[str, Path] | None:
        """(error, log) of the DDP rank > 0 that failed first in this attempt, unless the run's
        recorded error (rank 0's) came earlier; None when no such rank failed."""
        causes = self.rank_errors(rid)
        if not causes:
            return None
        error, log = causes[0]
        own = (self.read_run(rid) or {}).get("traceback")
        if own and Path(own).is_file() and Path(own) != log and Path(own).stat().st_mtime < log.stat().st_mtime:
            return None
        return error, log

    def add_cost(self, rid: str, gpu_hours: float, cpu_hours: float) -> dict:
        """Add one attempt's device time to the run's `cost` (every attempt that ended counts)."""
        spent = (self.read_run(rid) or {}).get("cost") or {}
        return self.update(rid, cost={"gpu_hours": round(float(spent.get("gpu_hours", 0.0)) + gpu_hours, 6),
                                      "cpu_hours": round(float(spent.get("cpu_hours", 0.0)) + cpu_hours, 6)})
