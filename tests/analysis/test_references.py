"""The report's non-private references: tuned for themselves, scored once on test, cached."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from sklearn.linear_model import LogisticRegression

from trifront.analysis import references as refs
from trifront.analysis.references import LOGREG_C, fair_nonprivate, references, tuned_nonprivate
from trifront.fairness import unfairness
from trifront.problem import Problem
from trifront.trial import evaluate


def test_the_tuned_logreg_is_the_best_c_on_validation():
    problem = Problem(dataset="german")
    ref = tuned_nonprivate(problem)
    ds = problem.data()
    val = {C: LogisticRegression(C=C, max_iter=300).fit(ds.train.X.astype(float), ds.train.y)
           .score(ds.val.X.astype(float), ds.val.y) for C in LOGREG_C}
    assert ref.params["C"] == max(val, key=lambda c: (val[c], -LOGREG_C.index(c)))
    assert ref.val_accuracy == pytest.approx(val[ref.params["C"]])
    assert 0.5 < ref.test_accuracy <= 1 and ref.limit is None
    assert "chosen on validation" in ref.method


def test_the_tuned_reference_is_not_the_dp_configuration_with_its_noise_off():
    # The old reference: DP-SGD hyperparameters with clipping and noise switched off,
    # tuned for noisy training. The tuned model must do at least as well on validation.
    problem = Problem(dataset="compas")
    dp_params = {"target_epsilon": float("inf"), "clip": 1.0, "lr": 0.05, "batch_size": 512,
                 "epochs": 1}
    untuned = evaluate(problem, dp_params, seed=0)
    assert tuned_nonprivate(problem).val_accuracy >= untuned.accuracy


def test_the_fair_reference_meets_its_limit_where_the_unconstrained_one_does_not():
    problem = Problem(dataset="compas")  # race gap of the unconstrained model is large
    tuned = tuned_nonprivate(problem)
    fair = fair_nonprivate(problem, limit=0.05, C=tuned.params["C"])
    assert tuned.test_unfairness > 0.1
    assert fair.test_unfairness < tuned.test_unfairness / 2
    assert fair.limit == 0.05 and "ExponentiatedGradient" in fair.method
    # The gap it reports is the study's metric of its own test predictions.
    assert 0 <= fair.test_unfairness <= 1 and fair.test_accuracy > 0.5


@pytest.mark.parametrize("metric", ["equalized_odds", "equal_opportunity",
                                    "demographic_parity_ratio"])
def test_each_metric_has_its_fairlearn_constraint(metric):
    fair = fair_nonprivate(Problem(dataset="german", fairness=metric), limit=0.05, C=1.0)
    assert np.isfinite(fair.test_unfairness)


def test_references_are_cached_in_the_study(monkeypatch):
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    problem = Problem(dataset="german")
    first = references(study, problem, limits=(0.05,))
    assert [r.limit for r in first] == [None, 0.05]

    def boom(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(refs, "tuned_nonprivate", boom)
    monkeypatch.setattr(refs, "fair_nonprivate", boom)
    assert references(study, problem, limits=(0.05,)) == first


def test_unfairness_is_recomputed_from_predictions():
    # A guard on _scores: the gap is the Fairlearn metric of the hard predictions.
    ds = Problem(dataset="german").data()
    y_pred = np.ones_like(ds.test.y)
    acc, gap = refs._scores(y_pred, ds.test, "demographic_parity")
    assert gap == pytest.approx(unfairness(ds.test.y, y_pred, sensitive_features=ds.test.s))
    assert acc == pytest.approx(ds.test.y.mean())
