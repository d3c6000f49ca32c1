"""The COCOeval engines behind `harness.metrics.instances`: pycocotools (the reference) and hotcoco
(Rust; the 12 COCOeval stats and the precision table identical to pycocotools', COCOeval ~7-9x
faster for masks and ~8-13x for boxes; with the ground truth cached `evaluate_instances` is ~35x
faster: results/bench/engines.json, contended). Both take the same COCO
dataset dict and results list (integer image ids); which one runs is the caller's `engine`.
hotcoco's threads: its pool (harness.metrics.engines.rayon_pool); in a forked child of the
process that started that pool, pycocotools runs instead (same numbers)."""

from __future__ import annotations

import contextlib
import io
from typing import Any, Callable

import hotcoco
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from harness.metrics.engines import COCO_ENGINES
from harness.metrics.engines.rayon_pool import mark_pool_started, pool_usable


def pycocotools_index(dataset: dict) -> COCO:
    """pycocotools' COCO of a dataset dict (its index printout silenced)."""
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


ENGINES: dict[str, tuple[Callable[[dict], Any], type]] = dict(zip(COCO_ENGINES, (  # (COCO from a dataset, COCOeval)
    (hotcoco.COCO, hotcoco.COCOeval),
    (pycocotools_index, COCOeval),
)))


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"unknown COCOeval engine {engine!r}; choose one of {', '.join(ENGINES)}")


def runnable(engine: str) -> str:
    """`engine`, or pycocotools where hotcoco's pool cannot run (a forked child)."""
    check_engine(engine)
    return engine if engine != "hotcoco" or pool_usable() else "pycocotools"


def engine_parts(engine: str) -> tuple[Callable[[dict], Any], type]:
    """(COCO index from a dataset dict, COCOeval class) of `engine`."""
    check_engine(engine)
    return ENGINES[engine]


def coco_stats(coco_gt: Any, results: list[dict], kind: str, engine: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """COCOeval's 12 summary stats, its precision table [iou, recall, class, area, max dets] and the
    class ids along its third axis, for non-empty `results` (integer image ids); `coco_gt` is
    `engine`'s own index of the ground truth."""
    _, evaluator_class = engine_parts(engine)
    if engine == "hotcoco":
        mark_pool_started()
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = evaluator_class(coco_gt, coco_gt.loadRes(results), kind)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return (np.asarray(evaluator.stats, np.float64), np.asarray(evaluator.eval["precision"]),
            [int(c) for c in evaluator.params.catIds])
