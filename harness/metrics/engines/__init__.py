"""Fast evaluation engines behind panbench's metric APIs (compiled evaluators that give the same
numbers and, through panbench's own evaluators, the same errors): `hotcoco_pq` for PQ,
`coco_eval` for COCO AP, and `gt_cache`, the per-dataset cache of what they read from the
ground-truth PNGs."""
