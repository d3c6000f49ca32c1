"""harness.seeding against the libraries it wraps: hashlib's BLAKE2b / SHA-256 of the canonical JSON,
numpy's seeding of a generator from a list of keys."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from harness.seeding import canonical_json, keyed_rng, stable_digest, stable_hash


def test_canonical_json_sorts_keys_and_drops_spaces():
    assert canonical_json({"b": [1, 2], "a": {"y": 1, "x": None}}) == '{"a":{"x":null,"y":1},"b":[1,2]}'
    assert canonical_json({"path": __import__("pathlib").Path("/a")}) == '{"path":"/a"}'  # non-JSON as str


def test_stable_hash_is_blake2b_of_the_json_of_scalar_ids():
    """PanDA seeds each image from the hash of its id: the ids datasets hold (ints, strings) hash as
    they always did, to the bit."""
    for value in (0, 7, 123456789012, "aachen_000000_000019", "ü"):
        expected = int.from_bytes(hashlib.blake2b(json.dumps(value).encode(), digest_size=8).digest(), "little")
        assert stable_hash(value) == expected


def test_stable_digest_is_the_sha256_prefix():
    value = {"model": "upsnet-mini", "n": 10}
    full = hashlib.sha256(b'{"model":"upsnet-mini","n":10}').hexdigest()
    assert stable_digest(value) == full[:16] and stable_digest(value, 12) == full[:12]


def test_keyed_rng_is_numpys_generator_of_the_keys():
    a = keyed_rng(3, 2**40, 1, 0).random(5)
    b = np.random.default_rng([3, 2**40, 1, 0]).random(5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(keyed_rng(3, 1).random(3), keyed_rng(3, 2).random(3))
