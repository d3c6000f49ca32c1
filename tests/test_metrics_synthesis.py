"""`evaluate synthesis` on hand-made cases: mini evaluators trained briefly on street scenes score the
real images (the ceiling row); a perfect "generator" (the real images under its own folder) scores
exactly that; a constant image scores near zero; the real row's mIoU / accuracy equal a per-class
count of the model's own predictions; image matching, missing weights and the CLI contract."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from evaluator_fixtures import scene_batch, train_steps
from harness.atomic import write_png
from harness.cli import main
from harness.data.images import read_ids, read_rgb
from harness.data.schema import read_json
from harness.data.synth import synthesize_dataset
from harness.errors import DatasetError
from harness.metrics.synthesis import RESULT_KEYS, evaluate_synthesis
from harness.models.evaluators import build_evaluator
from test_metrics_fid import TinyExtractor


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Street scenes at 64x128 and a mini segmenter and detector fitted to them (saved as weight files)."""
    root = tmp_path_factory.mktemp("synth")
    synthesize_dataset(root / "gt", n=8, seed=0, width=128, height=64, workers=1, progress=False)
    images, targets = scene_batch(8)  # the same scenes: synthesize_dataset draws image i from keyed_rng(0, i)
    torch.manual_seed(0)
    segmenter = build_evaluator("drn-d-mini", num_classes=19)
    train_steps(segmenter, images, targets, steps=40, lr=3e-3)
    detector = build_evaluator("fasterrcnn-mini", num_classes=9)
    train_steps(detector, images, targets, steps=40, lr=3e-3)
    torch.save(segmenter.state_dict(), root / "segmenter.pth")
    torch.save(detector.state_dict(), root / "detector.pth")
    return root


def run(root, fake, **kw):
    return evaluate_synthesis(fake, root / "gt" / "panoptic.json", root / "gt" / "panoptic",
                              segmenter=root / "segmenter.pth", detector=root / "detector.pth",
                              feature_extractor=TinyExtractor(), **kw)


@pytest.mark.slow
def test_ceiling_perfect_generator_and_constant_image(scored, tmp_path):
    real = run(scored, scored / "gt" / "images")
    shutil.copytree(scored / "gt" / "images", tmp_path / "perfect")
    perfect = run(scored, tmp_path / "perfect")
    for key in ("det_ap", "miou", "accuracy", "per_class"):
        assert perfect[key] == real[key]
    assert perfect["fid"] == pytest.approx(0.0, abs=1e-6)
    assert real["miou"] > 30 and real["accuracy"] > 70 and real["det_ap"] > 0

    for path in (scored / "gt" / "images").iterdir():
        write_png(tmp_path / "constant" / path.name, np.full((64, 128, 3), 128, np.uint8))
    constant = run(scored, tmp_path / "constant")
    assert constant["miou"] < 10 and constant["det_ap"] < 1
    assert constant["fid"] > 1e-3 and constant["kid"] > 1e-3
    assert abs(perfect["kid"]) < 0.1 * constant["kid"]  # unbiased MMD² of a set against itself: about 0, may be < 0
    assert set(RESULT_KEYS) <= set(constant) and constant["protocol"]["images"] == 8


@pytest.mark.slow
def test_real_row_equals_a_per_class_count_of_the_models_predictions(scored):
    """IoU_c = |pred = c and gt = c| / |pred = c or gt = c| over labelled pixels, counted per class
    here from the segmenter's own arg-max (no confusion matrix)."""
    result = run(scored, scored / "gt" / "images")
    gt = read_json(scored / "gt" / "panoptic.json")
    categories = [c["id"] for c in gt["categories"]]
    model = build_evaluator("drn-d-mini", num_classes=19)
    model.load_state_dict(torch.load(scored / "segmenter.pth", weights_only=True))
    model.eval()
    preds, labels = [], []
    for ann in gt["annotations"]:
        ids = read_ids(scored / "gt" / "panoptic" / ann["file_name"])
        category_of = {s["id"]: s["category_id"] for s in ann["segments_info"]}
        labels.append(np.vectorize(lambda i: categories.index(category_of[i]) if i in category_of else -1)(ids))
        image = torch.from_numpy(np.array(read_rgb(scored / "gt" / "images" / ann["file_name"]))).permute(2, 0, 1) / 255.0
        with torch.no_grad():
            preds.append(model(image[None].float())["out"].argmax(1)[0].numpy())
    pred, label = np.stack(preds), np.stack(labels)
    valid = label >= 0
    ious = {}
    for k, cat in enumerate(categories):
        union = ((pred == k) | (label == k)) & valid
        if union.any():
            ious[cat] = 100.0 * (((pred == k) & (label == k)) & valid).sum() / union.sum()
    assert result["miou"] == pytest.approx(np.mean(list(ious.values())), rel=1e-9)
    assert result["accuracy"] == pytest.approx(100.0 * (pred == label)[valid].mean(), rel=1e-9)
    assert {c: v["iou"] for c, v in result["per_class"].items() if v["iou"] is not None} == pytest.approx(ious)


@pytest.mark.slow
def test_generated_images_match_label_maps_by_stem(scored, tmp_path):
    shutil.copytree(scored / "gt" / "images", tmp_path / "fake")
    (tmp_path / "fake" / "synth_000003.png").rename(tmp_path / "fake" / "other.png")
    with pytest.raises(DatasetError, match=r"no generated image for 1 .*synth_000003.*1 generated images match no .*other"):
        run(scored, tmp_path / "fake")


