"""hotcoco's PQ behind panbench's API against both references, panbench's `pq_compute_reference` and
cityscapesscripts (the panopticapi algorithm): every test of test_metrics_panoptic.py (which runs
`pq_compute`, the hotcoco engine by default) run again with the engine alone (no fallback allowed)
and with the reference alone, more hard cases (24-bit ids, empty images, two crowd regions of one
category, integer ids), and every bad input (panbench's error, word for word)."""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest
import test_metrics_panoptic as panoptic_tests
from rerun_tests import module_tests
from references.pq_pairs import write_pq_pair
from references.reference_pq import reference_pq
from test_metrics_panoptic import CAR, PERSON, ROAD, SKY, _assert_equal_to_reference, _broken, write_case

from harness.atomic import write_json, write_png
from harness.data.panoptic_format import id2rgb
from harness.errors import DatasetError
from harness.metrics.engines import hotcoco_pq
from harness.metrics import panoptic
from harness.metrics.panoptic import pq_compute, pq_compute_reference

BIG = (1 << 24) - 1
CASES = {  # name: (gt, gt segments, pred, pred segments, image id), as write_case takes them
    "two-crowds-of-one-category": ([[3, 3, 3, 9, 9, 9, 1]], {3: (CAR, 1), 9: (CAR, 1), 1: ROAD},
                                   [[5, 5, 5, 6, 6, 6, 4]], {5: CAR, 6: CAR, 4: ROAD}, "a"),
    "24-bit-ids-integer-image-id": ([[BIG, BIG, 2, 2]], {BIG: ROAD, 2: CAR}, [[BIG - 1, BIG - 1, 1 << 23, 1 << 23]],
                                    {BIG - 1: ROAD, 1 << 23: CAR}, 7),
    "empty-image": ([[0, 0, 0]], {}, [[0, 0, 0]], {}, "empty"),
    "empty-prediction": ([[1, 1, 2]], {1: ROAD, 2: CAR}, [[0, 0, 0]], {}, "b"),
    "crowd-and-more-than-half-on-void": ([[1, 1, 3, 3, 3, 0, 0, 0]], {1: ROAD, 3: (PERSON, 1)},
                                         [[4, 4, 5, 5, 6, 6, 6, 7]], {4: ROAD, 5: PERSON, 6: CAR, 7: SKY}, "c"),
}


def assert_same_result(ours: dict, ref: dict) -> None:
    """Same keys, same counts and n, None where the reference has None, floats to 1e-9."""
    assert ours.keys() == ref.keys() and ours["per_class"].keys() == ref["per_class"].keys()
    for key, value in ref.items():
        if key == "per_class":
            for cat, row in value.items():
                assert {k: row[k] for k in ("tp", "fp", "fn")} == {k: ours[key][cat][k] for k in ("tp", "fp", "fn")}
                assert [ours[key][cat][k] for k in ("pq", "sq", "rq")] == pytest.approx(
                    [row[k] for k in ("pq", "sq", "rq")], abs=1e-9)
        elif value is None or isinstance(value, int):
            assert ours[key] == value, key
        else:
            assert ours[key] == pytest.approx(value, abs=1e-9), key


def engine_only(paths: dict, cache_dir) -> dict:
    """hotcoco's result, failing if the input was handed to panbench's evaluator instead."""
    with mock.patch.object(hotcoco_pq.reference, "pq_compute_reference",
                           side_effect=AssertionError("hotcoco was not used")):
        return hotcoco_pq.pq_compute(**paths, cache_dir=cache_dir)


PANOPTIC_TESTS, PANOPTIC_IDS = module_tests(panoptic_tests)


@pytest.mark.parametrize("name, kwargs", PANOPTIC_TESTS, ids=PANOPTIC_IDS)
def test_every_panoptic_test_passes_with_the_engine(tmp_path, monkeypatch, name, kwargs):
    """The test's own assertions (hand-computed counts, cityscapesscripts, errors) with hotcoco as
    `pq_compute`; panbench's evaluator may only be reached for input it rejects."""
    real = hotcoco_pq.reference.pq_compute_reference

    def reference_must_reject(*args, **kw):
        result = real(*args, **kw)
        raise AssertionError(f"hotcoco or its checks rejected input panbench accepts: {result}")

    monkeypatch.setattr(hotcoco_pq.reference, "pq_compute_reference", reference_must_reject)
    monkeypatch.setattr(panoptic_tests, "pq_compute", lambda *a, workers=None, decode_threads=None, progress=None,
                        **kw: hotcoco_pq.pq_compute(*a, cache_dir=tmp_path / "cache", **kw))
    getattr(panoptic_tests, name)(tmp_path=tmp_path / "case", **kwargs)


