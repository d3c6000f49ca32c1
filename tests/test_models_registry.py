"""timm-style checks of every registered model: the mini models run forward (train and eval),
backward, and a few optimiser steps on synthetic street scenes; their predictions export to a
COCO-panoptic dataset the validator accepts; the paper-scale models build."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from harness.atomic import encode_png, write_bytes
from references.reference_pq import reference_pq
from harness.data.categories import categories_json
from harness.data.dataset import write_panoptic_json, write_sample
from harness.data.panoptic_format import id2rgb, make_segments_info
from harness.data.synth import make_scene
from harness.data.validate import load_valid
from harness.errors import ConfigError
from harness.metrics.export import prediction_to_coco
from harness.metrics.instances import evaluate_instances
from harness.metrics.panoptic import pq_compute
from harness.models import create_model, list_models
from harness.models.evaluators import EVALUATORS
from harness.models.registry import MODELS
from harness.models.synthesis.entries import SYNTHESIS_MODELS
from harness.models.targets import panoptic_to_targets

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: a second thread only spins

CATS = categories_json()
# GANs: test_models_synthesis.py; evaluators of synthesised images: test_models_evaluators.py
MINI = [name for name in list_models() if name.endswith("-mini") and name not in {**SYNTHESIS_MODELS, **EVALUATORS}]



@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(7)
    images, targets, scenes = [], [], []
    for _ in range(2):
        image, ids, category_of, iscrowd_of = make_scene(rng, 128, 256)
        segments = make_segments_info(ids, category_of, iscrowd_of)
        images.append(torch.from_numpy(image).permute(2, 0, 1).float() / 255)
        targets.append(panoptic_to_targets(ids, segments, CATS))
        scenes.append((image, ids, segments))
    return images, targets, scenes


def test_registry_lists_both_papers_models():
    assert {"upsnet-mini", "upsnet-r50", "upsnet-r101", "sss-mini", "sss-r50", "sss-r101"} <= set(list_models())


def test_unknown_name_and_override_are_config_errors():
    with pytest.raises(ConfigError, match="upsnet-mini"):
        create_model("upsnet-mimi", categories=CATS)
    with pytest.raises(ConfigError, match="did you mean fpn_channels"):
        create_model("upsnet-mini", categories=CATS, fpn_channel=16)


@pytest.mark.parametrize("name", MINI)
def test_train_forward_backward_every_parameter_gets_a_gradient(name, batch):
    images, targets, _ = batch
    torch.manual_seed(0)
    model = create_model(name, categories=CATS).train()
    losses = model(images, targets)
    expected = {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask", "loss_semantic"}
    assert set(losses) == expected | ({"loss_panoptic"} if name.startswith("upsnet") else set())
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{pname} has a non-finite gradient"
        assert param.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n.startswith("upsnet") else n for n in MINI])
def test_a_few_optimiser_steps_lower_the_loss(name, batch):
    images, targets, _ = batch
    torch.manual_seed(0)
    model = create_model(name, categories=CATS).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    totals = []
    for _ in range(15):
        loss = sum(model(images, targets).values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        totals.append(loss.item())
    assert np.isfinite(totals).all()
    assert np.mean(totals[-3:]) < 0.8 * np.mean(totals[:3]), totals


def test_image_without_things_and_off_size_images_train(batch):
    """An image with no thing (empty boxes) beside one of another size, which the detector's
    transform rescales (100x200 -> 128x256): the dense targets must follow."""
    images, targets, _ = batch
    torch.manual_seed(0)
    model = create_model("upsnet-mini", categories=CATS).train()
    ids = np.full((100, 200), 7000, np.uint32)
    ids[:40] = 23000
    target = panoptic_to_targets(ids, [{"id": 7000, "category_id": 7}, {"id": 23000, "category_id": 23}], CATS)
    losses = model([torch.rand(3, 100, 200), images[0]], [target, targets[0]])
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()


@pytest.mark.parametrize("name", MINI)
def test_eval_output_at_input_resolution(name, batch):
    images, _, _ = batch
    torch.manual_seed(0)
    model = create_model(name, categories=CATS, panoptic_score_thresh=0.0).eval()
    odd = torch.rand(3, 96, 200)  # rescaled to 123x256 inside, answered at 96x200
    outputs = model([images[0], odd])
    for out, (h, w) in zip(outputs, [(128, 256), (96, 200)]):
        assert out["panoptic"].shape == (h, w) and out["panoptic"].dtype == torch.long
        assert out["semantic"].shape == (h, w) and int(out["semantic"].max()) < len(CATS)
        inst = out["instances"]
        n = len(inst["scores"])
        assert inst["boxes"].shape == (n, 4) and inst["masks"].shape == (n, h, w) and inst["masks"].dtype == torch.bool
        assert set(inst["category_ids"].tolist()) <= {c["id"] for c in CATS if c["isthing"]}
        ids_in_map = set(out["panoptic"].unique().tolist()) - {0}
        segment_ids = [s["id"] for s in out["segments_info"]]
        assert len(segment_ids) == len(set(segment_ids)) and ids_in_map == set(segment_ids)
        for s in out["segments_info"]:
            assert s["category_id"] == s["id"] // 1000 and s["isthing"] == (s["id"] % 1000 > 0)


@pytest.mark.parametrize("name", MINI)
def test_predictions_export_validate_and_evaluate(name, batch, tmp_path):
    images, targets, scenes = batch
    torch.manual_seed(0)
    model = create_model(name, categories=CATS).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(3):  # a little training so that stuff segments appear
        loss = sum(model(images, targets).values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    gt_entries, gt_annotations, annotations, results = [], [], [], []
    for i, (pred, (image, ids, segments)) in enumerate(zip(model(images), scenes)):
        entry, gt = write_sample(tmp_path / "gt", f"scene_{i}", image, ids, {s["id"]: s["category_id"] for s in segments},
                                 {s["id"]: s["iscrowd"] for s in segments}, image_id=i)
        gt_entries.append(entry)
        gt_annotations.append(gt)
        png_ids, annotation, instances = prediction_to_coco(pred, i, entry["file_name"])
        write_bytes(tmp_path / "pred" / "images" / entry["file_name"], encode_png(image))
        write_bytes(tmp_path / "pred" / "panoptic" / annotation["file_name"], encode_png(id2rgb(png_ids)))
        annotations.append(annotation)
        results.extend(instances)
        for result, mask in zip(instances, pred["instances"]["masks"]):
            assert (mask_utils.decode(result["segmentation"]) == mask.numpy()).all()
    write_panoptic_json(tmp_path / "gt", gt_entries, gt_annotations, CATS)
    write_panoptic_json(tmp_path / "pred", gt_entries, annotations, CATS)
    predicted = load_valid(tmp_path / "pred")  # runs harness.data.validate.validate_dataset
    assert sum(len(a["segments_info"]) for a in predicted.annotations) > 0
    pq = pq_compute(tmp_path / "gt" / "panoptic.json", tmp_path / "gt" / "panoptic",
                    tmp_path / "pred" / "panoptic.json", tmp_path / "pred" / "panoptic", workers=1)
    ref = reference_pq(tmp_path / "gt" / "panoptic.json", tmp_path / "gt" / "panoptic",
                       tmp_path / "pred" / "panoptic.json", tmp_path / "pred" / "panoptic")  # cityscapesscripts
    counted = {c: (row["tp"], row["fp"], row["fn"]) for c, row in pq["per_class"].items()}
    assert {c: n for c, n in counted.items() if sum(n)} == {c: n for c, n in ref["counts"].items() if sum(n)}
    if "pq" in ref:
        assert pq["pq"] == pytest.approx(ref["pq"], abs=1e-9)
    ap = evaluate_instances(tmp_path / "gt" / "panoptic.json", tmp_path / "gt" / "panoptic", results)
    assert ap["ap_box"] is None or 0 <= ap["ap_box"] <= 100


BODY_PARAMETERS = {"r50": 23.5e6, "r101": 42.5e6}  # torchvision's ResNet-50 / -101 without the classifier
PAPER_SCALE = [name for name in list_models() if MODELS.get(name, {}).get("backbone") in BODY_PARAMETERS]


def test_every_paper_scale_entry_is_built_below():
    assert {"upsnet-r50", "upsnet-r101", "sss-r50", "sss-r101"} <= set(PAPER_SCALE)


@pytest.mark.parametrize("name", PAPER_SCALE)
def test_paper_scale_models_build(name):
    """Every paper-scale registry entry is built (not trained: a forward at 1024 px is minutes on a CPU)."""
    body = BODY_PARAMETERS[MODELS[name]["backbone"]]
    model = create_model(name, categories=CATS)
    resnet = sum(p.numel() for n, p in model.detector.backbone.body.named_parameters())
    assert abs(resnet - body) < 0.1e6  # torchvision's ResNet-50 / -101 without the classifier
    assert 40e6 < sum(p.numel() for p in model.parameters()) < 70e6  # + FPN, Mask R-CNN and semantic heads


def test_backbone_weights_load_from_a_local_file_and_freeze(tmp_path):
    from torchvision.models import resnet50

    reference = resnet50(weights=None)
    torch.save(reference.state_dict(), tmp_path / "r50.pth")
    model = create_model("upsnet-r50", categories=CATS, backbone_weights=str(tmp_path / "r50.pth"))
    body = model.detector.backbone.body
    torch.testing.assert_close(body.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)
    assert not body.layer1[0].conv1.weight.requires_grad and body.layer2[0].conv1.weight.requires_grad
    with pytest.raises(ConfigError, match="missing"):
        create_model("upsnet-r50", categories=CATS, backbone_weights=str(tmp_path / "absent.pth"))
