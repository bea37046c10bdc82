"""The fairness gaps: hand-computed cases, orientation and validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trifront.errors import ConfigError, DataError
from trifront.fairness import FAIRNESS_METRICS, unfairness

# Group A: 4 examples, group B: 4 examples.
Y_TRUE = np.array([1, 1, 0, 0, 1, 1, 0, 0])
Y_PRED = np.array([1, 1, 1, 0, 1, 0, 0, 0])
GROUPS = np.array(["A"] * 4 + ["B"] * 4)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # selection rates: A 3/4, B 1/4
        ("demographic_parity", 0.5),
        # 1 - (1/4) / (3/4)
        ("demographic_parity_ratio", 1 - 1 / 3),
        # TPR: A 2/2, B 1/2 -> 0.5
        ("equal_opportunity", 0.5),
        # TPR diff 0.5, FPR: A 1/2, B 0/2 -> 0.5; max = 0.5
        ("equalized_odds", 0.5),
    ],
)
def test_hand_computed_gaps(metric, expected):
    assert unfairness(Y_TRUE, Y_PRED, sensitive_features=GROUPS, metric=metric) == pytest.approx(
        expected
    )


def test_equalized_odds_takes_the_larger_of_tpr_and_fpr_gaps():
    y_true = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    y_pred = np.array([1, 1, 1, 1, 1, 1, 0, 0])  # TPR equal, FPR A=1, B=0
    groups = np.array([0] * 4 + [1] * 4)
    assert unfairness(y_true, y_pred, sensitive_features=groups, metric="equal_opportunity") == 0
    assert unfairness(y_true, y_pred, sensitive_features=groups, metric="equalized_odds") == 1


def test_ratio_of_no_positive_decisions_is_parity():
    # 0/0 selection rates: Fairlearn's ratio is NaN; every group is treated alike.
    y_pred = np.zeros(6, dtype=int)
    gap = unfairness(np.array([0, 1, 0, 1, 0, 1]), y_pred,
                     sensitive_features=np.array([0, 0, 0, 1, 1, 1]),
                     metric="demographic_parity_ratio")
    assert gap == 0.0


def test_parity_is_zero():
    y_pred = np.array([1, 0, 1, 0])
    assert unfairness(y_pred, y_pred, sensitive_features=np.array([0, 0, 1, 1])) == 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 2)),
             min_size=6, max_size=40)
)
def test_gaps_lie_in_unit_interval(rows):
    y_true, y_pred, groups = (np.array(c) for c in zip(*rows, strict=True))
    if len(np.unique(groups)) < 2:
        return
    for metric in FAIRNESS_METRICS:
        value = unfairness(y_true, y_pred, sensitive_features=groups, metric=metric)
        assert 0.0 <= value <= 1.0


def test_unknown_metric_lists_the_accepted_ones():
    with pytest.raises(ConfigError, match="equalized_odds") as info:
        unfairness(Y_TRUE, Y_PRED, sensitive_features=GROUPS, metric="equalised_odds")
    assert "Did you mean 'equalized_odds'" in str(info.value)


def test_one_group_is_refused():
    with pytest.raises(DataError, match="two groups"):
        unfairness(Y_TRUE, Y_PRED, sensitive_features=np.zeros(8))
