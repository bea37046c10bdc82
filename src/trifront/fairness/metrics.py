"""Fairness gaps as plain functions with the scikit-learn signature.

Each gap is Fairlearn's implementation, mapped so that 0 means parity and
larger is less fair (the ratio metric is reported as ``1 - ratio``). Trifront
never re-implements a Fairlearn metric; it only names, validates and orients.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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


def confusion_cells(
    y_true: np.ndarray, y_pred: np.ndarray, *, sensitive_features: np.ndarray
) -> list[list[int]]:
    """The counts every gap is a function of: ``[group, label, decision, count]`` rows.

    Groups must be integer codes (as a data set's ``s``), so the rows are plain
    JSON. The runs of a configuration, each scored on its own held-out fold,
    combine through :func:`run_gap`.
    """
    groups = np.asarray(sensitive_features)
    if not np.issubdtype(groups.dtype, np.integer):
        raise DataError(f"confusion cells need integer group codes, but got {groups.dtype}.")
    cells = pd.DataFrame({"g": groups, "t": np.asarray(y_true).astype(int),
                          "p": np.asarray(y_pred).astype(int)}).value_counts(sort=False)
    return [[int(g), int(t), int(p), int(n)] for (g, t, p), n in cells.items()]


#: The label values each gap compares decision rates within (None: all rows).
_CONDITIONS: dict[str, tuple[int | None, ...]] = {
    "demographic_parity": (None,),
    "equalized_odds": (1, 0),
    "equal_opportunity": (1,),
}


def _condition_rates(frame: pd.DataFrame, label: int | None) -> tuple[pd.Series, pd.Series]:
    """Rows and positive-decision rate per group within one condition (groups with rows)."""
    part = frame if label is None else frame[frame["t"] == label]
    n = part.groupby("g")["n"].sum()
    pos = part[part["p"] == 1].groupby("g")["n"].sum().reindex(n.index, fill_value=0)
    n = n[n > 0]
    return n, pos[n.index] / n


def _extremes(rate: pd.Series) -> tuple[Any, Any]:
    """The groups of the lowest and the highest rate: two distinct groups, even at a tie."""
    order = rate.sort_values(kind="stable").index
    return order[0], order[-1]


def _binomial_var(n: pd.Series, rate: pd.Series, groups: tuple[Any, Any]) -> float:
    return sum(float(rate[g] * (1 - rate[g]) / n[g]) for g in groups)


def gap_sampling_se(cells: list[list[int]], *, metric: str) -> float:
    """The standard error one scoring's rows alone put on its gap (binomial).

    Within each condition the gap compares (all rows for demographic parity;
    the positives and the negatives for equalized odds; the positives for
    equal opportunity), the groups with the highest and the lowest decision
    rate give ``sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2)``; the condition
    with the largest difference (the one the gap reports) gives the answer.
    It is what a fixed model's gap moves by from one draw of as many rows to
    another: on Adult's test split about 0.005 for demographic parity and
    0.008-0.016 for the equalized-odds choices of bench/RESULTS.md.

    Returns:
        The standard error, or NaN for the ratio metric.
    """
    _lookup(metric)
    if metric not in _CONDITIONS:
        return math.nan
    frame = pd.DataFrame(cells, columns=["g", "t", "p", "n"])
    best_diff, best_se = -1.0, math.nan
    for label in _CONDITIONS[metric]:
        n, rate = _condition_rates(frame, label)
        if len(n) < 2:
            continue
        lo, hi = _extremes(rate)
        diff = float(rate[hi] - rate[lo])
        if diff > best_diff:
            best_diff, best_se = diff, math.sqrt(_binomial_var(n, rate, (hi, lo)))
    return best_se


def run_gap(cells: list[list[list[int]]], *, metric: str) -> float:
    """The gap one run of a configuration is expected to have, from runs on disjoint rows.

    Each run's model is scored on its own rows (a held-out fold). Within each
    condition of the metric, with ``hi`` and ``lo`` the groups of the highest
    and the lowest rate over all the runs' rows at once, run ``r``'s signed
    difference ``d_r`` is its model's difference plus its rows' sampling noise
    (binomial variance ``v_r``). Then ``E[d_r^2] = mean^2 + model variance +
    v_r``, so the root of ``d^2 + max(0, s^2 - mean(v))`` (``d`` the difference
    over all the rows, ``s^2`` the sample variance of the ``d_r``) estimates a
    run's own gap without each small set's noise (the mean of the runs' own
    gaps adds it: a gap is an absolute difference) and without hiding a
    configuration whose runs differ beyond that noise (the difference over all
    rows alone would: runs at +0.06 and -0.06 read as parity). The largest over
    the conditions is the answer, as the gap is.

    Returns:
        The estimate in [0, 1], or NaN for the ratio metric (no signed form).

    Raises:
        DataError: If there are no cells.
    """
    _lookup(metric)
    if not cells:
        raise DataError("a run gap needs at least one scoring's confusion cells.")
    if metric not in _CONDITIONS:
        return math.nan
    frames = [pd.DataFrame(c, columns=["g", "t", "p", "n"]) for c in cells]
    everything = pd.concat(frames, ignore_index=True)
    best = 0.0
    for label in _CONDITIONS[metric]:
        _, rate = _condition_rates(everything, label)
        if len(rate) < 2:
            continue
        lo, hi = _extremes(rate)
        diffs, noise = [], []
        for frame in frames:
            n, r = _condition_rates(frame, label)
            if hi in r.index and lo in r.index:
                diffs.append(float(r[hi] - r[lo]))
                noise.append(_binomial_var(n, r, (hi, lo)))
        spread = (float(np.var(diffs, ddof=1)) - float(np.mean(noise))) if len(diffs) > 1 else 0.0
        best = max(best, math.sqrt(float(rate[hi] - rate[lo]) ** 2 + max(spread, 0.0)))
    return min(best, 1.0)
