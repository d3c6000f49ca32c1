"""Independent references and generated inputs used by the tests (and by `harness.bench.pq_bench`,
which imports them from a source checkout): cityscapesscripts' PQ as a library call, and synthetic
(ground truth, prediction) pairs."""
