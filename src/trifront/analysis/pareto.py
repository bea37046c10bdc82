"""Pareto set and hypervolume of trifront studies.

Values are always given in natural units, ``n x 3`` arrays of
(accuracy, epsilon, unfairness) in the order of ``trifront.objectives.OBJECTIVES``.
The hypervolume is computed in maximisation form
``(accuracy, -log10 epsilon, -unfairness)`` (see ``objectives.to_maximisation``)
against a fixed reference point, so studies of the same problem are comparable.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
import torch
from optuna.study import StudyDirection
from optuna.trial import TrialState

from trifront.errors import ConfigError
from trifront.objectives import (
    DIRECTIONS,
    OBJECTIVES,
    ignore_unsearched,
    reference_point_max,
    to_maximisation,
)

__all__ = [
    "CONSTANT",
    "constant_row",
    "front_mask",
    "hypervolume",
    "hypervolume_history",
    "pareto_front",
    "pareto_mask",
    "study_majority_rate",
    "with_constant",
]

_DIRECTION_NAMES = {
    "maximize": StudyDirection.MAXIMIZE,
    "maximise": StudyDirection.MAXIMIZE,
    "max": StudyDirection.MAXIMIZE,
    "minimize": StudyDirection.MINIMIZE,
    "minimise": StudyDirection.MINIMIZE,
    "min": StudyDirection.MINIMIZE,
}


def _direction(direction: str | StudyDirection) -> StudyDirection:
    if isinstance(direction, StudyDirection):
        if direction == StudyDirection.NOT_SET:
            raise ConfigError("a direction must be set, but got StudyDirection.NOT_SET.")
        return direction
    try:
        return _DIRECTION_NAMES[direction.lower()]
    except KeyError:
        raise ConfigError(
            f"unknown direction {direction!r}; accepted: maximize, minimize."
        ) from None


def pareto_mask(
    values: np.ndarray,
    directions: Sequence[str | StudyDirection] = DIRECTIONS,
) -> np.ndarray:
    """Which rows are not dominated by any other row.

    Row ``a`` dominates row ``b`` when ``a`` is at least as good in every
    objective and strictly better in one. Identical rows do not dominate each
    other, so duplicates on the front are all kept. Rows with a NaN are never on
    the front and never dominate anything.

    Args:
        values: ``n x m`` array of objective values.
        directions: ``m`` directions ("maximize"/"minimize" or StudyDirection).

    Returns:
        Boolean array of shape ``n``; True for rows on the Pareto front.

    Raises:
        ConfigError: If the number of directions does not match ``m``.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ConfigError(f"`values` must be a 2-D array (n x m), but got shape {v.shape}.")
    if len(directions) != v.shape[1]:
        raise ConfigError(
            f"the number of directions must match the number of objectives. Got "
            f"{len(directions)} directions, but values have {v.shape[1]} columns."
        )
    sign = np.array([1.0 if _direction(d) == StudyDirection.MAXIMIZE else -1.0 for d in directions])
    y = v * sign  # maximisation form
    valid = ~np.isnan(y).any(axis=1)
    mask = np.zeros(len(y), dtype=bool)
    yv = y[valid]
    if len(yv) == 0:
        return mask
    # dominated[i] = exists j with y_j >= y_i everywhere and y_j > y_i somewhere.
    ge = (yv[:, None, :] >= yv[None, :, :]).all(axis=-1)  # ge[j, i]: j >= i
    gt = (yv[:, None, :] > yv[None, :, :]).any(axis=-1)
    dominated = (ge & gt).any(axis=0)
    mask[np.flatnonzero(valid)] = ~dominated
    return mask


