"""Networks that score synthesised images (synthesis paper Sec. 4): segmenters for mIoU / pixel
accuracy, a detector for detAP. `registry.py` is the table and the door."""

from harness.models.evaluators.registry import (DETECTOR, EVALUATORS, SEGMENTER, LoadedEvaluator, build_evaluator,
                                                category_ids_of, create_evaluator, infer_architecture,
                                                list_evaluators, load_evaluator)

__all__ = ["DETECTOR", "EVALUATORS", "SEGMENTER", "LoadedEvaluator", "build_evaluator", "category_ids_of",
           "create_evaluator", "infer_architecture", "list_evaluators", "load_evaluator"]
