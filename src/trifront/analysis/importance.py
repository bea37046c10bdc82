"""What drives each objective: hyperparameter importances per objective.

A thin layer over Optuna's importance evaluators (fANOVA by default): one call
of ``optuna.importance.get_param_importances`` per objective, with the
objective picked by ``target``. Epsilon is analysed on a log10 scale, as it is
searched, so that a decade counts the same everywhere. Importances are
normalised to sum to 1 per objective; they describe the *searched region* of
this study (validation values), not the model class in general.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import optuna
import pandas as pd
from optuna.importance import BaseImportanceEvaluator, FanovaImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState

from trifront.objectives import OBJECTIVES

__all__ = ["MIN_TRIALS", "objective_importances"]

MIN_TRIALS = 2
"""Fewest completed trials (with at least one varying parameter) importances need."""


def _target(i: int) -> Callable[[FrozenTrial], float]:
    if OBJECTIVES[i] == "epsilon":
        return lambda t: math.log10(t.values[i])
    return lambda t: t.values[i]


def objective_importances(
    study: optuna.Study,
    *,
    evaluator: BaseImportanceEvaluator | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, str | None]:
    """Hyperparameter importances for each of the three objectives.

    Args:
        study: A trifront study.
        evaluator: An Optuna importance evaluator (default: fANOVA seeded with ``seed``).
        seed: Seed of the default evaluator.

    Returns:
        ``(table, note)``: ``table`` has one row per searched parameter and one
        column per objective (importances summing to 1 per column, sorted by
        accuracy importance); ``note`` is None, or the reason why the table is
        empty (too few trials, nothing varies).
    """
    done = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values is not None and all(math.isfinite(v) for v in t.values) and t.values[1] > 0
    ]
    if len(done) < MIN_TRIALS:
        return pd.DataFrame(columns=list(OBJECTIVES)), (
            f"importances need at least {MIN_TRIALS} completed trials; "
            f"the study has {len(done)}."
        )
    varying = sorted(
        name for name in {k for t in done for k in t.params}
        if len({t.params.get(name) for t in done}) > 1
    )
    if not varying:
        return pd.DataFrame(columns=list(OBJECTIVES)), (
            "no searched parameter varies across the completed trials."
        )
    columns: dict[str, dict[str, float]] = {}
    try:
        for i, name in enumerate(OBJECTIVES):
            ev = evaluator or FanovaImportanceEvaluator(seed=seed)
            with warnings.catch_warnings():
                # Optuna warns that importances are experimental for some evaluators.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                columns[name] = optuna.importance.get_param_importances(
                    study, evaluator=ev, target=_target(i), params=varying
                )
    except (ValueError, RuntimeError) as exc:
        return pd.DataFrame(columns=list(OBJECTIVES)), (
            f"importances could not be computed: {exc}"
        )
    table = pd.DataFrame(columns).reindex(varying).fillna(0.0)
    table.index.name = "parameter"
    return table.sort_values("accuracy", ascending=False), None
