"""A trial's validation score by k-fold cross-validation (small data sets).

:func:`cross_validated` trains one configuration ``k`` times, each on the
non-test rows minus one fold, and scores each model on its held-out fold
(:mod:`trifront.datasets.folds`). The trial's accuracy and gap are the means
over the folds, with their standard errors; every non-test row is scored once.

Privacy: each fold's training is one DP-SGD run with the same public schedule
(q, T, sigma from the public row count), so the trial's epsilon is that of one
run, as for a single split. The search's own cost (many runs on the same rows)
is what the report's "What ε does not cover" and ``--tuning-privacy`` speak of;
the model a user deploys is trained once, on the standard training split.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from trifront.datasets import Dataset
from trifront.problem import Problem, TrialResult

__all__ = ["CV_BELOW", "auto_folds", "cross_validated", "scored_majority_rate"]

#: Below this many public training rows a study cross-validates each trial by
#: default: German credit (640) and COMPAS (3,378) do, Adult (26,049) does not.
#: Measured in bench/RESULTS.md ("small data").
CV_BELOW = 10_000


def auto_folds(n_public: int) -> int:
    """The default ``cv_folds`` for a data set with ``n_public`` training rows."""
    from trifront.datasets.folds import folds_for
    from trifront.problem import VAL_FRACTION

    return folds_for(VAL_FRACTION) if n_public < CV_BELOW else 1


def scored_majority_rate(ds: Dataset, *, cv_folds: int) -> float:
    """The constant predictor's accuracy on the rows the trials are scored on.

    The validation split's majority rate, or with cross-validation that of
    every non-test row (each is scored once): the floor of the utility axis.
    """
    if cv_folds <= 1:
        return ds.majority_rate
    p = float(np.concatenate([ds.train.y, ds.val.y]).mean())
    return max(p, 1.0 - p)


def cross_validated(
    problem: Problem, params: Mapping[str, Any], *, seed: int,
    evaluate: Callable[..., TrialResult],
) -> TrialResult:
    """Train on each fold's complement, score on the fold; mean and standard error.

    Args:
        problem: The study's problem, with ``cv_folds > 1``.
        params: The configuration.
        seed: The public seed (the same initialisation for every fold).
        evaluate: The single-split pipeline, :func:`trifront.trial.evaluate`
            (passed in, so this module does not import the pipeline).

    Returns:
        The first fold's result with ``accuracy`` and ``unfairness`` replaced
        by the means over the folds, ``accuracy_se``/``unfairness_se`` their
        standard errors, ``cv_folds`` set and the training time summed.
    """
    folds = [evaluate(dataclasses.replace(problem, fold=k), params, seed=seed, split="val")
             for k in range(problem.cv_folds)]
    first = folds[0]
    schedule = {(r.sample_rate, r.steps, r.noise_multiplier, r.epsilon) for r in folds}
    if len(schedule) != 1:  # the public count is the same for every fold; so is the run
        raise RuntimeError(f"the folds ran different privacy schedules: {sorted(schedule)}.")
    acc = np.array([r.accuracy for r in folds])
    gap = np.array([r.unfairness for r in folds])

    def se(a: np.ndarray) -> float:
        return float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else math.nan

    return dataclasses.replace(
        first, accuracy=float(acc.mean()), unfairness=float(gap.mean()),
        accuracy_se=se(acc), unfairness_se=se(gap), cv_folds=len(folds),
        train_seconds=float(sum(r.train_seconds for r in folds)),
        eval_seconds=float(sum(r.eval_seconds for r in folds)),
    )
