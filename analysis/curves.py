"""Learning-curve points (n, variant, metric, value) for Fig. 3, from the paper or from runs."""

from __future__ import annotations

import pandas as pd

from analysis import reference as ref
from analysis.tables import curve_group

CURVE_VARIANTS = ("none", "panda-1x")


def reference_points() -> pd.DataFrame:
    """The paper's Fig. 3 / Supp. Fig. 4: the fit inputs (baseline) and Table 2's PanDA rows."""
    base = ref.fit_inputs().assign(variant="none")
    aug = ref.augmented_points().assign(variant="panda-1x")
    return pd.concat([base, aug]).rename(columns={"images": "n"})[["n", "variant", "metric", "value"]]


def runs_points(runs: pd.DataFrame) -> pd.DataFrame:
    """One point per finished run of the curve's (model, dataset), for each measured fit metric."""
    group = curve_group(runs)
    group = group[group.variant.isin(CURVE_VARIANTS)]
    long = group.melt(id_vars=["n", "variant", "seed"], value_vars=list(ref.FIT_METRICS), var_name="metric")
    return long.dropna(subset=["value"])[["n", "variant", "metric", "value"]].reset_index(drop=True)
