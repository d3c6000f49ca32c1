"""Panoptic segmentation (UPSNet, SSS): training task and PQ / mIoU / AP evaluation."""
