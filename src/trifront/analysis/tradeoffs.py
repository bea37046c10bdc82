"""Trade-off curves: what a unit of privacy or fairness costs in accuracy.

Both curves are "best accuracy reachable under limits" staircases over a set of
configurations (usually the test re-evaluation of the Pareto set):

* the **price of privacy**: best accuracy among configurations with
  ``epsilon <= e`` and ``unfairness <= u``, as a function of ``e``, one curve
  per fairness level ``u``;
* the **price of fairness**: best accuracy among configurations with
  ``unfairness <= u`` and ``epsilon <= e``, as a function of ``u``, one curve
  per privacy level ``e``.

Every best-accuracy-under-limits point is attained by a Pareto-optimal
configuration, so computing them from the Pareto set loses nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_EPSILON_LEVELS",
    "DEFAULT_FAIRNESS_LEVELS",
    "FAIRNESS_LEVELS",
    "PRIVACY_LEVELS",
    "Limits",
    "best_under",
    "price_of_fairness",
    "price_of_privacy",
]

PRIVACY_LEVELS: tuple[float, ...] = (0.5, 1.0, 3.0)
"""The epsilon limits users ask about most: the report's and the atlas's prices."""

FAIRNESS_LEVELS: tuple[float, ...] = (0.02, 0.05, 0.10)
"""The gap limits users ask about most: the report's and the atlas's prices."""

DEFAULT_FAIRNESS_LEVELS: tuple[float, ...] = (*FAIRNESS_LEVELS, math.inf)
"""Fairness-gap levels of the price-of-privacy curves (inf: no fairness limit)."""

DEFAULT_EPSILON_LEVELS: tuple[float, ...] = (*PRIVACY_LEVELS, math.inf)
"""Epsilon levels of the price-of-fairness curves (inf: no privacy limit)."""


@dataclass(frozen=True)
class Limits:
    """Upper limits on epsilon and unfairness (inf: no limit)."""

    max_epsilon: float = math.inf
    max_unfairness: float = math.inf

    def label(self) -> str:
        """Short text such as ``"eps <= 1, gap <= 0.05"``."""
        parts = []
        if math.isfinite(self.max_epsilon):
            parts.append(f"ε ≤ {self.max_epsilon:g}")
        if math.isfinite(self.max_unfairness):
            parts.append(f"gap ≤ {self.max_unfairness:g}")
        return ", ".join(parts) or "no limit"


def _columns(points: pd.DataFrame, accuracy: str, unfairness: str) -> tuple[np.ndarray, ...]:
    ok = points[[accuracy, "epsilon", unfairness]].notna().all(axis=1)
    p = points[ok]
    return (p[accuracy].to_numpy(float), p["epsilon"].to_numpy(float),
            p[unfairness].to_numpy(float), p.index.to_numpy())


def best_under(
    points: pd.DataFrame,
    limits: Limits,
    *,
    accuracy: str = "test_accuracy",
    unfairness: str = "test_unfairness",
) -> pd.Series | None:
    """The row with the best accuracy meeting both limits (None if none does).

    Ties are broken by smaller epsilon, then smaller unfairness.
    """
    acc, eps, gap, index = _columns(points, accuracy, unfairness)
    ok = (eps <= limits.max_epsilon) & (gap <= limits.max_unfairness)
    if not ok.any():
        return None
    order = np.lexsort((gap[ok], eps[ok], -acc[ok]))
    return points.loc[index[ok][order[0]]]


def _staircase(
    x: np.ndarray, acc: np.ndarray, keep: np.ndarray, x_max: float | None
) -> list[tuple[float, float]]:
    """(x, best accuracy with value <= x) at each x where the best improves."""
    pts: list[tuple[float, float]] = []
    best = -math.inf
    for i in np.argsort(x[keep], kind="stable"):
        xi, ai = x[keep][i], acc[keep][i]
        if ai > best:
            best = ai
            pts.append((float(xi), float(ai)))
    if pts and x_max is not None and x_max > pts[-1][0]:
        pts.append((float(x_max), pts[-1][1]))
    return pts


def price_of_privacy(
    points: pd.DataFrame,
    *,
    fairness_levels: Sequence[float] = DEFAULT_FAIRNESS_LEVELS,
    accuracy: str = "test_accuracy",
    unfairness: str = "test_unfairness",
) -> pd.DataFrame:
    """Best accuracy against epsilon, one staircase per fairness level.

    Args:
        points: Configurations with ``epsilon`` and the accuracy/unfairness columns.
        fairness_levels: Unfairness limits, one curve each (inf: no limit).
        accuracy: Accuracy column (e.g. ``"test_accuracy"`` or ``"accuracy"``).
        unfairness: Unfairness column.

    Returns:
        Columns ``level`` (the unfairness limit), ``epsilon``, ``accuracy``:
        from each ``epsilon`` on, ``accuracy`` is reachable under the level.
        The last point of each curve repeats at the largest epsilon seen.
    """
    acc, eps, gap, _ = _columns(points, accuracy, unfairness)
    x_max = float(eps.max()) if len(eps) else None
    rows = []
    for level in fairness_levels:
        for e, a in _staircase(eps, acc, gap <= level, x_max):
            rows.append({"level": float(level), "epsilon": e, "accuracy": a})
    return pd.DataFrame(rows, columns=["level", "epsilon", "accuracy"])


def price_of_fairness(
    points: pd.DataFrame,
    *,
    epsilon_levels: Sequence[float] = DEFAULT_EPSILON_LEVELS,
    accuracy: str = "test_accuracy",
    unfairness: str = "test_unfairness",
) -> pd.DataFrame:
    """Best accuracy against the unfairness gap, one staircase per epsilon level.

    Returns:
        Columns ``level`` (the epsilon limit), ``unfairness``, ``accuracy``.
    """
    acc, eps, gap, _ = _columns(points, accuracy, unfairness)
    x_max = float(gap.max()) if len(gap) else None
    rows = []
    for level in epsilon_levels:
        for u, a in _staircase(gap, acc, eps <= level, x_max):
            rows.append({"level": float(level), "unfairness": u, "accuracy": a})
    return pd.DataFrame(rows, columns=["level", "unfairness", "accuracy"])
