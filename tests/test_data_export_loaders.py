"""What detectron2 and mmdetection read from `panbench data export`, checked on converted Cityscapes.

Neither framework is a dependency, so their reading rules are transcribed here from their sources
(detectron2 `detectron2/data/datasets/coco_panoptic.py`, `coco.py` and
`detectron2/evaluation/panoptic_evaluation.py`; mmdetection 3.x `mmdet/datasets/api_wrappers/coco_api.py`,
`mmdet/datasets/coco_panoptic.py`, `mmdet/datasets/coco.py` and
`mmdet/evaluation/metrics/coco_panoptic_metric.py`), and the parts they take from pycocotools are
run through pycocotools itself. Then the prediction files each framework's evaluator writes are
scored by `panbench evaluate panoptic`: perfect predictions in either format give PQ = 100."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from cityscapes_fixtures import write_cityscapes_tree
from pycocotools.coco import COCO

from harness.cli import main as panbench
from harness.data.cityscapes import convert_cityscapes
from harness.data.export import export_dataset
from harness.errors import DatasetError

# The README's mmdetection config: thing classes, then stuff, by name
THINGS = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
STUFF = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
         "terrain", "sky")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Cityscapes converted by panbench, then exported: (dataset root, panoptic.json, things-first JSON,
    instances JSON)."""
    tmp = tmp_path_factory.mktemp("export")
    root = convert_cityscapes(write_cityscapes_tree(tmp / "cs"), tmp / "cityscapes_val", workers=1, progress=False)
    export_dataset(root, workers=1, progress=False)
    read = lambda name: json.loads((root / name).read_text())  # noqa: E731
    return root, read("panoptic.json"), read("panoptic_things_first.json"), read("instances.json")


def quiet(make):
    with contextlib.redirect_stdout(io.StringIO()):
        return make()


# --- detectron2 ----------------------------------------------------------------------------------
def test_detectron2_panoptic_json_ids_pass_int(exported):
    """`load_coco_panoptic_json`: `image_id = int(ann["image_id"])`, label = gt_dir/ann["file_name"]."""
    root, original, things_first, instances = exported
    assert [type(a["image_id"]) for a in original["annotations"]] == [str] * 3  # Cityscapes' frame names
    ids = [int(a["image_id"]) for a in things_first["annotations"]]
    assert ids == [a["image_id"] for a in things_first["annotations"]] == [1, 2, 3]
    assert all((root / "panoptic" / a["file_name"]).is_file() for a in things_first["annotations"])
    # the map back to Cityscapes' names: each exported image keeps its id, its file name is unchanged
    assert [(i["id"], i["original_id"], i["file_name"]) for i in things_first["images"]] == [
        (k, o["id"], o["file_name"]) for k, o in enumerate(original["images"], 1)]
    assert [a["original_id"] for a in things_first["annotations"]] == [a["image_id"] for a in original["annotations"]]


def test_detectron2_separated_registration_reads_matching_files(exported):
    """`register_coco_panoptic_separated`: `load_coco_json(instances)` + `load_sem_seg(semantic, images)`
    merged on the image path; the evaluator then matches the panoptic JSON's ids with the instances'."""
    root, _, things_first, instances = exported
    coco = quiet(lambda: COCO(str(root / "instances.json")))  # load_coco_json's reader
    cat_ids = sorted(coco.getCatIds())
    id_map = {v: i for i, v in enumerate(cat_ids)}  # thing_dataset_id_to_contiguous_id
    assert [c["name"] for c in coco.loadCats(cat_ids)] == list(THINGS)  # sorted by id: the README's thing order
    img_ids = sorted(coco.imgs.keys())  # load_coco_json sorts the ids: they must be comparable
    assert img_ids == [1, 2, 3]
    ann_ids = [a["id"] for i in img_ids for a in coco.imgToAnns[i]]
    assert len(set(ann_ids)) == len(ann_ids) == len(coco.anns) > 0  # unique, all matched to an image
    assert all(a["category_id"] in id_map and isinstance(a["segmentation"]["counts"], str)
               for a in coco.anns.values())  # compressed RLE: cfg.INPUT.MASK_FORMAT = "bitmask"
    detection_files = [os.path.join(root / "images", coco.imgs[i]["file_name"]) for i in img_ids]

    # load_sem_seg(gt_root, image_root, gt_ext="png", image_ext="png"): pairs by path without extension
    def file2id(folder, path):
        return os.path.splitext(os.path.normpath(os.path.relpath(path, start=folder)))[0]

    images = sorted((os.path.join(root / "images", f) for f in os.listdir(root / "images") if f.endswith("png")),
                    key=lambda p: file2id(root / "images", p))
    gts = sorted((os.path.join(root / "semantic", f) for f in os.listdir(root / "semantic") if f.endswith("png")),
                 key=lambda p: file2id(root / "semantic", p))
    assert len(images) == len(gts)  # else detectron2 falls back to the stems' intersection
    assert [file2id(root / "images", p) for p in images] == [file2id(root / "semantic", p) for p in gts]
    sem_seg_by_file = dict(zip(images, gts))
    assert all(f in sem_seg_by_file for f in detection_files)  # merge_to_panoptic's lookup by file_name
    # COCOPanopticEvaluator: predictions carry the dataset dict's image_id (from instances.json); pq_compute
    # needs every ground-truth annotation of panoptic_json (the things-first JSON) to find its prediction
    assert {a["image_id"] for a in things_first["annotations"]} == set(img_ids)


