"""Which code produced the runs a table, figure or report shows. run.json's `code` ({commit, dirty,
diff_sha256}, written at the start of every run) names its code state; older runs have only
`git_commit`. When the runs come from more than one state, one caption line names each state and its
runs, so numbers from before and after a fix are never shown as one study unawares."""

from __future__ import annotations

import pandas as pd

from harness.tracking.provenance import state_of


def code_state(record: dict) -> str:
    """`3f2a9c1d0b7e`, `3f2a9c1d0b7e+dirty(diff 1a2b3c4d)`, `3f2a9c1d0b7e (no dirty flag)` for an old
    run.json, `unknown` without a commit (fields read by the run store's own `state_of`)."""
    commit, diff = state_of(record)
    if commit is None:
        return "unknown"
    code = record.get("code")
    if not isinstance(code, dict):
        return f"{commit[:12]} (no dirty flag)"
    if code.get("dirty"):
        return f"{commit[:12]}+dirty(diff {diff[:8] if diff else '?'})"
    return commit[:12]


def code_state_line(runs: pd.DataFrame) -> str:
    """'' when every run shows one code state; else `Mixed code states: A: r1, r2; B: r3.`"""
    if "code_state" not in runs or runs.code_state.nunique() < 2:
        return ""
    groups = runs.groupby("code_state", sort=True).run_id.apply(lambda ids: ", ".join(sorted(map(str, ids))))
    return "Mixed code states: " + "; ".join(f"{state}: {ids}" for state, ids in groups.items()) + "."