@pytest.mark.parametrize("name, kwargs", PANOPTIC_TESTS, ids=PANOPTIC_IDS)
def test_every_panoptic_test_passes_with_the_reference(tmp_path, monkeypatch, name, kwargs):
    """The same assertions with panbench's own evaluator alone (`engine="panbench"`): hotcoco is
    never reached."""
    monkeypatch.setattr(hotcoco_pq, "PanopticEval", mock.Mock(side_effect=AssertionError("hotcoco was used")))
    monkeypatch.setattr(panoptic_tests, "pq_compute", lambda *a, **kw: panoptic.pq_compute(*a, engine="panbench", **kw))
    getattr(panoptic_tests, name)(tmp_path=tmp_path / "case", **kwargs)


def check_engine(paths: dict, cache_dir) -> dict:
    ours = engine_only(paths, cache_dir)
    assert_same_result(ours, pq_compute_reference(**paths, workers=1))
    ref = reference_pq(**paths)
    if "pq" in ref:  # cityscapesscripts divides by zero when a group is empty: counts only then
        _assert_equal_to_reference(ours, ref)
    for cat, counts in ref["counts"].items():
        assert tuple(ours["per_class"][cat][k] for k in ("tp", "fp", "fn")) == counts
    return ours


@pytest.mark.parametrize("case", list(CASES))
def test_equal_to_both_references_on_the_hard_cases(tmp_path, case):
    gt, gt_segments, pred, pred_segments, image_id = CASES[case]
    check_engine(write_case(tmp_path, gt, gt_segments, pred, pred_segments, image_id=image_id), tmp_path / "cache")


def _edit_gt(edit):
    def apply(paths, pred):
        gt = json.loads(paths["gt_json"].read_text())
        edit(gt)
        write_json(paths["gt_json"], gt)
    return apply


def _shrink(paths, pred):
    write_png(paths["pred_dir"] / pred["annotations"][0]["file_name"], np.zeros((10, 10, 3), np.uint8))
    pred["annotations"][0]["segments_info"] = []


BAD_INPUTS = {
    "missing-prediction-png": lambda p, pred: (p["pred_dir"] / pred["annotations"][1]["file_name"]).unlink(),
    "missing-ground-truth-png": lambda p, pred: (p["gt_dir"] / pred["annotations"][1]["file_name"]).unlink(),
    "prediction-id-in-png-not-in-json": lambda p, pred: pred["annotations"][0]["segments_info"].pop(),
    "prediction-id-in-json-not-in-png": lambda p, pred: pred["annotations"][0]["segments_info"].append(
        {"id": 123456, "category_id": ROAD}),
    "unknown-category": lambda p, pred: pred["annotations"][0]["segments_info"][0].update(category_id=999),
    "missing-image": lambda p, pred: pred["annotations"].pop(),
    "size-mismatch": _shrink,
    "duplicate-prediction-ids": lambda p, pred: pred["annotations"][1]["segments_info"].append(
        dict(pred["annotations"][1]["segments_info"][0])),
    "void-id-in-json": lambda p, pred: pred["annotations"][0]["segments_info"][0].update(id=0),
    "corrupt-png": lambda p, pred: (p["pred_dir"] / pred["annotations"][0]["file_name"]).write_bytes(b"not a png"),
    "grayscale-png": lambda p, pred: write_png(p["pred_dir"] / pred["annotations"][0]["file_name"],
                                               np.zeros((24, 32), np.uint8)),
    "ground-truth-id-in-png-not-in-json": _edit_gt(lambda gt: gt["annotations"][1]["segments_info"].pop()),
    "ground-truth-unknown-category": _edit_gt(lambda gt: gt["annotations"][0]["segments_info"][0].update(
        category_id=999)),
    "no-categories": _edit_gt(lambda gt: gt.pop("categories")),
}


@pytest.mark.parametrize("bad", list(BAD_INPUTS))
def test_bad_input_raises_panbenchs_error(tmp_path, bad):
    paths = _broken(tmp_path, BAD_INPUTS[bad])
    with pytest.raises(DatasetError) as expected:
        pq_compute_reference(**paths, workers=1)
    for engine in panoptic.PQ_ENGINES:
        with pytest.raises(DatasetError) as raised:
            panoptic.pq_compute(**paths, engine=engine, cache_dir=tmp_path / "cache")
        assert str(raised.value) == str(expected.value), engine


