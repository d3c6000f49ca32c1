"""Log-linear fit, effective size and data efficiency on hand-computed data."""

import math

import numpy as np
import pytest

from analysis.efficiency import data_efficiency, efficiency_table
from analysis.fits import bootstrap_band, fit_log_linear
from harness.errors import PanbenchError


def test_exact_line_is_recovered():
    # metric = 5·ln(n) + 10 at n = 1, e, e², e³: slope 5, intercept 10, r² 1
    n = np.exp([0.0, 1.0, 2.0, 3.0])
    fit = fit_log_linear(n, 5.0 * np.arange(4) + 10.0)
    assert fit.slope == pytest.approx(5.0)
    assert fit.intercept == pytest.approx(10.0)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.predict(math.e ** 2) == pytest.approx(20.0)


def test_hand_computed_regression():
    # x = ln n = (0, 1, 2) exactly; y = (1, 2, 4): x̄ = 1, ȳ = 7/3, Sxy = 3, Sxx = 2, Syy = 14/3
    # slope = 1.5, intercept = 7/3 - 1.5 = 5/6, r² = Sxy² / (Sxx·Syy) = 9 / (28/3) = 27/28
    fit = fit_log_linear(np.exp([0.0, 1.0, 2.0]), [1.0, 2.0, 4.0])
    assert fit.slope == pytest.approx(1.5)
    assert fit.intercept == pytest.approx(5.0 / 6.0)
    assert fit.r2 == pytest.approx(27.0 / 28.0)
    assert fit.points == 3


def test_effective_size_inverts_the_fit():
    fit = fit_log_linear([10, 100, 1000], [20.0, 30.0, 40.0])  # slope 10/ln 10
    assert fit.effective_size(30.0) == pytest.approx(100.0)
    assert fit.effective_size(35.0) == pytest.approx(10 ** 2.5)


def test_data_efficiency_definition():
    # Eq. 4: an augmented set worth 150 originals against 100 is DE = 50 %
    assert data_efficiency(100.0, 150.0) == pytest.approx(50.0)
    assert data_efficiency(100.0, 200.0) == pytest.approx(100.0)
    assert data_efficiency(80.0, 60.0) == pytest.approx(-25.0)


def test_efficiency_table_hand_computed():
    import pandas as pd

    fit = fit_log_linear([10, 100, 1000], [20.0, 30.0, 40.0])
    base = pd.DataFrame({"pq": [20.0, 30.0]}, index=[10, 100])
    aug = pd.DataFrame({"pq": [25.0, 30.0]}, index=[10, 100])
    table = efficiency_table({"pq": fit}, base, aug)
    assert list(table.columns) == ["images", "metric", "n_orig", "n_aug", "de"]
    assert table.n_orig.tolist() == pytest.approx([10.0, 100.0])
    assert table.n_aug.tolist() == pytest.approx([10 ** 1.5, 100.0])
    assert table.de.tolist() == pytest.approx([(10 ** 1.5 - 10) / 10 * 100, 0.0])


def test_fit_rejects_a_single_size():
    with pytest.raises(PanbenchError, match="two training-set sizes"):
        fit_log_linear([10, 10], [1.0, 2.0])


def test_bootstrap_band_brackets_the_fit_and_needs_seeds():
    n = np.repeat([10, 100, 1000], 3)
    rng = np.random.default_rng(0)
    metric = 4.0 * np.log(n) + 5.0 + rng.normal(0, 0.5, n.size)
    grid = np.array([10.0, 100.0, 1000.0])
    lo, hi = bootstrap_band(n, metric, grid, resamples=400)
    centre = fit_log_linear(n, metric).predict(grid)
    assert np.all(lo <= centre) and np.all(centre <= hi)
    assert np.all(hi - lo < 3.0)
    assert bootstrap_band([10, 100, 1000], [1.0, 2.0, 3.0], grid) is None


def test_flat_curve_gives_no_efficiency():
    import pandas as pd

    flat = fit_log_linear([10, 100], [0.0, 0.0])  # e.g. AP = 0 at every size after a short run
    table = efficiency_table({"ap": flat}, pd.DataFrame({"ap": [0.0]}, index=[10]),
                             pd.DataFrame({"ap": [1.0]}, index=[10]))
    assert table[["n_orig", "n_aug", "de"]].isna().all().all()
