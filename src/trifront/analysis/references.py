"""Non-private references the report measures the price of privacy and fairness against.

The price of privacy is only as honest as the model it is compared with. A
DP-SGD configuration with its noise switched off is tuned for noisy training,
so it understates what a non-private model reaches. The references here are
tuned for what they are, on the validation split, and scored once on test:

* **tuned non-private**, the same model class without privacy: for ``logreg``,
  scikit-learn's exact L2-regularised logistic regression over a grid of the
  inverse strength ``C``; for ``mlp``, trifront's own MLP trained without
  clipping or noise over a small grid of learning rates and epochs;
* **tuned non-private fair**, the ceiling of fairness without privacy:
  Fairlearn's ``ExponentiatedGradient`` reduction around that logistic
  regression, constrained to each of the report's gap limits for the study's
  metric. The sensitive attribute is used in training only.

Both use the private rows without any privacy protection: they are
comparisons, never candidates. Results are cached in the study (user
attributes ``reference:*``), as the test re-evaluations are.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import optuna

from trifront.datasets import Dataset, Split
from trifront.fairness import unfairness
from trifront.problem import Problem

__all__ = ["Reference", "fair_nonprivate", "references", "tuned_nonprivate"]

#: Inverse L2 strengths searched for the logistic regression.
LOGREG_C = (0.01, 0.1, 1.0, 10.0, 100.0)
#: (learning rate, epochs) searched for the non-private MLP.
MLP_GRID = ((0.1, 5), (0.5, 5), (0.5, 15), (2.0, 15))
#: Gap limits of the fair references (the report's tightest two).
FAIR_LIMITS = (0.02, 0.05)
CACHE_PREFIX = "reference:"


@dataclass(frozen=True)
class Reference:
    """One non-private reference model, tuned on validation and scored on test.

    Attributes:
        name: Short label (``"non-private (tuned)"``, ``"non-private fair, gap ≤ 0.02"``).
        method: How it was trained and tuned, in plain words.
        params: The chosen hyperparameters.
        val_accuracy: Validation accuracy of the chosen model.
        test_accuracy: Test accuracy.
        test_unfairness: Test gap of the study's metric.
        limit: The gap limit it was constrained to (fair references), else None.
        seconds: Wall time of the tuning.
    """

    name: str
    method: str
    params: dict[str, Any]
    val_accuracy: float
    test_accuracy: float
    test_unfairness: float
    limit: float | None = None
    seconds: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _scores(y_pred: np.ndarray, part: Split, metric: str) -> tuple[float, float]:
    accuracy = float(np.mean(y_pred == part.y))
    return accuracy, unfairness(part.y, y_pred, sensitive_features=part.s, metric=metric)


def _logreg(C: float) -> Any:
    """L2 logistic regression solved by Newton steps with a Cholesky solve.

    The same optimum as lbfgs; with many more rows than features (Adult:
    26,049 x 88) it takes about 5 Newton steps, 5-7x less time than lbfgs,
    which matters because the fair references fit it once per iteration of
    the reduction (bench/RESULTS.md, issue 19).
    """
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, solver="newton-cholesky", max_iter=300, tol=1e-4)


def _best_logreg(ds: Dataset) -> tuple[float, Any, float]:
    """``(C, fitted model, validation accuracy)`` of the best C on validation."""
    X = ds.train.X.astype(np.float64)
    best: tuple[float, Any, float] | None = None
    with warnings.catch_warnings():
        # The solver may stop at max_iter on a weak C; the grid still ranks it on validation.
        warnings.simplefilter("ignore", category=UserWarning)
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", category=ConvergenceWarning)
        for C in LOGREG_C:
            model = _logreg(C).fit(X, ds.train.y)
            acc = float(np.mean(model.predict(ds.val.X.astype(np.float64)) == ds.val.y))
            if best is None or acc > best[2]:
                best = (C, model, acc)
    assert best is not None
    return best


def tuned_nonprivate(problem: Problem) -> Reference:
    """The study's model class trained without privacy, tuned on validation.

    Args:
        problem: The study's problem (data, model, metric).

    Returns:
        The reference, scored on the test split.
    """
    start = time.perf_counter()
    ds = problem.data()
    if problem.model == "logreg":
        C, model, val_acc = _best_logreg(ds)
        y_pred = model.predict(ds.test.X.astype(np.float64))
        acc, gap = _scores(y_pred, ds.test, problem.fairness)
        return Reference(
            name="non-private (tuned)",
            method=f"scikit-learn LogisticRegression (L2, newton-cholesky), C chosen on "
            "validation from "
            f"{list(LOGREG_C)}",
            params={"C": C}, val_accuracy=val_acc, test_accuracy=acc, test_unfairness=gap,
            seconds=time.perf_counter() - start,
        )
    from trifront.trial import evaluate

    best: tuple[dict[str, Any], float] | None = None
    for lr, epochs in MLP_GRID:
        params = {"target_epsilon": math.inf, "clip": 1.0, "lr": lr, "batch_size": 256,
                  "epochs": epochs, "hidden": 64, "depth": 1}
        val = evaluate(problem, params, seed=0).accuracy
        if best is None or val > best[1]:
            best = (params, val)
    assert best is not None
    test = evaluate(problem, best[0], seed=0, split="test")
    return Reference(
        name="non-private (tuned)",
        method="trifront's MLP (64 ReLU units) trained without clipping or noise, learning "
        f"rate and epochs chosen on validation from {list(MLP_GRID)}",
        params={k: best[0][k] for k in ("lr", "epochs", "hidden", "depth", "batch_size")},
        val_accuracy=best[1], test_accuracy=test.accuracy, test_unfairness=test.unfairness,
        seconds=time.perf_counter() - start,
    )


def _constraint(metric: str, limit: float) -> Any:
    from fairlearn.reductions import DemographicParity, EqualizedOdds, TruePositiveRateParity

    if metric == "demographic_parity":
        return DemographicParity(difference_bound=limit)
    if metric == "demographic_parity_ratio":
        return DemographicParity(ratio_bound=1.0 - limit)
    if metric == "equalized_odds":
        return EqualizedOdds(difference_bound=limit)
    return TruePositiveRateParity(difference_bound=limit)


def fair_nonprivate(problem: Problem, *, limit: float, C: float | None = None) -> Reference:
    """Fairlearn's ExponentiatedGradient around logistic regression, at one gap limit.

    Args:
        problem: The study's problem (data and metric; the model class is
            logistic regression whatever the study's model, Fairlearn's
            standard setting).
        limit: The gap limit of the constraint.
        C: Inverse L2 strength of the base estimator (None: tuned on validation).

    Returns:
        The reference; its predictions are drawn from the randomised
        classifier the reduction returns, with a fixed random state.
    """
    from fairlearn.reductions import ExponentiatedGradient

    start = time.perf_counter()
    ds = problem.data()
    if C is None:
        C = _best_logreg(ds)[0]
    reduction = ExponentiatedGradient(_logreg(C), _constraint(problem.fairness, limit),
                                      max_iter=20, eps=0.005)
    with warnings.catch_warnings():
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", category=ConvergenceWarning)
        # Fairlearn's reductions call pandas in ways pandas deprecates; not ours to fix.
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        reduction.fit(ds.train.X.astype(np.float64), ds.train.y, sensitive_features=ds.train.s)
        val_pred = reduction.predict(ds.val.X.astype(np.float64), random_state=0)
        test_pred = reduction.predict(ds.test.X.astype(np.float64), random_state=0)
    acc, gap = _scores(test_pred, ds.test, problem.fairness)
    return Reference(
        name=f"non-private fair, gap ≤ {limit:g}",
        method=f"Fairlearn ExponentiatedGradient ({type(reduction.constraints).__name__}, "
        f"bound {limit:g}) around LogisticRegression(C={C:g}); the sensitive attribute is "
        "used in training only",
        params={"C": C, "limit": limit}, val_accuracy=float(np.mean(val_pred == ds.val.y)),
        test_accuracy=acc, test_unfairness=gap, limit=limit,
        seconds=time.perf_counter() - start,
    )


def references(
    study: optuna.Study, problem: Problem, *, limits: Sequence[float] = FAIR_LIMITS
) -> list[Reference]:
    """The tuned non-private reference and the fair ones, cached in the study.

    Args:
        study: The study (its user attributes cache the results).
        problem: Its problem.
        limits: Gap limits of the fair references.
    """
    out = []
    tuned = _cached(study, "tuned") or _store(study, "tuned", tuned_nonprivate(problem))
    out.append(tuned)
    C = float(tuned.params["C"]) if "C" in tuned.params else None
    for limit in limits:
        key = f"fair:{limit:g}"
        out.append(_cached(study, key)
                   or _store(study, key, fair_nonprivate(problem, limit=limit, C=C)))
    return out


def _cached(study: optuna.Study, key: str) -> Reference | None:
    entry = study.user_attrs.get(CACHE_PREFIX + key)
    if not isinstance(entry, Mapping):
        return None
    try:
        return Reference(**entry)
    except TypeError:  # written by another version: compute again
        return None


def _store(study: optuna.Study, key: str, ref: Reference) -> Reference:
    study.set_user_attr(CACHE_PREFIX + key, ref.to_dict())
    return ref
