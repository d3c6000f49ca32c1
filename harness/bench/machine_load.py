"""The machine's load average beside a benchmark's timings: on a shared machine, how contended the
figures are is part of them."""

from __future__ import annotations

import os


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def load_line(report: dict) -> str:
    """'load average before [...], after [...]' of a report holding `load_average_before/after`."""
    return f"load average before {report['load_average_before']}, after {report['load_average_after']}"
