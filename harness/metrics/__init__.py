"""Evaluation: PQ family (panopticapi semantics), mIoU / pixel accuracy, COCO AP / APbox / detAP, FID,
KID."""
