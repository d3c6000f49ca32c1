"""Stable hashes and seeded random streams: one canonical JSON form, one hash for seeds, one digest
for names, one way to make a generator from a tuple of keys.

A value's hash must not depend on the process, the Python version or the number of workers
(`hash()` of a str is salted per process), so generated data (synthetic scenes, PanDA images),
cache folders and run ids are the same on every machine."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import numpy as np


def canonical_json(value: Any) -> str:
    """The JSON text hashed for `value`: keys sorted, no spaces, non-JSON values as str."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def stable_hash(value: Any) -> int:
    """64-bit integer hash of `value`, for seeding (BLAKE2b: every PanDA image's draws depend on it,
    so it stays the hash the datasets were generated with)."""
    digest = hashlib.blake2b(canonical_json(value).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


RUN_ID = re.compile(r"^[0-9a-f]{12}$")  # a run id: stable_digest(result config, 12)


def stable_digest(value: Any, length: int = 16) -> str:
    """The first `length` hex digits of the SHA-256 of `value`, for names (run ids, cache folders)."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:length]


def keyed_rng(*keys: int) -> np.random.Generator:
    """A generator that depends on `keys` only (e.g. seed, image index, copy, stream), so item i draws
    the same numbers whatever the number of items, workers or the order they are processed in."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))
