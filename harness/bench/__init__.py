"""Benchmarks behind `make bench`: each writes `results/bench/<name>.json` and prints a table.
Performance is always a ratio against a baseline timed in the same run.

Every bench runs under panbench's thread policy (harness.threads): the OpenMP wait policy is set
here, when `python -m harness.bench.<name>` imports this package, before the bench imports torch;
the thread counts each bench times are its own (`--threads`)."""

from harness.threads import set_process_defaults

set_process_defaults()
