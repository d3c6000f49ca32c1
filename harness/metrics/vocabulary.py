"""The one metric vocabulary: every flat key of metrics.json, the evaluation that produces it, what a
reader calls it and which direction is better. The run store (which keys it accepts), the tables (Δ
signs, captions), the dashboard (Δ colours) and W&B read it from here; nothing else lists metric keys.

Percentages follow the papers (0-100); FID and KID are distances (lower is better), KID raw MMD²."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str
    label: str  # the papers' notation, what a reader sees
    family: str  # panoptic | semantic | instance | synthesis | loss
    higher_is_better: bool = True
    percent: bool = True


_PANOPTIC = [Metric(k, label, "panoptic") for k, label in (
    ("pq", "PQ"), ("sq", "SQ"), ("rq", "RQ"), ("pq_th", "PQ Th"), ("sq_th", "SQ Th"), ("rq_th", "RQ Th"),
    ("pq_st", "PQ St"), ("sq_st", "SQ St"), ("rq_st", "RQ St"))]
_SEMANTIC = [Metric("miou", "mIoU", "semantic"), Metric("accuracy", "accuracy", "semantic")]
_INSTANCE = [Metric("ap", "AP", "instance"), Metric("ap_box", "AP box", "instance")]
_SYNTHESIS = [Metric("det_ap", "detAP", "synthesis"),
              Metric("fid", "FID", "synthesis", higher_is_better=False, percent=False),
              Metric("kid", "KID", "synthesis", higher_is_better=False, percent=False),
              Metric("kid_std", "KID std", "synthesis", higher_is_better=False, percent=False)]

METRICS: dict[str, Metric] = {m.key: m for m in (*_PANOPTIC, *_SEMANTIC, *_INSTANCE, *_SYNTHESIS)}

# The flat keys of metrics.json, by the evaluation that produces them.
PANOPTIC_KEYS = tuple(m.key for m in _PANOPTIC)
SEMANTIC_KEYS = tuple(m.key for m in _SEMANTIC)
INSTANCE_KEYS = tuple(m.key for m in _INSTANCE)
SYNTHESIS_KEYS = tuple(m.key for m in _SYNTHESIS)
METRIC_KEYS = tuple(METRICS)


def higher_is_better(key: str) -> bool:
    """Whether a larger value of `key` is better: metrics by the table above; losses (`loss`, `loss_*`,
    `*_loss`) and the distances (FID, KID) are lower-is-better; an unknown key counts as higher-is-better."""
    base = key.removeprefix("delta_").removeprefix("control_").removeprefix("val_")
    if base in METRICS:
        return METRICS[base].higher_is_better
    return not (base == "loss" or base.startswith("loss_") or base.endswith("_loss"))


def improvement(key: str, delta: float) -> float:
    """`delta` signed so that a positive value is an improvement of `key` (Δ FID −29 -> +29)."""
    return delta if higher_is_better(key) else -delta


def metric_label(key: str) -> str:
    """The papers' name of a metric key (unknown keys print as they are)."""
    return METRICS[key].label if key in METRICS else key
