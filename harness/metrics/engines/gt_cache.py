"""Per-dataset cache of what evaluation derives from the ground-truth PNGs (the things' RLE masks
for COCO AP, the segment ids each PNG holds for PQ's checks), so that repeated evaluations against
the same ground truth (every evaluation of a training run, every sweep cell) decode its PNGs once.

One JSON file per (kind, ground-truth PNG folder), holding one record per PNG: the PNG's size and
mtime, a key naming whatever else the value depends on (e.g. the image's `segments_info`), and the
value. A record is reused while all three match, so a JSON restricted to some images (training's
`val_max`, a subset in another folder's JSON) reuses the records of the full dataset, and a
changed PNG rebuilds its record alone. Files are JSON (never unpickled) written atomically
(harness.atomic); two processes filling one file at once only cost each other a rebuild.

Where: `cache_dir` when the caller gives one (training passes its recipe's `data.cache`), else
panbench's user cache (harness/user_cache.py); entries live under `<that>/ground_truth/`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.atomic import write_json
from harness.metrics.prefetch import prefetched
from harness.seeding import stable_digest
from harness.user_cache import user_cache_dir

VERSION = 2  # bump when what a builder stores changes


def digest(value: Any) -> str:
    """A short stable digest of a JSON-serialisable value (a record's key)."""
    return stable_digest(value, 24)


def cache_path(kind: str, gt_dir: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The cache file of one kind of record for the PNGs of `gt_dir`."""
    root = Path(cache_dir) if cache_dir is not None else user_cache_dir()
    where = digest(str(Path(gt_dir).resolve()))[:20]
    return root / "ground_truth" / f"{kind}-{where}.json"


def _png_stat(path: Path) -> list[int] | None:
    try:
        s = path.stat()
    except OSError:
        return None
    return [s.st_size, s.st_mtime_ns]


def _read_records(path: Path, gt_dir: str) -> dict[str, Any]:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry.get("version") == VERSION and entry.get("gt_dir") == gt_dir and isinstance(entry["records"], dict):
            return entry["records"]
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass  # missing, unreadable or from another version: rebuilt
    return {}


class PngRecords:
    """The cached records of one kind for the PNGs of one ground-truth folder; used as a context
    manager, it writes the file back on exit (error or not) when a record was built. `enabled`
    False: every value is built, nothing read or written (the reference path)."""

    def __init__(self, kind: str, gt_dir: str | Path, cache_dir: str | Path | None = None, enabled: bool = True):
        self.gt_dir, self.enabled = Path(gt_dir), enabled
        self.folder = str(self.gt_dir.resolve())
        self.path = cache_path(kind, gt_dir, cache_dir)
        self.records = _read_records(self.path, self.folder) if enabled else {}
        self.built = 0

    def value(self, name: str, key: str, build: Callable[[], Any],
              valid: Callable[[Any], bool] = lambda value: True) -> Any:
        """The value for PNG `name` (in the folder) and `key`: the cached one while the PNG's size and
        mtime and the key are unchanged (and `valid` accepts its shape: a damaged file is rebuilt, not
        trusted), else `build()` (its errors propagate), stored unless the PNG cannot be found. A
        build returns its value as JSON gives it back (lists, string keys, Python scalars), so a cold
        value equals the warm one (tests/test_metrics_engine_coco.py holds the builders to it; a JSON
        round trip of every built value cost 7 ms of a 60 ms cold evaluation of 20 images)."""
        return next(self.values([(name, key, build)], valid))

    def values(self, items: Sequence[tuple[str, str, Callable[[], Any]]],
               valid: Callable[[Any], bool] = lambda value: True, threads: int = 0) -> Iterator[Any]:
        """`value` of each (name, key, build), in order; the values to build are built ahead on
        `threads` threads (harness.metrics.prefetch: PNG decoding releases the GIL), so a cold cache
        costs about the decoding spread over the cores. A build's error is raised in its turn."""
        looked = []
        for name, key, build in items:
            stat = _png_stat(self.gt_dir / name) if self.enabled else None
            record = self.records.get(name)
            hit = (stat is not None and isinstance(record, dict) and record.get("stat") == stat
                   and record.get("key") == key and valid(record.get("value")))
            looked.append((name, key, build, stat, hit))
        built = prefetched(lambda item: item[2](), [item for item in looked if not item[4]], threads)
        for name, key, _, stat, hit in looked:
            if hit:
                yield self.records[name]["value"]
                continue
            value = next(built)
            if stat is not None:
                self.records[name] = {"stat": stat, "key": key, "value": value}
                self.built += 1
            yield value

    def save(self) -> None:
        if not self.built:
            return
        try:
            write_json(self.path, {"version": VERSION, "gt_dir": self.folder, "records": self.records}, indent=None,
                       durable=False)  # a damaged record is rebuilt
        except OSError:  # harness.errors.WriteError is one
            pass  # a read-only cache folder only costs the rebuild next time
        self.built = 0

    def __enter__(self) -> "PngRecords":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.save()
