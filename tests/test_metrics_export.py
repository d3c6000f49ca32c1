"""prediction_to_coco against the evaluators: a prediction built from the ground truth itself must
score PQ = 100 (harness.metrics.panoptic, equal to panopticapi) and AP = 100 (pycocotools)."""

import numpy as np
import torch

from harness.atomic import encode_png, write_bytes
from harness.data.categories import categories_json
from harness.data.dataset import write_panoptic_json, write_sample
from harness.data.panoptic_format import id2rgb, make_segments_info
from harness.data.synth import make_scene
from harness.data.validate import load_valid
from harness.metrics.export import prediction_to_coco
from harness.metrics.instances import evaluate_instances
from harness.metrics.panoptic import pq_compute
from harness.models.targets import panoptic_to_targets

CATS = categories_json()


def perfect_prediction(ids: np.ndarray, segments: list[dict]) -> dict:
    """The eval-mode output a flawless model would give, in the model's id scheme."""
    category = {s["id"]: s["category_id"] for s in segments}
    thing = {c["id"] for c in CATS if c["isthing"]}
    things = [s for s in segments if s["category_id"] in thing and not s["iscrowd"]]
    new_id = {s["id"]: s["category_id"] * 1000 for s in segments if s["category_id"] not in thing}
    new_id.update({s["id"]: s["category_id"] * 1000 + k for k, s in enumerate(things, 1)})
    panoptic = np.zeros_like(ids, dtype=np.int64)
    for old, new in new_id.items():
        panoptic[ids == old] = new
    targets = panoptic_to_targets(ids, segments, CATS)
    return {"panoptic": torch.from_numpy(panoptic),
            "segments_info": [{"id": new, "category_id": category[old], "isthing": new % 1000 > 0, "score": 1.0}
                              for old, new in new_id.items()],
            "semantic": targets["semantic"],
            "instances": {"boxes": targets["boxes"], "scores": torch.ones(len(things)),
                          "category_ids": torch.tensor([s["category_id"] for s in things]),
                          "masks": targets["masks"].bool()}}


def test_ground_truth_as_prediction_scores_100(tmp_path):
    rng = np.random.default_rng(3)
    gt_images, gt_anns, pred_anns, results = [], [], [], []
    for i in range(2):
        image, ids, category_of, iscrowd_of = make_scene(rng, 64, 128)
        entry, ann = write_sample(tmp_path / "gt", f"s{i}", image, ids, category_of, iscrowd_of, image_id=i)
        gt_images.append(entry)
        gt_anns.append(ann)
        png_ids, annotation, instances = prediction_to_coco(
            perfect_prediction(ids, make_segments_info(ids, category_of, iscrowd_of)), i, entry["file_name"])
        write_bytes(tmp_path / "pred" / "panoptic" / annotation["file_name"], encode_png(id2rgb(png_ids)))
        pred_anns.append(annotation)
        results.extend(instances)
    write_panoptic_json(tmp_path / "gt", gt_images, gt_anns, CATS)
    write_panoptic_json(tmp_path / "pred", gt_images, pred_anns, CATS)
    load_valid(tmp_path / "gt")
    pq = pq_compute(tmp_path / "gt" / "panoptic.json", tmp_path / "gt" / "panoptic",
                    tmp_path / "pred" / "panoptic.json", tmp_path / "pred" / "panoptic", workers=1)
    assert pq["pq"] == 100.0 and pq["sq"] == 100.0 and pq["rq"] == 100.0
    assert results, "the synthetic scenes have things"
    ap = evaluate_instances(tmp_path / "gt" / "panoptic.json", tmp_path / "gt" / "panoptic", results)
    assert ap["ap"] == 100.0 and ap["ap_box"] == 100.0


def test_empty_prediction_exports_empty():
    pred = {"panoptic": torch.zeros(4, 6, dtype=torch.long), "segments_info": [], "semantic": torch.zeros(4, 6),
            "instances": {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "category_ids": torch.zeros(0),
                          "masks": torch.zeros(0, 4, 6, dtype=torch.bool)}}
    ids, annotation, instances = prediction_to_coco(pred, "a", "a.jpg")
    assert ids.dtype == np.uint32 and (ids == 0).all()
    assert annotation == {"image_id": "a", "file_name": "a.png", "segments_info": []} and instances == []
