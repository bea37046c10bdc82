"""Cross-validated trials on small data: folds, the public schedule, and the auto default."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from trifront.crossval import CV_BELOW, auto_folds, scored_majority_rate
from trifront.datasets.folds import fold_dataset
from trifront.errors import ConfigError
from trifront.problem import Problem
from trifront.settings import Settings
from trifront.trial import evaluate

PARAMS = {"target_epsilon": 2.0, "clip": 1.0, "lr": 0.5, "batch_size": 64, "epochs": 5}


def test_the_folds_partition_the_non_test_rows_and_keep_the_training_size():
    ds = Problem(dataset="german").data()
    pooled = np.concatenate([ds.train.X, ds.val.X])
    held = [fold_dataset(ds, fold=k, folds=5) for k in range(5)]
    sizes = [len(f.val) for f in held]
    assert sum(sizes) == len(pooled) and max(sizes) - min(sizes) <= 1
    seen = np.concatenate([f.val.X for f in held])
    assert sorted(map(bytes, seen)) == sorted(map(bytes, pooled))  # each row held out once
    for f in held:
        assert abs(len(f.train) - ds.n_train) <= 1
        assert f.n_train_public == ds.n_train_public and f.test is ds.test
    again = fold_dataset(ds, fold=2, folds=5)
    np.testing.assert_array_equal(again.val.X, held[2].val.X)


def test_fold_arguments_are_checked():
    ds = Problem(dataset="german").data()
    with pytest.raises(ConfigError, match="needs 5 folds"):
        fold_dataset(ds, fold=0, folds=3)
    with pytest.raises(ConfigError, match="0 <= fold < 5"):
        fold_dataset(ds, fold=5, folds=5)
    with pytest.raises(ConfigError, match="cv_folds must be 1"):
        Problem(dataset="german", cv_folds=3)


def test_a_cross_validated_trial_is_the_mean_over_its_folds_with_the_same_schedule():
    problem = Problem(dataset="german", cv_folds=5, reproducible=True)
    cv = evaluate(problem, PARAMS, seed=0)
    folds = [evaluate(dataclasses.replace(problem, fold=k), PARAMS, seed=0) for k in range(5)]
    assert cv.cv_folds == 5
    assert cv.accuracy == pytest.approx(np.mean([f.accuracy for f in folds]))
    assert cv.unfairness == pytest.approx(np.mean([f.unfairness for f in folds]))
    assert cv.accuracy_se == pytest.approx(np.std([f.accuracy for f in folds], ddof=1) / 5**0.5)
    single = evaluate(dataclasses.replace(problem, cv_folds=1), PARAMS, seed=0)
    for key in ("sample_rate", "steps", "noise_multiplier", "epsilon", "n_train"):
        assert getattr(cv, key) == getattr(single, key), key
    assert single.cv_folds == 1 and np.isnan(single.accuracy_se)
    # The test split is scored on the standard split, never cross-validated.
    assert evaluate(problem, PARAMS, seed=0, split="test").cv_folds == 1


def test_small_data_sets_cross_validate_by_default():
    assert auto_folds(640) == 5 and auto_folds(CV_BELOW) == 1
    assert Settings(dataset="german").problem().cv_folds == 5
    assert Settings(dataset="adult").problem().cv_folds == 1
    assert Settings(dataset="german", cv_folds=1).problem().cv_folds == 1


def test_the_constant_predictor_is_scored_where_the_trials_are():
    ds = Problem(dataset="german").data()
    assert scored_majority_rate(ds, cv_folds=1) == ds.majority_rate
    pooled = np.concatenate([ds.train.y, ds.val.y]).mean()
    assert scored_majority_rate(ds, cv_folds=5) == pytest.approx(max(pooled, 1 - pooled))


def test_every_caveat_box_says_cross_validation_read_the_training_rows(tmp_path):
    # With CV every non-test row was a validation row: the report and the model card
    # must not claim that only "validation rows" were read without privacy.
    from trifront.caveats import single_epsilon_caveats
    from trifront.cli import main

    assert not any("cross-validation" in c for c in single_epsilon_caveats(
        delta=1e-5, n_trials=3))
    db, out = tmp_path / "cv.db", tmp_path / "rep"
    assert main(["run", "--dataset", "german", "--trials", "1", "--jobs", "1",
                 "--storage", f"sqlite:///{db}", "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    assert main(["report", "--storage", f"sqlite:///{db}", "--out", str(out),
                 "--no-reevaluate", "--no-png", "--no-progress"]) == 0
    summary = (out / "summary.md").read_text()
    assert "5-fold cross-validation" in summary and "training rows included" in summary
