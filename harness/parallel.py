"""Ordered process-parallel map under the one progress display (harness.progress).

Results come back in input order whatever the completion order, so anything written from them
(a panoptic.json) is byte-identical for any number of workers. Processes are started with
`spawn`: forking a parent that has torch's thread pools running can deadlock."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence

from harness.threads import usable_cpus


def default_workers(n_items: int) -> int:
    """One process per item, at most one per usable CPU."""
    return max(1, min(n_items, usable_cpus()))


def _one_thread_each() -> None:
    """A worker's torch ops (PanDA's resize) run on one intra-op thread: the pool is the parallelism,
    and a team per worker would oversubscribe the cores (harness.threads). The environment wins."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _run_chunk(job: tuple[Callable[[Any], Any], Sequence[Any]]) -> list[Any]:
    fn, chunk = job
    return [fn(item) for item in chunk]


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int | None = None,
                 description: str = "working", progress: bool = True) -> list[Any]:
    """[fn(x) for x in items], over `workers` processes (1 = in this process), in input order.
    `fn` must be a module-level function (picklable). Items travel in chunks of up to 8 (about four
    per worker), so short items (a PQ image) do not pay one round trip each."""
    from harness.progress import progress_bar  # rich: loaded when work is shown (a bare GPU machine has none)

    workers = default_workers(len(items)) if workers is None else max(1, min(workers, len(items) or 1))
    results: list[Any] = [None] * len(items)
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task(description, total=len(items))
        if workers == 1:
            for i, item in enumerate(items):
                results[i] = fn(item)
                bar.advance(task)
            return results
        size = max(1, min(8, len(items) // (4 * workers)))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_one_thread_each) as pool:
            futures = {pool.submit(_run_chunk, (fn, items[start:start + size])): start
                       for start in range(0, len(items), size)}
            try:
                for future in as_completed(futures):
                    done = future.result()
                    results[futures[future]:futures[future] + len(done)] = done
                    bar.advance(task, len(done))
            except BaseException:
                pool.shutdown(cancel_futures=True)  # a failed item stops the run: the queued ones never start
                raise
    return results
