"""Evaluator networks (segmenters, detectors) for the synthesis metrics: task and run references."""