@pytest.mark.slow
def test_cli_writes_the_contract_keys_and_the_protocol(scored, tmp_path, monkeypatch, capsys,
                                                        no_offline_inception):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no Inception weights here
    out = tmp_path / "out.json"
    code = main(["evaluate", "synthesis", "--fake", str(scored / "gt" / "images"),
                 "--gt-json", str(scored / "gt" / "panoptic.json"), "--gt-dir", str(scored / "gt" / "panoptic"),
                 "--segmenter", str(scored / "segmenter.pth"), "--detector", str(scored / "detector.pth"),
                 "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert set(RESULT_KEYS) | {"per_class", "protocol"} == set(result)
    assert result["fid"] is None and "no Inception weights" in result["protocol"]["fid"]["skipped"]
    assert result["protocol"]["segmenter"]["architecture"] == "drn-d-mini"
    assert result["protocol"]["detector"]["architecture"] == "fasterrcnn-mini"
    assert "label resolution" in result["protocol"]["evaluation_resolution"]
    assert set(result["per_class"]) == {str(c) for c in range(7, 34) if c in {7, 8, 11, 12, 13, 17, 19, 20, 21, 22,
                                                                                  23, 24, 25, 26, 27, 28, 31, 32, 33}}
    capsys.readouterr()
    code = main(["evaluate", "synthesis", "--fake", str(scored / "gt" / "images"),
                 "--gt-json", str(scored / "gt" / "panoptic.json"), "--gt-dir", str(scored / "gt" / "panoptic"),
                 "--segmenter", str(scored / "detector.pth")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "detector.pth: holds a detector (fasterrcnn-mini), not a segmenter" in err[0]


def test_the_protocol_preset_decides_the_segmenters_input_and_is_recorded(tmp_path, capsys, monkeypatch):
    """`paper`: the segmenter sees the generated 32x64 image; `spade`: the image upsampled (bilinear)
    to the 64x128 label first. Either way the scores are at the label's resolution, and the result
    names the preset and its choices."""
    import torch.nn.functional as F
    from PIL import Image

    from harness.errors import ConfigError
    from harness.metrics.protocol import PRESETS
    from harness.models.evaluators.registry import SEGMENTER, LoadedEvaluator

    synthesize_dataset(tmp_path / "gt", n=2, seed=0, width=128, height=64, workers=1, progress=False)
    gt = read_json(tmp_path / "gt" / "panoptic.json")
    for image, ann in zip(gt["images"], gt["annotations"]):
        small = Image.open(tmp_path / "gt" / "images" / image["file_name"]).convert("RGB").resize((64, 32))
        write_png(tmp_path / "fake" / f"{ann['file_name'].rsplit('.', 1)[0]}.png", np.asarray(small))
    torch.manual_seed(0)
    model = build_evaluator("drn-d-mini", num_classes=19).eval()
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    segmenter = LoadedEvaluator("drn-d-mini", SEGMENTER, model, "spy.pth")
    results = {}
    for name in ("paper", "spade"):
        seen.clear()
        results[name] = evaluate_synthesis(tmp_path / "fake", tmp_path / "gt" / "panoptic.json",
                                           tmp_path / "gt" / "panoptic", segmenter=segmenter, distances=False,
                                           protocol=name)
        assert results[name]["protocol"]["name"] == name
        assert results[name]["protocol"]["choices"]["segmenter_input"] == PRESETS[name].segmenter_input
        assert {tuple(x.shape[-2:]) for x in seen} == {(32, 64) if name == "paper" else (64, 128)}
    generated = torch.from_numpy(read_rgb(sorted((tmp_path / "fake").iterdir())[0])).permute(2, 0, 1)[None] / 255.0
    by_hand = F.interpolate(generated.float(), size=(64, 128), mode="bilinear", align_corners=False).clamp(0, 1)
    torch.testing.assert_close(seen[0], by_hand)  # the spade preset's input, the first image
    assert results["paper"]["miou"] != results["spade"]["miou"]
    assert PRESETS["spade"].known and PRESETS["spade"].assumed and PRESETS["paper"].assumed
    with pytest.raises(ConfigError, match=r"evaluation protocol 'oasis' is unknown; choose one of \['paper', 'spade'\]"):
        evaluate_synthesis(tmp_path / "fake", tmp_path / "gt" / "panoptic.json", tmp_path / "gt" / "panoptic",
                           protocol="oasis")
    capsys.readouterr()
    monkeypatch.setattr("harness.metrics.fid.inception_available", lambda: False)  # no FID: minutes on a CPU
    assert main(["evaluate", "synthesis", "--fake", str(tmp_path / "fake"), "--gt-json",
                 str(tmp_path / "gt" / "panoptic.json"), "--gt-dir", str(tmp_path / "gt" / "panoptic"),
                 "--protocol", "spade", "--out", str(tmp_path / "out.json")]) == 0
    assert read_json(tmp_path / "out.json")["protocol"]["name"] == "spade"


@pytest.mark.slow
def test_stored_per_image_rows_give_back_the_generators_miou_and_accuracy(scored, tmp_path):
    """The segmenter's per-image confusion rows (predictions/per_image.npz of a synthesis run) sum to
    the scored mIoU and accuracy exactly: what the paired bootstrap of panoptic SPADE vs SPADE resamples."""
    from harness.metrics.per_image import dataset_metrics, read_per_image

    result = run(scored, scored / "gt" / "images", per_image=tmp_path / "per_image.npz", distances=False)
    counts = read_per_image(tmp_path / "per_image.npz")
    assert len(counts.image_ids) == 8 and counts.pq_tp.shape == (8, 0)
    recomputed = dataset_metrics(counts)
    assert recomputed["miou"] == result["miou"] and recomputed["accuracy"] == result["accuracy"]
