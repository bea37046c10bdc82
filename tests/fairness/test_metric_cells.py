"""The gap from (group, label, prediction) cell counts: large inputs, and runs on folds."""

import numpy as np
import pytest

from trifront.errors import DataError
from trifront.fairness.metrics import (
    _METRICS,
    COMPRESS_ABOVE,
    FAIRNESS_METRICS,
    confusion_cells,
    gap_sampling_se,
    run_gap,
    unfairness,
)


@pytest.mark.parametrize("metric", FAIRNESS_METRICS)
def test_cell_counts_give_fairlearns_value_exactly(metric):
    rng = np.random.default_rng(1)
    n = COMPRESS_ABOVE + 20_001
    groups = rng.choice(["a", "b", "c"], n)
    y_true = rng.integers(0, 2, n)
    y_pred = (rng.random(n) < np.where(groups == "a", 0.2, 0.45)).astype(np.int64)
    direct = float(_METRICS[metric][0](y_true, y_pred, sensitive_features=groups))
    assert unfairness(y_true, y_pred, sensitive_features=groups, metric=metric) == direct


@pytest.mark.parametrize("metric", ["demographic_parity", "equalized_odds",
                                    "equal_opportunity"])
def test_run_gap_of_one_scoring_is_fairlearns_gap_of_its_rows(metric):
    rng = np.random.default_rng(2)
    n = 3000
    groups = rng.integers(0, 2, n)
    y_true = rng.integers(0, 2, n)
    y_pred = (rng.random(n) < np.where(groups == 0, 0.3, 0.4)).astype(np.int64)
    cells = confusion_cells(y_true, y_pred, sensitive_features=groups)
    assert sum(c[3] for c in cells) == n
    whole = unfairness(y_true, y_pred, sensitive_features=groups, metric=metric)
    assert run_gap([cells], metric=metric) == pytest.approx(whole, abs=1e-12)


def _dp_cells(rate0: float, rate1: float, n: int) -> list[list[int]]:
    """One scoring's cells: ``n`` rows per group at the given positive-decision rates."""
    k0, k1 = round(rate0 * n), round(rate1 * n)
    return [[0, 0, 1, k0], [0, 0, 0, n - k0], [1, 0, 1, k1], [1, 0, 0, n - k1]]


def test_run_gap_drops_each_folds_sampling_noise():
    # Small folds (100 rows per group): gaps of +0.05 and -0.05 are within each fold's
    # sampling noise (standard error 0.063), so a run's expected gap is the gap of all the
    # rows (0), where the mean of the runs' own gaps would say 0.05.
    runs = [_dp_cells(0.30, 0.25, 100), _dp_cells(0.25, 0.30, 100)] * 3
    own = [run_gap([c], metric="demographic_parity") for c in runs]
    assert own == pytest.approx([0.05] * 6)
    assert run_gap(runs, metric="demographic_parity") == pytest.approx(0.0)


def test_run_gap_keeps_a_spread_beyond_the_sampling_noise():
    # Large folds (10,000 rows per group): runs at +0.06 and -0.06 are models with those
    # gaps, not noise. The gap of all the rows (0) would hide them; a run's is about 0.06.
    runs = [_dp_cells(0.36, 0.30, 10_000), _dp_cells(0.30, 0.36, 10_000)] * 3
    assert run_gap(runs, metric="demographic_parity") == pytest.approx(0.06, abs=0.006)
    # Runs that agree: the gap of all the rows, whatever the folds' size.
    same = [_dp_cells(0.36, 0.30, 10_000)] * 4
    assert run_gap(same, metric="demographic_parity") == pytest.approx(0.06)
    assert np.isnan(run_gap(same, metric="demographic_parity_ratio"))


def test_confusion_cells_need_integer_group_codes():
    with pytest.raises(DataError, match="integer group codes"):
        confusion_cells(np.array([0, 1]), np.array([1, 1]), sensitive_features=np.array(["a", "b"]))
    with pytest.raises(DataError, match="at least one"):
        run_gap([], metric="demographic_parity")


def test_gap_sampling_se_is_the_binomial_error_of_the_difference_the_gap_reports():
    # Group 0: 100 rows, 30 positive decisions; group 1: 400 rows, 40 (label 0 throughout).
    cells = [[0, 0, 1, 30], [0, 0, 0, 70], [1, 0, 1, 40], [1, 0, 0, 360]]
    want = (0.3 * 0.7 / 100 + 0.1 * 0.9 / 400) ** 0.5
    assert gap_sampling_se(cells, metric="demographic_parity") == pytest.approx(want)
    # Equalized odds reports the false-positive-rate difference here (no positives).
    assert gap_sampling_se(cells, metric="equalized_odds") == pytest.approx(want)
    # Four times the rows: half the error.
    more = [[g, t, p, 4 * n] for g, t, p, n in cells]
    assert gap_sampling_se(more, metric="demographic_parity") == pytest.approx(want / 2)
    assert np.isnan(gap_sampling_se(cells, metric="demographic_parity_ratio"))
