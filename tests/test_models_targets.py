"""panoptic_to_targets against a hand-made 6x8 panoptic map whose boxes, labels and semantic map
are computed by hand below."""

import numpy as np
import pytest
import torch

from harness.data.categories import categories_json
from harness.errors import DatasetError
from harness.models.targets import panoptic_to_targets

CATS = categories_json()  # train ids: road 0, sky 10, person 11, car 13


def hand_map():
    ids = np.zeros((6, 8), np.uint32)
    ids[:2] = 23000  # sky
    ids[4:] = 7000  # road
    ids[2:4, 1:3] = 26001  # car: rows 2-3, cols 1-2
    ids[1:5, 5] = 24001  # person: rows 1-4, col 5
    ids[2:4, 6:8] = 26002  # a crowd of cars
    segments = [{"id": 23000, "category_id": 23}, {"id": 7000, "category_id": 7},
                {"id": 24001, "category_id": 24}, {"id": 26001, "category_id": 26},
                {"id": 26002, "category_id": 26, "iscrowd": 1}]
    return ids, segments


def test_targets_equal_hand_computed_boxes_labels_semantic():
    ids, segments = hand_map()
    t = panoptic_to_targets(ids, segments, CATS)
    # instances in segments_info order: person, then car; the crowd is no instance
    assert t["boxes"].tolist() == [[5, 1, 6, 5], [1, 2, 3, 4]]  # xyxy, pixel edges
    assert t["labels"].tolist() == [1, 3]  # things in order: person 1, rider 2, car 3, ...
    assert t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.int64
    assert t["masks"].dtype == torch.uint8 and t["masks"].shape == (2, 6, 8)
    assert t["masks"][0].sum() == 4 and t["masks"][1].sum() == 4
    expected = np.full((6, 8), 255)
    expected[:2], expected[4:] = 10, 0
    expected[2:4, 1:3] = 13
    expected[1:5, 5] = 11
    expected[2:4, 6:8] = 13  # crowd keeps its class in the semantic map (Cityscapes labelTrainIds)
    assert t["semantic"].tolist() == expected.tolist()
    # panoptic target: stuff index (road 0, ..., sky 10), instances 11 + i, void and crowd 255
    pan = np.full((6, 8), 255)
    pan[:2], pan[4:] = 10, 0
    pan[1:5, 5] = 11
    pan[2:4, 1:3] = 12
    assert t["panoptic_target"].tolist() == pan.tolist()


def test_image_without_things_gives_empty_boxes():
    ids = np.full((4, 5), 7000, np.uint32)
    t = panoptic_to_targets(ids, [{"id": 7000, "category_id": 7}], CATS)
    assert t["boxes"].shape == (0, 4) and t["labels"].shape == (0,) and t["masks"].shape == (0, 4, 5)
    assert (t["semantic"] == 0).all()


def test_segment_missing_from_segments_info_is_an_error():
    ids, segments = hand_map()
    with pytest.raises(DatasetError, match=r"panoptic/x.png: segment ids \[24001\]"):
        panoptic_to_targets(ids, [s for s in segments if s["id"] != 24001], CATS, source="panoptic/x.png")


def test_unknown_category_is_an_error():
    ids, segments = hand_map()
    segments[0] = {"id": 23000, "category_id": 99}
    with pytest.raises(DatasetError, match="segment 23000 has category 99"):
        panoptic_to_targets(ids, segments, CATS)


def test_training_semantic_target_is_the_evaluated_ground_truth():
    """The semantic map a model learns equals the one `evaluate semantic` and the run evaluation score
    it against (harness.data.panoptic_format.semantic_map with the dataset's train ids), crowd
    and void included, on procedural street scenes."""
    from harness.data.categories import train_ids
    from harness.data.synth import make_scene
    from harness.data.panoptic_format import semantic_map

    rng = np.random.default_rng(0)
    for _ in range(3):
        _, ids, category_of, iscrowd_of = make_scene(rng, 64, 128)
        segments = [{"id": i, "category_id": c, "iscrowd": iscrowd_of.get(i, 0)} for i, c in category_of.items()]
        learned = panoptic_to_targets(ids, segments, CATS)["semantic"].numpy()
        evaluated = semantic_map(ids, segments, train_ids(CATS), unknown_category="fill")
        np.testing.assert_array_equal(learned, evaluated)
