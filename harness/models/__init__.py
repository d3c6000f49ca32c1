"""Panoptic models: UPSNet-style and Seamless-Scene-Segmentation-style networks on torchvision's
Mask R-CNN, their targets, and the export of predictions to COCO-panoptic files."""

from harness.models.registry import create_model, list_models

__all__ = ["create_model", "list_models"]
