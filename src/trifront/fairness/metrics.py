"""Fairness gaps as plain functions with the scikit-learn signature.

Each gap is Fairlearn's implementation, mapped so that 0 means parity and
larger is less fair (the ratio metric is reported as ``1 - ratio``). Trifront
never re-implements a Fairlearn metric; it only names, validates and orients.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from fairlearn import metrics as flm

from trifront.errors import DataError, unknown_name

Metric = Callable[..., float]

_METRICS: dict[str, tuple[Metric, str]] = {
    "demographic_parity": (
        flm.demographic_parity_difference,
        "largest difference in positive-decision rate between groups",
    ),
    "equalized_odds": (
        flm.equalized_odds_difference,
        "larger of the between-group differences in true- and false-positive rate",
    ),
    "equal_opportunity": (
        flm.equal_opportunity_difference,
        "largest difference in true-positive rate between groups",
    ),
    "demographic_parity_ratio": (
        lambda y_true, y_pred, *, sensitive_features, sample_weight=None: 1.0
        - flm.demographic_parity_ratio(y_true, y_pred, sensitive_features=sensitive_features,
                                       sample_weight=sample_weight),
        "1 - (smallest / largest positive-decision rate between groups)",
    ),
}

FAIRNESS_METRICS: tuple[str, ...] = tuple(_METRICS)

#: Above this many examples, :func:`unfairness` gives Fairlearn the distinct
#: (group, label, prediction) cells with their counts as weights (same value).
COMPRESS_ABOVE = 100_000


def describe_metric(metric: str) -> str:
    """One-line, plain-language description of a fairness gap."""
    return _lookup(metric)[1]


def _lookup(metric: str) -> tuple[Metric, str]:
    if metric not in _METRICS:
        raise unknown_name("fairness metric", metric, FAIRNESS_METRICS)
    return _METRICS[metric]


def unfairness(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    sensitive_features: np.ndarray,
    metric: str = "demographic_parity",
) -> float:
    """The fairness gap of hard predictions with respect to a sensitive attribute.

    Args:
        y_true: ``n`` true labels in {0, 1}.
        y_pred: ``n`` predicted labels in {0, 1}.
        sensitive_features: ``n`` group identifiers.
        metric: One of ``FAIRNESS_METRICS``.

    Returns:
        The gap in [0, 1]; 0 is parity.

    Raises:
        ConfigError: If ``metric`` is unknown.
        DataError: If the arrays differ in length or hold fewer than two groups.
    """
    fn, _ = _lookup(metric)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    groups = np.asarray(sensitive_features)
    if not (len(y_true) == len(y_pred) == len(groups)):
        raise DataError(
            "y_true, y_pred and sensitive_features must have one entry per example, but got "
            f"lengths {len(y_true)}, {len(y_pred)} and {len(groups)}."
        )
    if len(np.unique(groups)) < 2:
        raise DataError("a fairness gap needs at least two groups in sensitive_features.")
    if len(groups) > COMPRESS_ABOVE:
        # Every gap is a function of the per-group confusion counts: give Fairlearn each
        # distinct (group, label, prediction) once, weighted by its count (the rates are
        # the same ratios of integers), so a million rows take milliseconds, not seconds.
        cells = pd.DataFrame({"g": groups, "t": y_true, "p": y_pred}).value_counts(sort=False)
        keys = cells.index.to_frame(index=False)
        value = float(fn(keys["t"].to_numpy(), keys["p"].to_numpy(),
                         sensitive_features=keys["g"].to_numpy(),
                         sample_weight=cells.to_numpy(dtype=np.float64)))
    else:
        value = float(fn(y_true, y_pred, sensitive_features=groups))
    if math.isnan(value):
        # Fairlearn's ratio is 0/0 when no group receives a positive decision:
        # every group has the same rate (0), which is parity.
        if metric == "demographic_parity_ratio" and not np.any(y_pred):
            return 0.0
        raise DataError(f"the {metric} gap is undefined for these predictions and groups.")
    return min(max(value, 0.0), 1.0)