def test_ground_truth_png_ids_are_read_once_and_rebuilt_when_a_png_changes(tmp_path, monkeypatch):
    paths = write_pq_pair(tmp_path, n=3, height=24, width=32, seed=5)
    cache = tmp_path / "cache"
    first = hotcoco_pq.pq_compute(**paths, cache_dir=cache)
    assert len(list((cache / "ground_truth").glob("png-segment-ids-*.json"))) == 1

    def no_decoding(*args):
        raise AssertionError("the ground-truth PNGs were decoded again")
    monkeypatch.setattr(hotcoco_pq, "png_segment_ids", no_decoding)
    assert hotcoco_pq.pq_compute(**paths, cache_dir=cache) == first
    # a ground-truth PNG is rewritten with an id its JSON does not list: only the PNG's identity
    # changed, and the check fires
    gt = json.loads(paths["gt_json"].read_text())
    write_png(paths["gt_dir"] / gt["annotations"][0]["file_name"], id2rgb(np.full((24, 32), 999_999, np.uint32)))
    monkeypatch.undo()
    with pytest.raises(DatasetError, match=r"\[999999\] are in the PNG but not in"):
        hotcoco_pq.pq_compute(**paths, cache_dir=cache)


def _restricted(paths: dict, out, keep: int) -> dict:
    """The pair's two JSONs restricted to their first `keep` images, written in another folder (as
    training writes gt_subset.json for data.val_max); the PNG folders stay where they are."""
    out.mkdir()
    restricted = dict(paths)
    for key in ("gt_json", "pred_json"):
        data = json.loads(paths[key].read_text())
        kept = data["annotations"][:keep]
        ids = {a["image_id"] for a in kept}
        write_json(out / paths[key].name, {**data, "annotations": kept,
                                           "images": [im for im in data["images"] if im["id"] in ids]})
        restricted[key] = out / paths[key].name
    return restricted


def test_a_json_of_some_images_reuses_the_records_of_the_whole_dataset(tmp_path, monkeypatch):
    paths = write_pq_pair(tmp_path, n=4, height=24, width=32, seed=6)
    cache = tmp_path / "cache"
    hotcoco_pq.pq_compute(**paths, cache_dir=cache)
    subset = _restricted(paths, tmp_path / "subset", keep=2)
    monkeypatch.setattr(hotcoco_pq, "png_segment_ids", mock.Mock(side_effect=AssertionError("decoded again")))
    assert_same_result(engine_only(subset, cache), pq_compute_reference(**subset, workers=1))
    assert len(list((cache / "ground_truth").glob("png-segment-ids-*.json"))) == 1


def test_images_go_to_hotcoco_in_chunks_with_the_same_result(tmp_path, monkeypatch):
    paths = write_pq_pair(tmp_path, n=7, height=24, width=32, seed=3)
    chunks, real = [], hotcoco_pq.PanopticEval
    monkeypatch.setattr(hotcoco_pq, "IMAGES_PER_THREAD", 1)
    monkeypatch.setattr(hotcoco_pq, "usable_cpus", lambda: 3)
    monkeypatch.setattr(hotcoco_pq, "PanopticEval",
                        lambda gt, pred, **kw: chunks.append([im["id"] for im in gt["images"]]) or real(gt, pred, **kw))
    ours = engine_only(paths, tmp_path / "cache")
    assert chunks == [[1, 2, 3], [4, 5, 6], [7]]
    assert_same_result(ours, pq_compute_reference(**paths, workers=1))


def _evaluate_in_child(paths: dict, instance_case: tuple, queue) -> None:
    from harness.metrics.engines.rayon_pool import pool_usable
    from harness.metrics.instances import evaluate_instances

    gt_json, gt_dir, predictions = instance_case
    queue.put((pool_usable(), pq_compute(**paths)["pq"], evaluate_instances(gt_json, gt_dir, predictions)["ap"]))


def test_a_forked_child_of_a_process_that_ran_hotcoco_gets_the_references(tmp_path):
    """hotcoco's pool does not survive fork (its evaluation would wait forever): in a forked child
    the references run, with the same numbers."""
    import multiprocessing

    from test_metrics_instances import noisy_predictions, write_dataset

    from harness.metrics.instances import evaluate_instances

    paths = write_pq_pair(tmp_path / "pq", n=3, height=24, width=32, seed=2)
    gt_json, gt_dir = write_dataset(tmp_path / "instances")
    predictions = noisy_predictions(0)
    expected = (False, pq_compute(**paths)["pq"], evaluate_instances(gt_json, gt_dir, predictions)["ap"])
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_evaluate_in_child, args=(paths, (gt_json, gt_dir, predictions), queue))
    child.start()
    child.join(120)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung")
    assert queue.get(timeout=10) == expected
