"""Benchmarks behind `make bench`: each writes `results/bench/<name>.json` and prints a table.
Performance is always a ratio against a baseline timed in the same run."""
