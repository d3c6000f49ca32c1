"""The thread prefetching PQ evaluation uses in one process: order, errors, bounded look-ahead, and
numbers equal to cityscapesscripts with and without decode threads."""

from __future__ import annotations

import threading

import pytest

from references.pq_pairs import write_pq_pair
from references.reference_pq import reference_pq
from harness.errors import DatasetError
from harness.metrics.panoptic import pq_compute_reference
from harness.metrics.prefetch import prefetched


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_prefetched_keeps_order_and_runs_on_threads(threads):
    names = []

    def load(x):
        names.append(threading.current_thread().name)
        return x * x

    assert list(prefetched(load, range(20), threads)) == [x * x for x in range(20)]
    assert all(n.startswith("prefetch") for n in names) == (threads > 0)


def test_prefetched_raises_in_order_and_stops():
    started = []

    def load(x):
        started.append(x)
        if x == 3:
            raise DatasetError(f"{x}.png", "broken")
        return x

    results = prefetched(load, range(100), threads=2, ahead=2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(DatasetError, match="3.png: broken"):
        next(results)
    assert max(started) <= 3 + 2 + 1  # bounded look-ahead; the rest were never started


def test_pq_equal_to_cityscapesscripts_with_and_without_decode_threads(tmp_path):
    paths = write_pq_pair(tmp_path, 5, 48, 96, seed=4)
    ref = reference_pq(**paths)
    for threads in (0, 1, 2):
        ours = pq_compute_reference(**paths, workers=1, decode_threads=threads)
        assert {c: (r["tp"], r["fp"], r["fn"]) for c, r in ours["per_class"].items() if c in ref["counts"]} == ref["counts"]
        assert abs(ours["pq"] - ref["pq"]) < 1e-9 and abs(ours["sq_th"] - ref["sq_th"]) < 1e-9
