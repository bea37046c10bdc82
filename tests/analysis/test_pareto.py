"""Pareto set and hypervolume: properties, hand-computed values, the study front."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from trifront.analysis import hypervolume, hypervolume_history, pareto_front, pareto_mask
from trifront.errors import ConfigError
from trifront.objectives import DIRECTIONS

REF = (0.5, 10.0, 0.5)  # (accuracy, epsilon, unfairness)

# Small grids make ties and duplicates common, the interesting cases for dominance.
_values = arrays(
    np.float64,
    st.tuples(st.integers(1, 12), st.just(3)),
    elements=st.sampled_from([0.0, 0.1, 0.2, 0.3, 0.5, 1.0]),
)


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Slow, obviously correct dominance in (max, min, min)."""
    sa = np.array([a[0], -a[1], -a[2]])
    sb = np.array([b[0], -b[1], -b[2]])
    return bool((sa >= sb).all() and (sa > sb).any())


@settings(max_examples=150, deadline=None)
@given(_values)
def test_no_front_member_is_dominated(values: np.ndarray) -> None:
    mask = pareto_mask(values)
    for i in np.flatnonzero(mask):
        assert not any(_dominates(values[j], values[i]) for j in range(len(values)))


@settings(max_examples=150, deadline=None)
@given(_values)
def test_every_non_member_is_dominated_by_a_member(values: np.ndarray) -> None:
    mask = pareto_mask(values)
    assert mask.any()
    for i in np.flatnonzero(~mask):
        assert any(_dominates(values[j], values[i]) for j in np.flatnonzero(mask))


@settings(max_examples=100, deadline=None)
@given(_values, st.randoms(use_true_random=False))
def test_mask_is_invariant_to_row_permutation(values: np.ndarray, rnd) -> None:
    perm = np.arange(len(values))
    rnd.shuffle(perm)
    np.testing.assert_array_equal(pareto_mask(values)[perm], pareto_mask(values[perm]))


def test_duplicates_are_kept_and_nan_rows_are_never_on_the_front() -> None:
    values = np.array([[0.9, 1.0, 0.1], [0.9, 1.0, 0.1], [np.nan, 0.01, 0.0], [0.8, 2.0, 0.2]])
    np.testing.assert_array_equal(pareto_mask(values), [True, True, False, False])


def test_directions_accept_names_and_reject_unknown_ones() -> None:
    values = np.array([[1.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(pareto_mask(values, ("minimize", "min")), [True, False])
    np.testing.assert_array_equal(pareto_mask(values, ("maximize", "maximise")), [False, True])
    with pytest.raises(ConfigError, match="unknown direction 'up'"):
        pareto_mask(values, ("up", "min"))
    with pytest.raises(ConfigError, match="Got 3 directions, but values have 2 columns"):
        pareto_mask(values, DIRECTIONS)


def test_hypervolume_of_a_hand_made_front() -> None:
    # Maximisation form (acc, -log10 eps, -gap), reference (0.5, -1, -0.5).
    # A = (0.9, 0, -0.1)  -> box 0.4 x 1 x 0.4 = 0.16
    # B = (0.8, 1, -0.2)  -> box 0.3 x 2 x 0.3 = 0.18
    # C = (0.7, 2, -0.4)  -> box 0.2 x 3 x 0.1 = 0.06
    # A^B = (0.8, 0, -0.2): 0.3*1*0.3 = 0.09; A^C = (0.7, 0, -0.4): 0.2*1*0.1 = 0.02
    # B^C = (0.7, 1, -0.4): 0.2*2*0.1 = 0.04; A^B^C = A^C = 0.02
    # Union = 0.16 + 0.18 + 0.06 - 0.09 - 0.02 - 0.04 + 0.02 = 0.27
    front = np.array([[0.9, 1.0, 0.1], [0.8, 0.1, 0.2], [0.7, 0.01, 0.4]])
    assert hypervolume(front, reference_point=REF) == pytest.approx(0.27, abs=1e-12)
    # A dominated point, a point beyond the reference and a NaN row add nothing.
    extra = np.array([[0.6, 1.0, 0.3], [0.95, 20.0, 0.0], [np.nan, np.nan, np.nan]])
    assert hypervolume(np.vstack([front, extra]), reference_point=REF) == pytest.approx(0.27)


def test_hypervolume_of_points_not_beating_the_reference_is_zero() -> None:
    on_ref = np.array([[0.5, 1.0, 0.1], [0.9, 10.0, 0.1], [0.9, 1.0, 0.5]])
    assert hypervolume(on_ref, reference_point=REF) == 0.0
    with pytest.raises(ConfigError, match="Got 2 elements, but expected 3"):
        hypervolume(on_ref, reference_point=(0.5, 10.0))


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 15), st.just(3)),
        elements=st.floats(0.01, 1.0),
    ),
    st.lists(st.booleans(), min_size=15, max_size=15),
)
def test_hypervolume_history_is_monotone_and_ends_at_the_total(
    raw: np.ndarray, failed: list[bool]
) -> None:
    values = raw * np.array([1.0, 20.0, 1.0])  # epsilon in (0.2, 20)
    values[np.array(failed[: len(values)])] = np.nan
    history = hypervolume_history(values, reference_point=REF)
    assert history.shape == (len(values),)
    assert (np.diff(history) >= -1e-12).all()
    assert history[-1] == pytest.approx(hypervolume(values, reference_point=REF))
    for i in np.flatnonzero(np.isnan(values).any(axis=1)):
        assert history[i] == (history[i - 1] if i else 0.0)


