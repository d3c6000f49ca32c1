"""hotcoco's COCOeval behind panbench's instance-evaluation API against pycocotools (the reference):
the 12 stats and the precision table for segm and bbox; every test of test_metrics_instances.py
(which runs the default engine, hotcoco) run again with `engine="pycocotools"`, the reference;
exact equality with crowd, an image without things, integer and string image ids; the same errors;
the ground truth's RLE from the cache after the first call, per image."""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest
import test_metrics_instances as instance_tests
from rerun_tests import module_tests
from test_metrics_instances import H, SCENES, W, noisy_predictions, perfect, rect_mask, write_dataset

from harness.atomic import write_json, write_png
from harness.data.categories import categories_json
from harness.data.dataset import write_panoptic_json, write_sample
from harness.data.panoptic_format import id2rgb
from harness.errors import DatasetError
from harness.metrics import instances
from harness.metrics.engines import coco_eval, gt_cache
from harness.metrics.instances import instances_to_predictions


def write_dataset_with_empty_image(root, integer_ids: bool):
    """SCENES plus an image of road only (no thing at all), image ids integers or strings."""
    images, annotations = [], []
    for k, (name, things) in enumerate([*SCENES.items(), ("empty_000000_000019", [])]):
        ids = np.full((H, W), 7000, np.uint32)
        category_of, iscrowd_of = {7000: 7}, {}
        for sid, cat, crowd, (y0, y1, x0, x1) in things:
            ids[y0:y1, x0:x1] = sid
            category_of[sid], iscrowd_of[sid] = cat, crowd
        entry, ann = write_sample(root, name, np.zeros((H, W, 3), np.uint8), ids, category_of, iscrowd_of,
                                  image_id=100 + k if integer_ids else name)
        images.append(entry)
        annotations.append(ann)
    write_panoptic_json(root, images, annotations, categories_json())
    return root / "panoptic.json", root / "panoptic"


def with_image_ids(predictions: list[dict], gt_json) -> list[dict]:
    """The predictions with the image ids of `gt_json` (file-name order), plus two false positives on
    the image without things."""
    ids = {a["file_name"].removesuffix(".png"): a["image_id"] for a in json.loads(gt_json.read_text())["annotations"]}
    out = [{**p, "image_id": ids[p["image_id"]]} for p in predictions]
    for score, (y0, x0) in ((0.8, (3, 4)), (0.2, (20, 30))):
        out += instances_to_predictions(ids["empty_000000_000019"], np.array([[x0, y0, x0 + 9, y0 + 7]]), [score],
                                        [26], rect_mask(y0, y0 + 7, x0, x0 + 9)[None])
    return json.loads(json.dumps(out))


def both(fn_name: str, *args, cache_dir, **kwargs):
    """(the reference's result: pycocotools, ground truth converted afresh; hotcoco's through the cache)."""
    ref = getattr(instances, fn_name)(*args, **kwargs, engine="pycocotools", cache_dir=cache_dir)
    return ref, getattr(instances, fn_name)(*args, **kwargs, engine="hotcoco", cache_dir=cache_dir)


