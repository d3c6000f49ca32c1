"""The ground-truth cache's builder of the things' RLE (`thing_instances`, one run-length pass over
the id map) against the reference, pycocotools' encoder mask by mask (`thing_annotations`): the same
annotations field by field (RLE string, area, bbox, crowd) on random and blocky id maps, maps of one
row or one column, segments touching the first or last pixel, listed segments without pixels,
repeated ids; and the cold evaluation, built on threads, equal to the pycocotools path."""

from __future__ import annotations

import numpy as np
import pytest
from test_metrics_engine_coco import write_dataset_with_empty_image
from test_metrics_instances import perfect

from harness.data.coco_instances import column_runs, thing_annotations, thing_instances
from harness.metrics import instances


def reference(ids, segments, things):
    return [{k: v for k, v in a.items() if k != "image_id"} for a in thing_annotations(ids, segments, things, None)]


def id_maps(seed: int):
    rng = np.random.default_rng(seed)
    for t in range(120):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        if t % 3 == 0:  # blocks: long runs across columns
            blocks = rng.integers(0, 6, (h // 4 + 1, w // 4 + 1))
            yield np.repeat(np.repeat(blocks, 4, 0), 4, 1)[:h, :w].astype(np.uint32) * 1000
        else:
            yield rng.integers(0, 6, (h, w)).astype(np.uint32) * 1000
    yield np.full((1, 7), 1000, np.uint32)
    yield np.array([[1000], [0], [2000]], np.uint32)


@pytest.mark.parametrize("seed", [0, 1])
def test_thing_instances_equal_pycocotools_mask_by_mask(seed):
    rng = np.random.default_rng(seed + 10)
    for ids in id_maps(seed):
        segments = [{"id": i * 1000, "category_id": int(rng.integers(1, 4)), "iscrowd": int(rng.integers(0, 2))}
                    for i in range(1, 8)]  # ids 6000, 7000 have no pixel
        assert thing_instances(ids, segments, {1, 2}) == reference(ids, segments, {1, 2})
        shuffled = [segments[k] for k in rng.permutation(len(segments))]  # listed in no order of id
        assert thing_instances(ids, shuffled, {1, 2}) == reference(ids, shuffled, {1, 2})


def test_a_segment_listed_twice_gives_two_annotations_as_the_reference():
    ids = np.array([[0, 5], [5, 5]], np.uint32)
    segments = [{"id": 5, "category_id": 1}, {"id": 5, "category_id": 1, "iscrowd": 1}]
    assert thing_instances(ids, segments, {1}) == reference(ids, segments, {1}) != []


def test_column_runs_cover_the_map_in_column_major_order():
    ids = np.array([[1, 1, 2], [1, 3, 2]], np.uint32)
    values, starts, ends = column_runs(ids)  # column-major: 1 1 1 3 2 2
    assert values.tolist() == [1, 3, 2] and starts.tolist() == [0, 3, 4] and ends.tolist() == [3, 4, 6]


@pytest.mark.parametrize("width", [37, 70_000])  # 70,000 columns: past the 16-bit sort keys
def test_column_runs_equal_the_runs_of_the_column_major_pixels(width):
    rng = np.random.default_rng(width)
    ids = np.repeat(rng.integers(0, 4, (3, width // 5 + 1)), 5, axis=1)[:, :width].astype(np.uint32)
    pixels = ids.T.ravel()  # column-major, the plain way
    starts = np.flatnonzero(np.append(True, pixels[1:] != pixels[:-1]))
    values, got_starts, ends = column_runs(ids)
    assert got_starts.tolist() == starts.tolist() and values.tolist() == pixels[starts].tolist()
    assert ends.tolist() == np.append(starts[1:], pixels.size).tolist()


def test_a_cold_evaluation_on_threads_equals_the_reference(tmp_path, monkeypatch):
    gt_json, gt_dir = write_dataset_with_empty_image(tmp_path, integer_ids=False)
    predictions = perfect()
    monkeypatch.setenv("RAYON_NUM_THREADS", "2")  # the builder's threads follow hotcoco's pool
    cold = instances.evaluate_instances(gt_json, gt_dir, predictions, cache_dir=tmp_path / "cache")
    assert cold == instances.evaluate_instances(gt_json, gt_dir, predictions, engine="pycocotools")
    assert instances.coco_ground_truth(gt_json, gt_dir, cached=True, cache_dir=tmp_path / "cache") == \
        instances.coco_ground_truth(gt_json, gt_dir)