def test_pareto_front_of_a_study() -> None:
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    rows = [(0.9, 1.0, 0.1), (0.8, 0.1, 0.2), (0.7, 2.0, 0.3), (0.9, 1.0, 0.1)]
    for i, values in enumerate(rows):
        trial = study.ask()
        trial.suggest_float("epsilon", 0.1, 10.0, log=True)
        trial.set_user_attr("timing", {"train": float(i)})
        study.tell(trial, values)
    failed = study.ask()
    study.tell(failed, state=optuna.trial.TrialState.FAIL)

    front = pareto_front(study)
    assert list(front["trial"]) == [1, 0, 3]  # sorted by epsilon, ties by number
    assert list(front.columns[:4]) == ["trial", "accuracy", "epsilon", "unfairness"]
    assert "params_epsilon" in front.columns
    assert list(front["user_attrs_timing.train"]) == [1.0, 0.0, 3.0]
    assert math.isclose(front["accuracy"].iloc[0], 0.8)


def test_pareto_front_of_an_empty_study_has_the_columns() -> None:
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    assert list(pareto_front(study).columns) == ["trial", "accuracy", "epsilon", "unfairness"]
    with pytest.raises(ConfigError, match="has 1"):
        pareto_front(optuna.create_study())


def test_the_constant_predictor_dominates_what_is_no_more_accurate():
    from trifront.analysis.pareto import front_mask, with_constant

    values = np.array([[0.70, 0.5, 0.00],    # below the majority rate: dominated
                       [0.75, 0.1, 0.00],    # equal to it: dominated (epsilon > 0)
                       [0.80, 1.0, 0.05],    # on the front
                       [0.79, 2.0, 0.06]])   # dominated by the previous one
    assert front_mask(values, majority_rate=0.75).tolist() == [False, False, True, False]
    assert front_mask(values, majority_rate=None).tolist() == [False, True, True, False]
    table = with_constant(pd.DataFrame({"trial": [2], "accuracy": [0.8], "epsilon": [1.0],
                                        "unfairness": [0.05]}), 0.75)
    assert table["configuration"].tolist() == ["constant predictor", "DP-SGD"]
    assert table.iloc[0][["accuracy", "epsilon", "unfairness"]].tolist() == [0.75, 0.0, 0.0]


