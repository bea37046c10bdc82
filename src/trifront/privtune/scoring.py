"""Scores of a run computed from noisy counts only (the Gaussian mechanism).

A private-tuning run scores itself on the validation split (to be selected)
and on the test split (what is released about the chosen run) by one vector
of counts per split: for every (group g, label y) cell the number of rows
``n[g, y]`` and of positive predictions ``pos[g, y]``, and the number of
correct predictions. One row adds 1 to one ``n`` cell, at most 1 to the
``pos`` cell of the same (g, y) and at most 1 to ``correct``: the vector's L2
sensitivity under adding or removing a row is ``sqrt(3)``. Adding
``N(0, (σ sqrt 3)^2)`` to every coordinate is the Gaussian mechanism with noise
multiplier σ, and accuracy and every supported gap are post-processing of the
noisy vector (:func:`metrics_from_counts`): nothing released reads an exact
count.
"""

from __future__ import annotations

import math

import numpy as np

from trifront.errors import unknown_name

__all__ = ["SENSITIVITY", "metrics_from_counts", "noisy_counts", "score_counts",
           "selection_key"]

#: L2 sensitivity of the count vector (see the module docstring).
SENSITIVITY = math.sqrt(3.0)

_METRICS = ("demographic_parity", "equalized_odds", "equal_opportunity",
            "demographic_parity_ratio")


def score_counts(y_pred: np.ndarray, y: np.ndarray, s: np.ndarray, n_groups: int) -> np.ndarray:
    """The exact count vector: ``n[g, y]`` (G*2), then ``pos[g, y]`` (G*2), then ``correct``."""
    y_pred = np.asarray(y_pred, dtype=np.int64)
    cell = np.asarray(s, dtype=np.int64) * 2 + np.asarray(y, dtype=np.int64)
    n = np.bincount(cell, minlength=2 * n_groups).astype(float)
    pos = np.bincount(cell, weights=y_pred.astype(float), minlength=2 * n_groups)
    correct = float(np.sum(y_pred == y))
    return np.concatenate([n, pos, [correct]])


def noisy_counts(
    y_pred: np.ndarray, y: np.ndarray, s: np.ndarray, *, n_groups: int,
    noise_multiplier: float, rng: np.random.Generator,
) -> np.ndarray:
    """:func:`score_counts` plus Gaussian noise of std ``noise_multiplier * SENSITIVITY``."""
    exact = score_counts(y_pred, y, s, n_groups)
    return exact + rng.normal(0.0, noise_multiplier * SENSITIVITY, size=exact.shape)


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.clip(num / np.maximum(den, 1.0), 0.0, 1.0)


def metrics_from_counts(counts: np.ndarray, *, n_groups: int, metric: str) -> tuple[float, float]:
    """(accuracy, gap) from a (noisy) count vector; every ratio is clipped to [0, 1].

    Gaps as Fairlearn defines them: the largest between-group difference of
    the positive rate (``demographic_parity``), of the true- and
    false-positive rates (``equalized_odds``: the larger of the two),
    of the true-positive rate (``equal_opportunity``), or one minus the
    smallest ratio of positive rates (``demographic_parity_ratio``).
    """
    if metric not in _METRICS:
        raise unknown_name("fairness metric", metric, _METRICS)
    g2 = 2 * n_groups
    n = counts[:g2].reshape(n_groups, 2)
    pos = counts[g2:2 * g2].reshape(n_groups, 2)
    accuracy = float(np.clip(counts[-1] / max(float(n.sum()), 1.0), 0.0, 1.0))
    if metric in ("demographic_parity", "demographic_parity_ratio"):
        rates = _rate(pos.sum(axis=1), n.sum(axis=1))
        if metric == "demographic_parity":
            return accuracy, float(rates.max() - rates.min())
        top = float(rates.max())
        return accuracy, float(0.0 if top == 0 else 1.0 - rates.min() / top)
    by_label = _rate(pos, n)  # [g, y]: false-positive (y=0) and true-positive (y=1) rates
    spread = by_label.max(axis=0) - by_label.min(axis=0)
    return accuracy, float(spread[1] if metric == "equal_opportunity" else spread.max())


def selection_key(accuracy: float, gap: float, max_unfairness: float) -> tuple[int, float]:
    """The order runs are compared in: within the gap limit by accuracy, else by gap.

    A run whose noisy gap meets the limit ranks above every run that does not,
    and among those the more accurate ranks higher; among runs that miss it,
    the fairer ranks higher (so when no run meets the limit, the release is
    the closest to it, not the most accurate and perhaps most unfair). A total
    order on a run's own noisy validation scores, as the selection theorem
    needs; a failed run ranks below every scored one (``(-1, 0)``).
    """
    if gap <= max_unfairness:
        return (1, float(accuracy))
    return (0, -float(gap))
