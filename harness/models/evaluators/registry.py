"""The table of evaluators of synthesised images (synthesis paper Sec. 4) and the one door that
builds or loads them. Paper scale: the published networks' architectures; `*-mini`: the same
builders at CPU widths for the 64x128 synthetic scenes.

A weights FILE names its architecture by its keys: every entry of the table is built on the meta
device (no memory, no compute) with the file's number of classes, and the one whose key names and
shapes equal the file's is it. An optional sidecar `FILE.json` (beside it, the `.pth` suffix
replaced) may fix `architecture` (then the file must fit it, strictly) and `category_ids`: the
dataset category of each output class (segmenter channel k, detector label k + 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from harness.data.schema import read_json
from harness.errors import ConfigError
from harness.models.evaluators.deeplabv2 import DeepLabV2Segmenter
from harness.models.evaluators.detector import (fasterrcnn_mini, fasterrcnn_r50_fpn, fasterrcnn_r50_fpn_published,
                                                published_eps)
from harness.models.evaluators.drn import DRN_D_105, DRNSegmenter
from harness.weights import WeightsError, describe_mismatch, load_strict, mismatches, read_state_dict
from harness.weight_files import candidate_path

SEGMENTER, DETECTOR = "segmenter", "detector"


@dataclass(frozen=True)
class EvaluatorSpec:
    kind: str
    build: Callable[..., nn.Module]
    arguments: dict[str, Any]
    classifier_key: str  # the state-dict entry whose first dimension is the number of classes
    num_classes: int  # the published model's (detectors: including background)


EVALUATORS: dict[str, EvaluatorSpec] = {
    "drn-d-105": EvaluatorSpec(SEGMENTER, DRNSegmenter, dict(DRN_D_105), "seg.weight", 19),
    "drn-d-mini": EvaluatorSpec(SEGMENTER, DRNSegmenter, dict(block="basic", depths=(1,) * 8,
                                                             channels=(8, 16, 24, 32, 48, 48, 48, 48)),
                                "seg.weight", 19),
    "deeplabv2-r101": EvaluatorSpec(SEGMENTER, DeepLabV2Segmenter, {}, "base.aspp.c0.weight", 182),
    "deeplabv2-mini": EvaluatorSpec(SEGMENTER, DeepLabV2Segmenter, dict(blocks=(1, 1, 1, 1), stem=16,
                                                                       widths=(32, 48, 64, 96)),
                                    "base.aspp.c0.weight", 19),
    "fasterrcnn-r50-fpn": EvaluatorSpec(DETECTOR, fasterrcnn_r50_fpn, {}, "roi_heads.box_predictor.cls_score.weight", 91),
    "fasterrcnn-mini": EvaluatorSpec(DETECTOR, fasterrcnn_mini, {}, "roi_heads.box_predictor.cls_score.weight", 9),
}


@dataclass
class LoadedEvaluator:
    """A ready evaluator (eval mode) and where it came from."""

    architecture: str
    kind: str
    model: nn.Module
    source: str
    category_ids: list[int] | None = None  # None: the convention of `harness.metrics.synthesis.class_categories`
    num_classes: int = field(init=False)

    def __post_init__(self):
        spec = EVALUATORS[self.architecture]
        self.num_classes = int(self.model.state_dict()[spec.classifier_key].shape[0])


def list_evaluators(kind: str | None = None) -> list[str]:
    return sorted(n for n, s in EVALUATORS.items() if kind is None or s.kind == kind)


def build_evaluator(name: str, *, num_classes: int | None = None, **overrides: Any) -> nn.Module:
    """Evaluator `name` with random weights (`num_classes` default: the published model's)."""
    if name not in EVALUATORS:
        raise ConfigError(f"evaluator {name!r} is unknown; choose one of {list_evaluators()}")
    spec = EVALUATORS[name]
    return spec.build(num_classes=spec.num_classes if num_classes is None else num_classes,
                      **{**spec.arguments, **overrides})


def category_ids_of(kind: str, categories: list[dict]) -> list[int]:
    """The dataset category of each output class of a `kind` evaluator trained on `categories`
    (panbench's train-id order): segmenter channel k -> categories[k]; detector label k + 1 -> the
    k-th thing category (`harness.models.targets.panoptic_to_targets`' labels)."""
    return [int(c["id"]) for c in categories if kind == SEGMENTER or int(c.get("isthing", 0))]


def create_evaluator(name: str, *, categories: list[dict], **overrides: Any) -> nn.Module:
    """Evaluator `name` with random weights, one output class per category it predicts (a
    detector: one per thing category plus background): what an evaluator run trains."""
    if name not in EVALUATORS:
        raise ConfigError(f"evaluator {name!r} is unknown; choose one of {list_evaluators()}")
    kind = EVALUATORS[name].kind
    return build_evaluator(name, num_classes=len(category_ids_of(kind, categories)) + (kind == DETECTOR), **overrides)


def sidecar_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def _read_sidecar(weights: Path) -> dict[str, Any]:
    path = sidecar_path(weights)
    if not path.is_file():
        return {}
    data = read_json(path)
    if not isinstance(data, dict) or set(data) - {"architecture", "category_ids"}:
        raise WeightsError(path, "expected {\"architecture\": NAME, \"category_ids\": [...]} (both optional)")
    if "architecture" in data and data["architecture"] not in EVALUATORS:
        raise WeightsError(path, f"architecture {data['architecture']!r} is unknown; choose one of {list_evaluators()}")
    ids = data.get("category_ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, int) for i in ids)):
        raise WeightsError(path, "category_ids must be a list of integer category ids")
    return data


def infer_architecture(state: dict[str, torch.Tensor], source: str | Path, kind: str | None = None) -> str:
    """The table entry whose key names and shapes equal `state`'s, or one WeightsError line naming
    the nearest entry and its first mismatched keys."""
    nearest: tuple[int, str, str] | None = None
    for name in list_evaluators(kind):
        spec = EVALUATORS[name]
        if spec.classifier_key not in state:
            continue
        with torch.device("meta"):
            module = build_evaluator(name, num_classes=int(state[spec.classifier_key].shape[0]))
        found = mismatches(module, state)
        if not any(found):
            return name
        count = sum(len(f) for f in found)
        if nearest is None or count < nearest[0]:
            nearest = (count, name, describe_mismatch(*found))
    wanted = f"{kind} " if kind else ""
    if nearest is None:
        raise WeightsError(source, f"not the weights of any {wanted}evaluator (none of "
                                   f"{sorted({EVALUATORS[n].classifier_key for n in list_evaluators(kind)})} is in it)")
    raise WeightsError(source, f"not the weights of any {wanted}evaluator; nearest {nearest[1]}: {nearest[2]}")


def load_evaluator(path: str | Path, kind: str | None = None) -> LoadedEvaluator:
    """An evaluator from a local weights file: read with `weights_only=True`, its architecture
    inferred from its keys (or named by the sidecar), loaded strictly, in eval mode. A bare file
    name is looked up in PANBENCH_WEIGHTS (harness.weight_files)."""
    path = candidate_path(path)
    state = read_state_dict(path, what=f"{kind or 'evaluator'} weights")
    sidecar = _read_sidecar(path)
    name = sidecar.get("architecture") or infer_architecture(state, path)
    spec = EVALUATORS[name]
    if kind is not None and spec.kind != kind:
        raise WeightsError(path, f"holds a {spec.kind} ({name}), not a {kind}")
    if spec.classifier_key not in state:
        raise WeightsError(path, f"not {name} weights: no {spec.classifier_key}")
    num_classes = int(state[spec.classifier_key].shape[0])
    eps = published_eps(path) if name == "fasterrcnn-r50-fpn" else None
    model = (build_evaluator(name, num_classes=num_classes) if eps is None
             else fasterrcnn_r50_fpn_published(num_classes=num_classes, eps=eps))  # torchvision's own model
    load_strict(model, state, path, what=f"{name} weights")
    loaded = LoadedEvaluator(name, spec.kind, model.eval(), str(path), sidecar.get("category_ids"))
    if loaded.category_ids is not None and len(loaded.category_ids) != loaded.num_classes - (spec.kind == DETECTOR):
        raise WeightsError(sidecar_path(path), f"{len(loaded.category_ids)} category_ids for "
                                               f"{loaded.num_classes} output classes of {name}")
    return loaded
