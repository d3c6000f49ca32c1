"""The peers table (analysis.tables.runs_peers_table): Δ against the compute-matched control paired by seed,
its 95 % interval (analysis/intervals.py) checked against scipy's paired t-test, controls matched by iterations."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.tables import runs_peers_table
from harness.data.augment_mode import AugmentMode


def _runs():
    rows = []
    arms = [("none", AugmentMode(), 2, 10), ("extra-iterations", AugmentMode(), 4, 20),
            ("panda-1x", AugmentMode(copies=1), 2, 20),
            ("copy-paste-online", AugmentMode("copy-paste", online=True, mix=0.5), 2, 20)]
    for seed in range(3):
        for variant, mode, epochs, iterations in arms:
            pq = 30.0 + iterations / 2 + seed + (1.5 if variant == "panda-1x" else 0.0) + (
                -seed if variant == "copy-paste-online" else 0.0)
            rows.append({"recipe": "panda-peers-mini", "model": "upsnet-mini", "dataset": "synth", "n": 8,
                         "variant": variant, "seed": seed, "epochs": epochs, "iterations": iterations,
                         "augment": mode, "pq": pq, "pq_th": pq - 5, "pq_st": pq + 5, "ap": 10.0, "ap_box": 12.0,
                         "miou": 50.0, "run_dir": f"/nowhere/{variant}-{seed}"})
    return pd.DataFrame(rows)


def test_each_arm_is_paired_with_the_plain_run_of_its_iterations():
    frame = runs_peers_table(_runs()).frame.set_index("variant")
    assert list(frame.index) == ["none", "extra-iterations", "copy-paste-online", "panda-1x"]
    assert frame.loc["panda-1x", "arm"] == "panda" and frame.loc["copy-paste-online", "arm"] == "copy-paste"
    assert frame.loc["panda-1x", "delta_pq"] == 1.5 and frame.loc["panda-1x", "control_seeds"] == 3
    assert np.isclose(frame.loc["panda-1x", "delta_pq_low"], 1.5)
    assert np.isclose(frame.loc["panda-1x", "delta_pq_high"], 1.5)
    assert frame.loc["panda-1x", "interval"] == "t, 3 seeds"
    cp = frame.loc["copy-paste-online"]
    ci = stats.ttest_rel(np.array([0.0, -1.0, -2.0]), np.zeros(3)).confidence_interval(0.95)
    assert np.isclose(cp.delta_pq, -1.0) and np.isclose(cp.delta_pq_low, ci.low)
    assert np.isclose(cp.delta_pq_high, ci.high)
