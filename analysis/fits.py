"""Log-linear learning curves, metric = a·ln(n) + b (PanDA Sec. 4.5, Eq. 1-3).

The paper fits one point per training-set size; with several seeds every run is a point and a
bootstrap over runs (resampled within each n) gives a confidence band for the curve."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from harness.errors import PanbenchError

MIN_FIT_SIZES = 3  # two sizes always lie on a line: r² = 1 (one run per size) says nothing about the law


@dataclass(frozen=True)
class LogLinearFit:
    """metric = slope·ln(n) + intercept, with the coefficient of determination of the fit, the
    number of points and of distinct training-set sizes n behind it."""

    slope: float
    intercept: float
    r2: float
    points: int
    sizes: int

    @property
    def caution(self) -> str:
        """Empty for a fit through three or more sizes n; else why neither its r² nor its inverse
        (N, DE) is evidence of the log-linear law."""
        if self.sizes >= MIN_FIT_SIZES:
            return ""
        return f"fit through {self.sizes} sizes n only: the log-linear law is untested (r² is no evidence)"

    def predict(self, n: np.ndarray | float) -> np.ndarray:
        return self.slope * np.log(np.asarray(n, dtype=float)) + self.intercept

    def effective_size(self, metric: np.ndarray | float) -> np.ndarray:
        """Invert the fit: the number of original images N that would give `metric` (Sec. 4.5)."""
        if self.slope == 0:
            raise PanbenchError("log-linear fit has slope 0: the effective training-set size is undefined")
        return np.exp((np.asarray(metric, dtype=float) - self.intercept) / self.slope)


def fit_log_linear(n: np.ndarray, metric: np.ndarray) -> LogLinearFit:
    """Least-squares fit of metric on ln(n) (scipy.stats.linregress), as the paper's Eq. 1-3."""
    n = np.asarray(n, dtype=float)
    metric = np.asarray(metric, dtype=float)
    keep = np.isfinite(metric) & np.isfinite(n)
    n, metric = n[keep], metric[keep]
    if np.any(n <= 0):
        raise PanbenchError(f"log-linear fit needs positive training-set sizes, got {sorted(set(n.tolist()))}")
    if np.unique(n).size < 2:
        raise PanbenchError(f"log-linear fit needs at least two training-set sizes, got {sorted(set(n.tolist()))}")
    result = stats.linregress(np.log(n), metric)
    return LogLinearFit(float(result.slope), float(result.intercept), float(result.rvalue ** 2), int(n.size),
                        int(np.unique(n).size))


def bootstrap_band(n: np.ndarray, metric: np.ndarray, grid: np.ndarray, *, resamples: int = 1000,
                   level: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """Pointwise `level` band of the fitted curve on `grid`, resampling runs within each n.

    Returns None when no n has two or more runs (a single seed gives no spread to resample)."""
    n = np.asarray(n, dtype=float)
    metric = np.asarray(metric, dtype=float)
    sizes, inverse = np.unique(n, return_inverse=True)
    groups = [np.flatnonzero(inverse == g) for g in range(sizes.size)]
    if sizes.size < 2 or max(len(g) for g in groups) < 2:
        return None
    rng = np.random.default_rng(seed)
    # One resample = for every n, draw its runs with replacement; all resamples drawn at once.
    picks = np.concatenate([rng.choice(g, size=(resamples, len(g))) for g in groups], axis=1)
    x = np.log(n[picks])
    y = metric[picks]
    x_mean, y_mean = x.mean(axis=1, keepdims=True), y.mean(axis=1, keepdims=True)
    slope = ((x - x_mean) * (y - y_mean)).sum(axis=1) / ((x - x_mean) ** 2).sum(axis=1)
    intercept = y_mean[:, 0] - slope * x_mean[:, 0]
    curves = slope[:, None] * np.log(np.asarray(grid, dtype=float))[None, :] + intercept[:, None]
    alpha = (1.0 - level) / 2.0
    return np.quantile(curves, alpha, axis=0), np.quantile(curves, 1.0 - alpha, axis=0)
