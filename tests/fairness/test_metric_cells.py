"""The gap from (group, label, prediction) cell counts: large inputs, and pooled scorings."""

import numpy as np
import pytest

from trifront.errors import DataError
from trifront.fairness.metrics import (
    _METRICS,
    COMPRESS_ABOVE,
    FAIRNESS_METRICS,
    confusion_cells,
    gap_sampling_se,
    pooled_unfairness,
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


@pytest.mark.parametrize("metric", FAIRNESS_METRICS)
def test_pooled_cells_of_disjoint_parts_give_the_gap_of_all_rows(metric):
    rng = np.random.default_rng(2)
    n = 3000
    groups = rng.integers(0, 2, n)
    y_true = rng.integers(0, 2, n)
    y_pred = (rng.random(n) < np.where(groups == 0, 0.3, 0.4)).astype(np.int64)
    parts = np.array_split(np.arange(n), 3)
    cells = [confusion_cells(y_true[i], y_pred[i], sensitive_features=groups[i]) for i in parts]
    assert sum(c[3] for part in cells for c in part) == n
    whole = unfairness(y_true, y_pred, sensitive_features=groups, metric=metric)
    assert pooled_unfairness(cells, metric=metric) == pytest.approx(whole, abs=1e-12)


def test_pooling_does_not_add_each_parts_sampling_noise():
    # Two halves with opposite gaps (0.2 each way): each half's own gap is 0.2, the
    # rows together are at parity, and the pooled gap says so.
    y_true = np.zeros(400, dtype=np.int64)
    groups = np.repeat([0, 1, 0, 1], 100)
    y_pred = np.concatenate([np.r_[np.ones(30), np.zeros(70)], np.r_[np.ones(10), np.zeros(90)],
                             np.r_[np.ones(10), np.zeros(90)], np.r_[np.ones(30), np.zeros(70)]])
    halves = [slice(0, 200), slice(200, 400)]
    own = [unfairness(y_true[h], y_pred[h], sensitive_features=groups[h]) for h in halves]
    assert own == pytest.approx([0.2, 0.2])
    cells = [confusion_cells(y_true[h], y_pred[h], sensitive_features=groups[h]) for h in halves]
    assert pooled_unfairness(cells, metric="demographic_parity") == pytest.approx(0.0)


def _dp_cells(rate0: float, rate1: float, n: int) -> list[list[int]]:
    """One scoring's cells: ``n`` rows per group at the given positive-decision rates."""
    k0, k1 = round(rate0 * n), round(rate1 * n)
    return [[0, 0, 1, k0], [0, 0, 0, n - k0], [1, 0, 1, k1], [1, 0, 0, n - k1]]


def test_run_gap_drops_each_folds_sampling_noise():
    # Small folds (100 rows per group): gaps of +0.05 and -0.05 are within each fold's
    # sampling noise (standard error 0.063), so a run's expected gap is the gap of all the
    # rows (0), where the mean of the runs' own gaps would say 0.05.
    runs = [_dp_cells(0.30, 0.25, 100), _dp_cells(0.25, 0.30, 100)] * 3
    own = [pooled_unfairness([c], metric="demographic_parity") for c in runs]
    assert own == pytest.approx([0.05] * 6)
    assert run_gap(runs, metric="demographic_parity") == pytest.approx(0.0)


def test_run_gap_keeps_a_spread_beyond_the_sampling_noise():
    # Large folds (10,000 rows per group): runs at +0.06 and -0.06 are models with those
    # gaps, not noise. The gap of all the rows (0) would hide them; a run's is about 0.06.
    runs = [_dp_cells(0.36, 0.30, 10_000), _dp_cells(0.30, 0.36, 10_000)] * 3
    assert pooled_unfairness(runs, metric="demographic_parity") == pytest.approx(0.0)
    assert run_gap(runs, metric="demographic_parity") == pytest.approx(0.06, abs=0.006)
    # Runs that agree: the gap of all the rows, whatever the folds' size.
    same = [_dp_cells(0.36, 0.30, 10_000)] * 4
    assert run_gap(same, metric="demographic_parity") == pytest.approx(0.06)
    assert np.isnan(run_gap(same, metric="demographic_parity_ratio"))


def test_confusion_cells_need_integer_group_codes():
    with pytest.raises(DataError, match="integer group codes"):
        confusion_cells(np.array([0, 1]), np.array([1, 1]), sensitive_features=np.array(["a", "b"]))
    with pytest.raises(DataError, match="at least one"):
        pooled_unfairness([], metric="demographic_parity")
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
