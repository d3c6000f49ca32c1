"""Per-dataset cache of what evaluation derives from the ground-truth PNGs (the things' RLE masks
for COCO AP, the segment ids each PNG holds for PQ's checks), so that repeated evaluations against
the same ground truth (every evaluation of a training run) decode its PNGs once.

An entry is keyed on the ground truth's identity: the resolved JSON path, its size and mtime, and
the size and mtime of every PNG it names; a change to any of them rebuilds the entry. Entries are
JSON (never unpickled), written atomically, under `$PANBENCH_CACHE_DIR` or the user's cache
folder (`$XDG_CACHE_HOME/panbench`, default `~/.cache/panbench`); a dataset whose PNGs cannot all
be found is not cached (the builder then raises the evaluator's own error)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

from harness.atomic import write_json

CACHE_ENV = "PANBENCH_CACHE_DIR"
VERSION = 1  # bump when what a builder stores changes


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "panbench"


def ground_truth_identity(gt_json: str | Path, gt_dir: str | Path, file_names: list[str]) -> dict | None:
    """(path, size, mtime_ns) of the JSON and of every PNG; None when a file is missing."""
    def stat(path: Path) -> list | None:
        try:
            s = path.stat()
        except OSError:
            return None
        return [s.st_size, s.st_mtime_ns]

    json_stat = stat(Path(gt_json))
    pngs = [stat(Path(gt_dir) / name) for name in file_names]
    if json_stat is None or any(p is None for p in pngs):
        return None
    return {"version": VERSION, "gt_json": str(Path(gt_json).resolve()), "gt_dir": str(Path(gt_dir).resolve()),
            "json_stat": json_stat, "pngs": [[name, *p] for name, p in zip(file_names, pngs)]}


def cache_path(kind: str, identity: dict, cache_dir: Path) -> Path:
    """One file per (kind, ground-truth location); its content says which identity it was built for."""
    where = hashlib.sha256(f"{identity['gt_json']}\0{identity['gt_dir']}".encode()).hexdigest()[:20]
    return cache_dir / "ground_truth" / f"{kind}-{where}.json"


def cached_ground_truth(kind: str, gt_json: str | Path, gt_dir: str | Path, file_names: list[str],
                        build: Callable[[], Any], cache_dir: str | Path | None = None) -> Any:
    """`build()`'s JSON-serialisable value for this ground truth, from the cache when its identity
    is unchanged, else built and stored (a stale or unreadable entry is replaced). The value is
    always returned as JSON gives it back (lists, string keys), cached or not."""
    identity = ground_truth_identity(gt_json, gt_dir, file_names)
    if identity is None:
        return json.loads(json.dumps(build()))
    path = cache_path(kind, identity, Path(cache_dir) if cache_dir is not None else default_cache_dir())
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry.get("identity") == identity:
            return entry["value"]
    except (OSError, ValueError, AttributeError, KeyError):
        pass  # missing, unreadable or from another version: rebuilt below
    value = json.loads(json.dumps(build()))
    try:
        write_json(path, {"identity": identity, "value": value}, indent=None)
    except OSError:
        pass  # a read-only cache folder only costs the rebuild next time
    return value
