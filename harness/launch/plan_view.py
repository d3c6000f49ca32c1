"""What `panbench sweep` prints before it runs anything: one line per run (a paper-scale grid must
stay readable in an 80-column terminal, so the widest columns are cut to fit, never wrapped) and the
preflight problems that `train` would refuse each run for, each named once with the runs it stops."""

from __future__ import annotations

import shutil
from typing import Sequence

from harness.launch.plan import PlannedRun
from harness.train.preflight import preflight

ELLIPSIS = "…"
MIN_WIDTH = 6  # a cut column keeps at least this many characters
GAP = "  "


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + ELLIPSIS


def fit_columns(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None,
                shrink: Sequence[int] = ()) -> list[str]:
    """The table as lines of at most `width` characters (default: the terminal's,
    shutil.get_terminal_size): columns in `shrink` order are cut (with …) until the line fits, each
    down to MIN_WIDTH; the header first."""
    width = width or shutil.get_terminal_size().columns
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    excess = sum(widths) + len(GAP) * (len(headers) - 1) - width
    for i in shrink:
        if excess <= 0:
            break
        cut = min(excess, max(0, widths[i] - max(MIN_WIDTH, len(headers[i]))))
        widths[i] -= cut
        excess -= cut
    lines = [GAP.join(_cut(cell, w).ljust(w) for cell, w in zip(line, widths)).rstrip()
             for line in [list(headers), *rows]]
    return [_cut(line, width) for line in lines]


def preflight_lines(plan: Sequence[PlannedRun]) -> list[str]:
    """`preflight: ok`, or each problem of the runs to do with the runs it stops."""
    stopped: dict[str, list[str]] = {}
    for planned in plan:
        if planned.state in ("to do", "failed"):
            for problem in preflight(planned.spec):
                stopped.setdefault(problem, []).append(planned.run_id)
    if not stopped:
        return ["preflight: ok (every data root and weights file the runs need is there)"]
    lines = [f"preflight: {len(stopped)} problem(s); `train` refuses the runs they name"]
    for problem, runs in stopped.items():
        shown = ", ".join(runs[:3]) + (f", ... ({len(runs)} runs)" if len(runs) > 3 else "")
        lines.append(f"  {problem} [{shown}]")
    return lines
