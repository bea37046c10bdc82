"""Validation re-evaluations score every run on rows it did not train on, one fold each."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict

import numpy as np
import optuna
import pytest
from handmade import DISTRIBUTIONS

from trifront.analysis.reevaluate import VAL_SCORING, reevaluate, run_problem
from trifront.fairness.metrics import run_gap
from trifront.problem import Problem
from trifront.study import ATTR_KEY
from trifront.trial import evaluate

PARAMS = {"target_epsilon": 2.0, "clip": 1.0, "lr": 0.5, "batch_size": 64, "epochs": 2}


def _study(problem: Problem) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.set_user_attr(ATTR_KEY, {"problem": asdict(problem), "seed": 0,
                                   "majority_rate": 0.7, "reference_point": [0.7, 10, 0.5]})
    study.add_trial(optuna.trial.create_trial(params=PARAMS, distributions=DISTRIBUTIONS,
                                              values=[0.8, 2.0, 0.1], user_attrs={"seed": 3}))
    return study


def test_each_validation_run_holds_out_its_own_fold():
    # One validation split: run r trains without fold r mod 5 and is scored on it, so the
    # five runs score every non-test row once instead of sharing one split's sampling noise.
    problem = Problem(dataset="german", cv_folds=1, reproducible=True)
    study = _study(problem)
    points = reevaluate(study, n_seeds=5, progress=False, split="val")
    entry = study.user_attrs["val_eval:0"]
    assert entry["scoring"] == VAL_SCORING
    runs = entry["runs"]
    assert [(r["seed"], r["fold"]) for r in runs] == [(3 + k, k) for k in range(5)]
    for k, run in enumerate(runs):
        by_hand = evaluate(dataclasses.replace(problem, cv_folds=5, fold=k), PARAMS,
                           seed=3 + k, split="val")
        assert run["accuracy"] == pytest.approx(by_hand.accuracy, abs=1e-12)
        assert run["unfairness"] == pytest.approx(by_hand.unfairness, abs=1e-12)
    assert points.loc[0, "val_mean_accuracy"] == pytest.approx(
        np.mean([r["accuracy"] for r in runs]))
    # The runs' decisions: every non-test row once, and a run's expected gap from them.
    ds = problem.data()
    assert sum(c[3] for r in runs for c in r["cells"]) == len(ds.train) + len(ds.val)
    assert points.loc[0, "val_run_gap"] == pytest.approx(
        run_gap([r["cells"] for r in runs], metric=problem.fairness))
    # Not the standard validation split: the held-out folds are other rows.
    fold0 = dataclasses.replace(problem, cv_folds=5, fold=0).data().val
    standard = problem.data().val
    assert len(fold0) == pytest.approx(len(standard), abs=1)
    assert not np.array_equal(fold0.y[: len(standard)], standard.y[: len(fold0)])


def test_a_cache_scored_on_the_one_split_is_retrained_not_mixed_in():
    problem = Problem(dataset="german", cv_folds=1, reproducible=True)
    study = _study(problem)
    stale = [{"seed": 3 + k, "accuracy": 0.123, "unfairness": 0.5, "epsilon": 2.0,
              "train_seconds": 0.0} for k in range(2)]
    study.set_user_attr("val_eval:0", {"params": PARAMS, "runs": stale})  # no "scoring"
    points = reevaluate(study, n_seeds=2, progress=False, split="val")
    assert points.loc[0, "val_mean_accuracy"] != pytest.approx(0.123)
    assert [r["fold"] for r in study.user_attrs["val_eval:0"]["runs"]] == [0, 1]
    # Marked as fold-scored, the same cache is used as it is.
    study.set_user_attr("val_eval:0", {"params": PARAMS, "runs": stale, "scoring": VAL_SCORING})
    points = reevaluate(study, n_seeds=2, progress=False, split="val")
    assert points.loc[0, "val_mean_accuracy"] == pytest.approx(0.123)


def test_test_runs_and_cross_validated_studies_keep_their_problem():
    single = Problem(dataset="german", cv_folds=1)
    assert run_problem(single, "test", 3) == (single, None)
    assert run_problem(single, "val", 7) == (dataclasses.replace(single, cv_folds=5, fold=2), 2)
    cv = Problem(dataset="german", cv_folds=5)  # every run scores all five folds
    assert run_problem(cv, "val", 3) == (cv, None)
