"""Panoptic quality (PQ, SQ, RQ for all / things / stuff and per category) of a COCO-panoptic
prediction against a COCO-panoptic ground truth, equal to panopticapi's `pq_compute`.

Two engines behind one API (`pq_compute(..., engine=)`, `panbench evaluate panoptic --engine`):
`hotcoco` (the default): hotcoco's Rust evaluator behind panbench's checks, errors and averaging
(harness.metrics.engines.hotcoco_pq; the ground truth's segment ids cached per dataset), and
`panbench`, the reference: panbench's own numpy evaluator (harness.metrics.panoptic_reference).
Both give the same numbers (tests/test_metrics_engine_pq.py) and the same errors: input the fast
engine rejects is handed to the reference, which names the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.metrics.engines import PQ_ENGINES, hotcoco_pq
from harness.metrics.panoptic_reference import average_pq, png_pairs, pq_compute_reference

__all__ = ["average_pq", "png_pairs", "pq_compute", "pq_compute_reference"]


def pq_compute(gt_json: str | Path, gt_dir: str | Path, pred_json: str | Path, pred_dir: str | Path,
               workers: int | None = None, progress: bool = False, decode_threads: int = 2,
               allow_outside_links: bool = False, *, engine: str = PQ_ENGINES[0],
               cache_dir: str | Path | None = None) -> dict[str, Any]:
    """PQ / SQ / RQ (all, things `_th`, stuff `_st`; percent) and `per_class` {category_id: {pq, sq, rq,
    tp, fp, fn}} of the prediction (`pred_json` + PNGs in `pred_dir`) against the ground truth.

    Categories come from the ground-truth JSON; a category with no TP+FP+FN is reported with zeros in
    `per_class` (as panopticapi does) and left out of the averages; `n`, `n_th`, `n_st` count the
    categories averaged. `engine`: `hotcoco` (its threads: the thread policy's `RAYON_NUM_THREADS`,
    harness.threads; `cache_dir`: where the ground-truth cache lives, harness.metrics.engines.gt_cache)
    or `panbench` (`pq_compute_reference`: `workers` and `decode_threads` are its threads)."""
    if engine not in PQ_ENGINES:
        raise ValueError(f"unknown PQ engine {engine!r}; choose one of {', '.join(PQ_ENGINES)}")
    if engine == "hotcoco":
        return hotcoco_pq.pq_compute(gt_json, gt_dir, pred_json, pred_dir, allow_outside_links=allow_outside_links,
                                     cache_dir=cache_dir, progress=progress)
    return pq_compute_reference(gt_json, gt_dir, pred_json, pred_dir, workers, progress, decode_threads,
                                allow_outside_links)
