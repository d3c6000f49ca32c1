"""Data efficiency of augmented images (PanDA Sec. 4.5, Eq. 4 and Table 3).

A model's metric is mapped back through the baseline learning curve to the number of original
images that would have given it (N = exp((metric - b)/a)); DE compares N with and without PanDA."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.fits import LogLinearFit


def data_efficiency(n_orig: np.ndarray | float, n_aug: np.ndarray | float) -> np.ndarray:
    """DE = (N_aug - N_orig) / N_orig × 100 (Eq. 4): 100 % means a synthetic image is worth an original."""
    n_orig = np.asarray(n_orig, dtype=float)
    return (np.asarray(n_aug, dtype=float) - n_orig) / n_orig * 100.0


def invertible(fit: LogLinearFit) -> bool:
    return bool(np.isfinite(fit.slope) and fit.slope != 0)


def efficiency_table(fits: dict[str, LogLinearFit], baseline: pd.DataFrame, augmented: pd.DataFrame) -> pd.DataFrame:
    """Table 3: for each training-set size and metric, N_orig, N_aug and DE.

    `baseline` and `augmented` are indexed by the number of original images with one column per
    metric (the metric of the model trained without / with PanDA). DE is computed from the
    unrounded N, as the paper's printed values show. A flat curve (slope 0: e.g. AP = 0 at every size
    after a short CPU run) cannot be inverted; its N and DE are NaN."""
    rows = []
    for images in sorted(set(baseline.index) & set(augmented.index)):
        for metric, fit in fits.items():
            if not invertible(fit):
                rows.append({"images": int(images), "metric": metric, "n_orig": np.nan, "n_aug": np.nan, "de": np.nan})
                continue
            n_orig = float(fit.effective_size(baseline.loc[images, metric]))
            n_aug = float(fit.effective_size(augmented.loc[images, metric]))
            rows.append({"images": int(images), "metric": metric, "n_orig": n_orig, "n_aug": n_aug,
                         "de": float(data_efficiency(n_orig, n_aug))})
    return pd.DataFrame(rows, columns=["images", "metric", "n_orig", "n_aug", "de"])