@pytest.mark.parametrize("kind", ["segm", "bbox"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_twelve_stats_and_precision_identical_to_pycocotools(tmp_path, seed, kind):
    gt_json, gt_dir = write_dataset_with_empty_image(tmp_path, integer_ids=False)
    predictions = with_image_ids(noisy_predictions(seed), gt_json)
    dataset, id_map = instances.coco_ground_truth(gt_json, gt_dir)
    out = {}
    for engine in ("pycocotools", "hotcoco"):
        coco_gt = coco_eval.engine_parts(engine)[0](json.loads(json.dumps(dataset)))
        out[engine] = coco_eval.coco_stats(coco_gt, instances.coco_results(predictions, coco_gt, id_map, kind, "p"),
                                           kind, engine)
    (ref_stats, ref_precision, ref_cats), (stats, precision, cats) = out["pycocotools"], out["hotcoco"]
    assert stats.shape == (12,) and np.array_equal(stats, ref_stats)
    assert np.array_equal(precision, ref_precision) and cats == ref_cats
    assert 0 < stats[0] < 1 and (stats[6:9] > 0).all()  # AP and AR@1,10,100 measured something (no large objects)


@pytest.mark.parametrize("integer_ids", [False, True], ids=["string-ids", "integer-ids"])
@pytest.mark.parametrize("seed", [0, 1])
def test_evaluate_instances_identical_with_crowd_and_an_image_without_things(tmp_path, seed, integer_ids):
    gt_json, gt_dir = write_dataset_with_empty_image(tmp_path, integer_ids)
    predictions = with_image_ids(noisy_predictions(seed), gt_json)
    ref, ours = both("evaluate_instances", gt_json, gt_dir, predictions, cache_dir=tmp_path / "cache")
    assert ours == ref
    boxes_only = [{k: v for k, v in p.items() if k != "segmentation"} for p in predictions]
    ref, ours = both("evaluate_instances", gt_json, gt_dir, boxes_only, cache_dir=tmp_path / "cache")
    assert ours == ref and ours["ap"] is None


INSTANCE_TESTS, INSTANCE_IDS = module_tests(instance_tests)


@pytest.mark.parametrize("name, kwargs", INSTANCE_TESTS, ids=INSTANCE_IDS)
def test_every_instance_test_passes_with_the_reference(tmp_path, monkeypatch, name, kwargs):
    """The module's own assertions (against pycocotools called directly) with the reference engine:
    hotcoco is never reached and the ground-truth cache never read."""
    never = mock.Mock(side_effect=AssertionError("hotcoco was used"))
    monkeypatch.setattr(coco_eval, "ENGINES", {**coco_eval.ENGINES, "hotcoco": (never, never)})
    monkeypatch.setattr(instances, "PngRecords", lambda *a, enabled=True, **kw: _no_cache(enabled))
    for function in ("evaluate_instances", "det_ap"):
        reference = getattr(instances, function)
        monkeypatch.setattr(instance_tests, function, lambda *a, reference=reference, **kw: reference(
            *a, **kw, engine="pycocotools"))
    getattr(instance_tests, name)(tmp_path=tmp_path / "case", **kwargs)


def _no_cache(enabled: bool):
    assert not enabled, "the reference read the ground-truth cache"
    return gt_cache.PngRecords("coco-instances", ".", enabled=False)


def test_no_prediction_and_det_ap_identical(tmp_path):
    gt_json, gt_dir = write_dataset_with_empty_image(tmp_path, integer_ids=False)
    ref, ours = both("evaluate_instances", gt_json, gt_dir, [], cache_dir=tmp_path / "cache")
    assert ours == ref and ours["ap"] == 0.0
    detections = [{k: v for k, v in p.items() if k != "segmentation"} for p in with_image_ids(perfect(), gt_json)]
    for dets in (detections, detections[::2], []):
        ref, ours = both("det_ap", gt_json, gt_dir, dets, cache_dir=tmp_path / "cache")
        assert ours == ref


@pytest.mark.parametrize("bad", ["unknown-image", "stuff-category", "some-without-segmentation"])
def test_same_errors(tmp_path, bad):
    gt_json, gt_dir = write_dataset(tmp_path)
    preds = perfect()
    if bad == "unknown-image":
        preds[0]["image_id"] = "nowhere"
    elif bad == "stuff-category":
        preds[1]["category_id"] = 7
    else:
        del preds[2]["segmentation"]
    with pytest.raises(DatasetError) as expected:
        instances.evaluate_instances(gt_json, gt_dir, preds, source="preds.json", engine="pycocotools")
    with pytest.raises(DatasetError) as raised:
        instances.evaluate_instances(gt_json, gt_dir, preds, source="preds.json", cache_dir=tmp_path / "cache")
    assert str(raised.value) == str(expected.value)
    with pytest.raises(ValueError, match="unknown COCOeval engine 'fast'"):
        instances.evaluate_instances(gt_json, gt_dir, perfect(), engine="fast", cache_dir=tmp_path / "cache")


def test_ground_truth_rle_is_built_once_and_rebuilt_when_a_png_changes(tmp_path, monkeypatch):
    gt_json, gt_dir = write_dataset_with_empty_image(tmp_path, integer_ids=True)
    cache = tmp_path / "cache"
    predictions = with_image_ids(perfect(), gt_json)
    first = instances.evaluate_instances(gt_json, gt_dir, predictions, cache_dir=cache)
    assert first["ap"] == 100.0 and len(list((cache / "ground_truth").glob("coco-instances-*.json"))) == 1

    def no_rebuild(*args):
        raise AssertionError("the ground truth was converted again")
    monkeypatch.setattr(instances, "image_instances", no_rebuild)
    assert instances.evaluate_instances(gt_json, gt_dir, predictions, cache_dir=cache) == first  # integer ids kept
    monkeypatch.undo()
    # in the first image one car moves: its PNG changes (the JSON does not), the cache is rebuilt
    name = json.loads(gt_json.read_text())["annotations"][0]["file_name"]
    ids = np.full((H, W), 7000, np.uint32)
    ids[2:12, 22:38], ids[20:35, 30:55], ids[5:18, 40:46], ids[30:38, 2:20] = 26001, 26002, 24001, 26003
    write_png(gt_dir / name, id2rgb(ids))
    rebuilt, real_instances = [], instances.image_instances
    monkeypatch.setattr(instances, "image_instances", lambda *a: rebuilt.append(a[0].name) or real_instances(*a))
    again = instances.evaluate_instances(gt_json, gt_dir, predictions, cache_dir=cache)
    assert rebuilt == [name]  # the other images' records were reused
    assert again == instances.evaluate_instances(gt_json, gt_dir, predictions, engine="pycocotools")
    assert again["ap"] < 100.0


def test_a_json_of_some_images_reuses_the_records_of_the_whole_dataset(tmp_path, monkeypatch):
    """As training's gt_subset.json (data.val_max) in each evaluation's own folder: no image is
    converted again, and the numbers are the reference's on that subset."""
    gt_json, gt_dir = write_dataset_with_empty_image(tmp_path, integer_ids=False)
    cache = tmp_path / "cache"
    predictions = with_image_ids(noisy_predictions(1), gt_json)
    instances.evaluate_instances(gt_json, gt_dir, predictions, cache_dir=cache)
    data = json.loads(gt_json.read_text())
    kept = data["annotations"][:2]
    subset_json = tmp_path / "step_0000010" / "gt_subset.json"
    write_json(subset_json, {**data, "annotations": kept,
                             "images": [im for im in data["images"] if im["id"] in {a["image_id"] for a in kept}]})
    subset_predictions = [p for p in predictions if p["image_id"] in {a["image_id"] for a in kept}]
    monkeypatch.setattr(instances, "image_instances", mock.Mock(side_effect=AssertionError("converted again")))
    ours = instances.evaluate_instances(subset_json, gt_dir, subset_predictions, cache_dir=cache)
    monkeypatch.undo()
    assert ours == instances.evaluate_instances(subset_json, gt_dir, subset_predictions, engine="pycocotools")
    assert ours["ap"] is not None and len(list((cache / "ground_truth").glob("coco-instances-*.json"))) == 1


def test_a_damaged_cache_is_rebuilt_not_trusted(tmp_path):
    gt_json, gt_dir = write_dataset_with_empty_image(tmp_path, integer_ids=True)
    cache = tmp_path / "cache"
    predictions = with_image_ids(perfect(), gt_json)
    first = instances.evaluate_instances(gt_json, gt_dir, predictions, cache_dir=cache)
    (path,) = (cache / "ground_truth").glob("coco-instances-*.json")
    entry = json.loads(path.read_text())
    name = next(iter(entry["records"]))
    entry["records"][name]["value"] = {"height": "tall", "instances": None}
    write_json(path, entry)
    assert instances.evaluate_instances(gt_json, gt_dir, predictions, cache_dir=cache) == first
    path.write_text("{not json")
    assert instances.evaluate_instances(gt_json, gt_dir, predictions, cache_dir=cache) == first


def test_builders_return_their_values_as_json_gives_them_back(tmp_path):
    """The cache stores a built value without a JSON round trip: each builder's value must already be
    what JSON gives back (the same repr: lists not tuples, floats stay floats, no numpy scalars)."""
    from harness.metrics.engines.hotcoco_pq import png_segment_ids

    gt_json, gt_dir = write_dataset_with_empty_image(tmp_path, integer_ids=True)
    data = json.loads(gt_json.read_text())
    things = {c["id"] for c in data["categories"] if c.get("isthing")}
    for ann in data["annotations"]:
        png = gt_dir / ann["file_name"]
        for value in (instances.image_instances(png, ann["segments_info"], things), png_segment_ids(png)):
            assert repr(json.loads(json.dumps(value))) == repr(value)
