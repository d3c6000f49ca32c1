"""COCO-panoptic datasets: IO, validation, subsets, synthetic scenes and Cityscapes conversion."""