def _hv_max_form(y: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of maximisation-form points ``y`` (``n x 3``) above ``ref`` (``3``)."""
    y = y[~np.isnan(y).any(axis=1)]
    y = y[(y > ref).all(axis=1)]
    if len(y) == 0:
        return 0.0
    y = y[pareto_mask(y, ("maximize",) * y.shape[1])]
    with warnings.catch_warnings():
        # botorch imports linear_operator, which applies torch.jit.script at import time;
        # torch 2.13 deprecates it. Not ours to fix, and harmless. Imported here, so
        # reading a study without computing a hypervolume does not load BoTorch.
        warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated",
                                DeprecationWarning)
        from botorch.utils.multi_objective.hypervolume import Hypervolume

    hv = Hypervolume(ref_point=torch.as_tensor(ref, dtype=torch.double))
    return float(hv.compute(torch.as_tensor(y, dtype=torch.double)))


def hypervolume(values: np.ndarray, *, reference_point: Sequence[float],
                objectives: Sequence[str] = OBJECTIVES) -> float:
    """Hypervolume dominated by ``values`` and bounded by the reference point.

    Both are in natural units and mapped with ``objectives.to_maximisation``, so
    the volume is measured in (accuracy) x (decades of epsilon) x (unfairness).
    Points not strictly better than the reference point in every objective, and
    rows with a NaN, contribute nothing.

    Args:
        values: ``n x 3`` array of (accuracy, epsilon, unfairness).
        reference_point: (accuracy, epsilon, unfairness) of the reference point,
            e.g. from ``objectives.reference_point``.
        objectives: The searched objectives; the others count as constant
            (``objectives.ignore_unsearched``), which gives a 2-D study its
            2-D hypervolume.

    Returns:
        The hypervolume (0.0 when no point beats the reference point).
    """
    v = np.asarray(values, dtype=float).reshape(-1, len(OBJECTIVES))
    if len(reference_point) != len(OBJECTIVES):
        raise ConfigError(
            f"the length of the reference point must match the number of objectives. "
            f"Got {len(reference_point)} elements, but expected {len(OBJECTIVES)}."
        )
    ref = reference_point_max(reference_point)
    finite = ~np.isnan(v).any(axis=1)
    y = np.full_like(v, np.nan)
    y[finite] = ignore_unsearched(to_maximisation(v[finite]), ref, objectives)
    return _hv_max_form(y, ref)


def hypervolume_history(
    values_in_trial_order: np.ndarray, *, reference_point: Sequence[float],
    objectives: Sequence[str] = OBJECTIVES,
) -> np.ndarray:
    """Hypervolume after each trial, in trial order.

    Args:
        values_in_trial_order: ``n x 3`` array of (accuracy, epsilon, unfairness);
            failed or unfinished trials are rows of NaN and keep the previous value.
        reference_point: (accuracy, epsilon, unfairness) of the reference point.
        objectives: The searched objectives (see :func:`hypervolume`).

    Returns:
        Array of shape ``n``: the hypervolume of trials ``0..i`` at position ``i``.
        It is non-decreasing.
    """
    v = np.asarray(values_in_trial_order, dtype=float).reshape(-1, len(OBJECTIVES))
    ref = reference_point_max(reference_point)
    finite = ~np.isnan(v).any(axis=1)
    y = np.full_like(v, np.nan)
    y[finite] = ignore_unsearched(to_maximisation(v[finite]), ref, objectives)
    out = np.zeros(len(v))
    current = 0.0
    front = np.empty((0, len(OBJECTIVES)))
    for i, row in enumerate(y):
        # Only a new point that beats the reference point and is not dominated by
        # the current front can change the hypervolume; skip the recomputation otherwise.
        if finite[i] and (row > ref).all():
            dominated = ((front >= row).all(axis=1) & (front > row).any(axis=1)).any()
            duplicate = (front == row).all(axis=1).any()
            if not dominated and not duplicate:
                front = np.vstack([front, row])
                front = front[pareto_mask(front, ("maximize",) * len(OBJECTIVES))]
                current = _hv_max_form(front, ref)
        out[i] = current
    return out


def _flatten(prefix: str, obj: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(f"{name}.", value, out)
        else:
            out[name] = value


#: The label of the constant predictor's row in a front table.
CONSTANT = "constant predictor"


def front_mask(values: np.ndarray, *, majority_rate: float | None,
               objectives: Sequence[str] = OBJECTIVES) -> np.ndarray:
    """The configurations on the front once the constant predictor is on it too.

    The constant predictor (always the majority class) is free: epsilon 0, gap
    0 and the majority rate as accuracy. It dominates every configuration that
    is no more accurate, so those leave the front (they stay in ``trials.csv``).

    Args:
        values: ``n x 3`` (accuracy, epsilon, unfairness) in natural units.
        majority_rate: The constant predictor's accuracy (None: no such point).
        objectives: The searched objectives: the front is over these columns
            only (a 2-D study's front ignores the measured third objective).

    Returns:
        ``n`` booleans: Pareto-optimal and strictly more accurate than the
        constant predictor.
    """
    v = np.asarray(values, dtype=float).reshape(-1, len(OBJECTIVES))
    cols = [i for i, name in enumerate(OBJECTIVES) if name in objectives]
    mask = (pareto_mask(v[:, cols], [DIRECTIONS[i] for i in cols]) if len(v)
            else np.zeros(0, dtype=bool))
    if majority_rate is not None and math.isfinite(majority_rate):
        mask &= v[:, 0] > majority_rate
    return mask


def constant_row(majority_rate: float) -> dict[str, Any]:
    """The constant predictor as a row of a front table (trial number empty)."""
    return {"trial": None, "configuration": CONSTANT, "accuracy": float(majority_rate),
            "epsilon": 0.0, "unfairness": 0.0}


def with_constant(front: pd.DataFrame, majority_rate: float | None) -> pd.DataFrame:
    """``front`` with the constant predictor's row first (epsilon 0)."""
    if majority_rate is None or not math.isfinite(majority_rate):
        return front
    row = pd.DataFrame([constant_row(majority_rate)])
    rest = front.assign(configuration="DP-SGD") if len(front) else front
    return pd.concat([row, rest], ignore_index=True) if len(rest) else row


def study_majority_rate(study: optuna.Study) -> float | None:
    """The constant predictor's validation accuracy stored with a trifront study."""
    from trifront.study import ATTR_KEY

    stored = study.user_attrs.get(ATTR_KEY)
    rate = stored.get("majority_rate") if isinstance(stored, Mapping) else None
    return float(rate) if rate is not None else None


def pareto_front(study: optuna.Study) -> pd.DataFrame:
    """The completed trials of ``study`` on its Pareto front.

    Args:
        study: A study with the three trifront objectives.

    Returns:
        One row per front trial, sorted by epsilon (then trial number), with
        columns ``trial``, ``accuracy``, ``epsilon``, ``unfairness``, then
        ``params_<name>`` for each parameter and ``user_attrs_<name>`` for each
        user attribute (nested dicts flattened as ``user_attrs_<a>.<b>``), as in
        ``optuna.Study.trials_dataframe``. The prefixes keep a searched
        parameter named ``epsilon`` (the target) apart from the achieved epsilon.
        Configurations the constant predictor dominates (no more accurate than
        the majority rate) are not on the front (see :func:`front_mask`).
    """
    if len(study.directions) != len(OBJECTIVES):
        raise ConfigError(
            f"a trifront study has {len(OBJECTIVES)} objectives, but study "
            f"{study.study_name!r} has {len(study.directions)}."
        )
    trials = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values is not None
    ]
    columns = ["trial", *OBJECTIVES]
    if not trials:
        return pd.DataFrame(columns=columns)
    values = np.array([t.values for t in trials], dtype=float)
    mask = pareto_mask(values, study.directions)
    if [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]:
        from trifront.study import study_objectives

        mask = front_mask(values, majority_rate=study_majority_rate(study),
                          objectives=study_objectives(study))
    rows = []
    for t, on_front in zip(trials, mask, strict=True):
        if not on_front:
            continue
        row: dict[str, Any] = {"trial": t.number}
        row.update(dict(zip(OBJECTIVES, t.values, strict=True)))
        _flatten("params_", t.params, row)
        _flatten("user_attrs_", t.user_attrs, row)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values(["epsilon", "trial"], kind="stable").reset_index(drop=True)