# --- mmdetection 3.x -----------------------------------------------------------------------------
def test_mmdetection_derives_each_label_from_its_image(exported):
    """`COCOPanoptic.createIndex`: segm_file = image file_name.replace('jpg', 'png');
    `parse_data_info`: seg_map_path = seg_prefix / that name; annotations are found by image_id."""
    root, _, things_first, _ = exported
    annotation_of = {a["image_id"]: a for a in things_first["annotations"]}
    for image in things_first["images"]:
        segm_file = image["file_name"].replace("jpg", "png")
        assert segm_file == annotation_of[image["id"]]["file_name"]
        assert (root / "panoptic" / segm_file).is_file() and (root / "images" / image["file_name"]).is_file()


def test_mmdetection_numbers_things_first(exported):
    """`CocoDataset.load_data_list`: cat_ids = getCatIds(cat_names=metainfo classes) in the JSON's
    order, cat2label = position; PanopticFPN takes labels < num_things_classes as things."""
    _, _, things_first, _ = exported
    coco = COCO()
    coco.dataset = {"images": [], "annotations": [], "categories": things_first["categories"]}
    quiet(coco.createIndex)
    cat_ids = coco.getCatIds(catNms=list(THINGS + STUFF))
    cat2label = {cat_id: i for i, cat_id in enumerate(cat_ids)}
    isthing = {c["id"]: c["isthing"] for c in things_first["categories"]}
    assert len(cat2label) == 19
    assert [isthing[c] for c, _ in sorted(cat2label.items(), key=lambda kv: kv[1])] == [1] * 8 + [0] * 11
    names = {c["id"]: c["name"] for c in things_first["categories"]}
    assert [names[c] for c in cat_ids] == list(THINGS + STUFF)  # the README's classes tuple, in order


# --- scoring each framework's written predictions ------------------------------------------------
def _perfect_predictions(root, things_first, instances):
    """Each image's ground-truth segments as a prediction, keyed by the instances JSON's image ids."""
    id_of_image = {i["file_name"]: i["id"] for i in instances["images"]}
    for image, ann in zip(things_first["images"], things_first["annotations"]):
        segments = [{"id": s["id"], "category_id": s["category_id"]} for s in ann["segments_info"]]
        yield id_of_image[image["file_name"]], image["file_name"], ann["file_name"], segments


def _score(root, pred_json, pred_dir, tmp_path):
    out = tmp_path / "pq.json"
    assert panbench(["evaluate", "panoptic", "--gt-json", str(root / "panoptic_things_first.json"),
                     "--gt-dir", str(root / "panoptic"), "--pred-json", str(pred_json), "--pred-dir", str(pred_dir),
                     "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_detectron2_evaluator_output_is_scored(exported, tmp_path):
    """COCOPanopticEvaluator writes OUTPUT/predictions.json = the ground-truth JSON with `annotations`
    replaced ({image_id, file_name = image stem + '.png', segments_info}); the README's subclass keeps
    the PNGs in OUTPUT/panoptic/."""
    root, _, things_first, instances = exported
    out = tmp_path / "d2"
    (out / "panoptic").mkdir(parents=True)
    predictions = []
    for image_id, image_file, label_file, segments in _perfect_predictions(root, things_first, instances):
        png = os.path.splitext(os.path.basename(image_file))[0] + ".png"
        shutil.copy(root / "panoptic" / label_file, out / "panoptic" / png)
        predictions.append({"image_id": image_id, "file_name": png, "segments_info": segments})
    (out / "predictions.json").write_text(json.dumps({**things_first, "annotations": predictions}))
    result = _score(root, out / "predictions.json", out / "panoptic", tmp_path)
    assert (result["pq"], result["n"]) == (pytest.approx(100.0, abs=1e-9), 5)  # person, car, road, building, sky: exact


def test_mmdetection_metric_output_is_scored(exported, tmp_path):
    """CocoPanopticMetric(outfile_prefix=P) writes P.panoptic.json ({annotations: [{image_id,
    segments_info: [{id, category_id, area, isthing}], file_name}]}) and the PNGs in P.panoptic/, named
    basename(img_path).replace('jpg', 'png')."""
    root, _, things_first, instances = exported
    prefix = tmp_path / "mm" / "results"
    (tmp_path / "mm" / "results.panoptic").mkdir(parents=True)
    annotations = []
    for image_id, image_file, label_file, segments in _perfect_predictions(root, things_first, instances):
        png = os.path.basename(image_file).replace("jpg", "png")
        shutil.copy(root / "panoptic" / label_file, Path(f"{prefix}.panoptic") / png)
        annotations.append({"image_id": image_id, "file_name": png,
                            "segments_info": [{**s, "area": 1, "isthing": 1} for s in segments]})
    Path(f"{prefix}.panoptic.json").write_text(json.dumps({"annotations": annotations}))
    result = _score(root, Path(f"{prefix}.panoptic.json"), Path(f"{prefix}.panoptic"), tmp_path)
    assert (result["pq"], result["n"]) == (pytest.approx(100.0, abs=1e-9), 5)


def test_a_label_not_named_like_its_image_is_refused(tmp_path):
    root = convert_cityscapes(write_cityscapes_tree(tmp_path / "cs"), tmp_path / "val", workers=1, progress=False)
    data = json.loads((root / "panoptic.json").read_text())
    first = data["annotations"][0]
    old = first["file_name"]
    first["file_name"] = old.replace("_leftImg8bit.png", "_gtFine_panoptic.png")  # an older conversion's name
    (root / "panoptic" / old).rename(root / "panoptic" / first["file_name"])
    (root / "panoptic.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"panoptic\.json: image 'aachen_000000_000019': label "
                                           r"'aachen_000000_000019_gtFine_panoptic\.png' is not named like its image"):
        export_dataset(root, workers=1, progress=False)
    assert not (root / "instances.json").exists() and not (root / "semantic").exists()