def test_pareto_front_of_a_study_leaves_out_what_the_constant_predictor_beats():
    from handmade import make_study

    from trifront.analysis.pareto import pareto_front

    study = make_study(trials=[(0.80, 0.3, 0.03, 0.8, 0.03), (0.70, 0.1, 0.01, 0.7, 0.01)])
    assert pareto_front(study)["trial"].tolist() == [0]  # 0.70 < majority 0.76


# ---- 2-D studies (--objectives) -------------------------------------------------------------

def _staircase_area(acc: np.ndarray, eps: np.ndarray, ref_acc: float, ref_eps: float) -> float:
    """2-D hypervolume of (accuracy up, -log10 eps up), written out as a staircase."""
    pts = sorted((-math.log10(e), a) for a, e in zip(acc, eps, strict=True)
                 if a > ref_acc and e < ref_eps)
    area, best = 0.0, ref_acc
    # sweep from the most private point: each x-interval is covered up to the best accuracy
    # of the points at least that private
    xs = [x for x, _ in pts]
    for i in range(len(pts) - 1, -1, -1):
        best = max(best, pts[i][1])
        left = xs[i - 1] if i > 0 else -math.log10(ref_eps)
        area += (xs[i] - left) * (best - ref_acc)
    return area


@settings(max_examples=40, deadline=None)
@given(arrays(float, (7, 3), elements=st.floats(0.01, 0.99)))
def test_a_privacy_utility_hypervolume_is_the_2d_area_whatever_the_gaps(raw: np.ndarray) -> None:
    values = raw.copy()
    values[:, 1] = 10 ** (raw[:, 1] * 3 - 2)  # epsilon in [0.01, 10]
    ref = (0.3, 10.0, 0.5)
    two_d = ("accuracy", "epsilon")
    got = hypervolume(values, reference_point=ref, objectives=two_d)
    assert got == pytest.approx(_staircase_area(values[:, 0], values[:, 1], 0.3, 10.0),
                                abs=1e-9)
    shuffled = values.copy()
    shuffled[:, 2] = np.random.default_rng(0).uniform(0, 1, len(values))  # gaps past the ref too
    assert hypervolume(shuffled, reference_point=ref, objectives=two_d) == pytest.approx(got)
    history = hypervolume_history(values, reference_point=ref, objectives=two_d)
    assert history[-1] == pytest.approx(got)


def test_a_2d_front_ignores_the_objective_it_does_not_search() -> None:
    from trifront.analysis.pareto import front_mask

    values = np.array([
        [0.80, 1.0, 0.20],  # best accuracy at the lowest epsilon: on both fronts
        [0.75, 2.0, 0.01],  # fairer, so on the 3-D front; dominated in (accuracy, epsilon)
        [0.70, 0.5, 0.30],  # most private: on both
    ])
    assert front_mask(values, majority_rate=None).tolist() == [True, True, True]
    assert front_mask(values, majority_rate=None,
                      objectives=("accuracy", "epsilon")).tolist() == [True, False, True]
    assert front_mask(values, majority_rate=None,
                      objectives=("accuracy", "unfairness")).tolist() == [True, True, False]
    assert front_mask(values, majority_rate=0.72,
                      objectives=("accuracy", "epsilon")).tolist() == [True, False, False]


@pytest.mark.parametrize("text, expected", [
    ("accuracy,epsilon,unfairness", ("accuracy", "epsilon", "unfairness")),
    ("epsilon, accuracy", ("accuracy", "epsilon")),
    ("accuracy,unfairness", ("accuracy", "unfairness")),
])
def test_objective_sets_are_read_in_a_fixed_order(text: str, expected: tuple[str, ...]) -> None:
    from trifront.objectives import parse_objectives

    assert parse_objectives(text) == expected


@pytest.mark.parametrize("text", ["accuracy", "epsilon,unfairness", "accuracy,accuracy",
                                  "accuracy,privacy", ""])
def test_other_objective_sets_are_refused_with_the_accepted_ones(text: str) -> None:
    from trifront.objectives import parse_objectives

    with pytest.raises(ConfigError, match=r"accepted: accuracy,epsilon,unfairness \| "):
        parse_objectives(text)
