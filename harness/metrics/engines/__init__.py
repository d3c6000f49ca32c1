"""Fast evaluation engines behind panbench's metric APIs (compiled evaluators that give the same
numbers and, through panbench's own evaluators, the same errors): `hotcoco_pq` for PQ,
`coco_eval` for COCO AP, `gt_cache`, the per-dataset cache of what they read from the
ground-truth PNGs, and `rayon_pool`, the one fact about hotcoco's threads they share.

The engines' names, the default first, live here: the command line offers them without importing
the evaluators."""

PQ_ENGINES = ("hotcoco", "panbench")  # harness.metrics.panoptic.pq_compute(engine=)
COCO_ENGINES = ("hotcoco", "pycocotools")  # harness.metrics.instances' functions (engine=)
