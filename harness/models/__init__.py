"""Panoptic models: UPSNet-style and Seamless-Scene-Segmentation-style networks on torchvision's
Mask R-CNN and their targets (predictions become COCO files in harness/metrics/export.py)."""

from harness.models.registry import create_model, list_models

__all__ = ["create_model", "list_models"]
